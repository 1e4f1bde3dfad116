"""Figure helpers shared by the chapters: matplotlib defaults and altair charts that render offline.

``show_chart`` is the only way chapters display an altair chart. In the built site it uses the Vega bundle
that :mod:`mlcourse.course.vega_offline` ships with the pages, so charts work with no network; in Jupyter or
Colab, where that bundle is absent, the same output falls back to loading the scripts from a CDN.
"""

from __future__ import annotations

import html
import json
import uuid
from typing import Any

import matplotlib.pyplot as plt

CDN_FALLBACK = "https://cdn.jsdelivr.net/npm/vega-embed@7/build/vega-embed.min.js"


def use_course_style() -> None:
    """Matplotlib defaults used by every chapter: readable sizes, light grid, tight layout, PNG at 110 dpi."""
    plt.rcParams.update(
        {
            "figure.figsize": (7.0, 4.0),
            "figure.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.autolayout": True,
            "font.size": 10,
        }
    )


class OfflineChart:
    """Notebook display of a Vega-Lite spec: an HTML ``<div>`` plus a script calling ``vegaEmbed`` on it."""

    def __init__(self, spec: dict[str, Any], title: str = "chart") -> None:
        self.spec = spec
        self.title = title

    def _repr_html_(self) -> str:
        div_id = "vega-" + uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(self.spec, sort_keys=True)).hex[:12]
        spec_json = json.dumps(self.spec).replace("</", "<\\/")  # keep "</script>" out of the inline script
        return f"""<div id="{div_id}" class="mlcourse-vega" role="figure" aria-label="{html.escape(self.title)}"></div>
<script type="text/javascript">
(function() {{
  var spec = {spec_json};
  var tries = 0;
  function render() {{ window.vegaEmbed("#{div_id}", spec, {{"actions": false}}); }}
  function wait() {{
    if (window.vegaEmbed) {{ render(); return; }}
    tries += 1;
    if (tries === 40) {{  // 2 s without the site's bundle: we are in Jupyter, load it from the CDN
      ["https://cdn.jsdelivr.net/npm/vega@6", "https://cdn.jsdelivr.net/npm/vega-lite@6",
       "{CDN_FALLBACK}"].reduce(function(p, src) {{
        return p.then(function() {{ return new Promise(function(ok) {{
          var s = document.createElement("script"); s.src = src; s.onload = ok; document.head.appendChild(s);
        }}); }});
      }}, Promise.resolve());
    }}
    setTimeout(wait, 50);
  }}
  wait();
}})();
</script>"""

    def __repr__(self) -> str:
        return f"<interactive chart: {self.title}>"


def show_chart(chart: Any) -> OfflineChart:
    """Wrap an altair chart (or a Vega-Lite dict) for display; the last expression of a cell shows it."""
    spec = chart if isinstance(chart, dict) else chart.to_dict()
    title = spec.get("title", "chart")
    if isinstance(title, dict):
        title = title.get("text", "chart")
    return OfflineChart(spec, title=str(title))
