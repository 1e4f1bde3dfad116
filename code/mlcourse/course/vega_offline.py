"""Sphinx extension: ship Vega, Vega-Lite and vega-embed with the site so altair charts render offline.

Altair's own HTML loads those scripts from a CDN, which fails on a machine without internet (CI, a train,
a locked-down lab). Here the build writes one bundle made by ``vl_convert.javascript_bundle`` (which puts
``vegaEmbed``, ``vegaLite`` and ``vega`` on ``window``) into the site's ``_static/`` and links it from every
page that holds a chart (0.9 MB; pages without one do not load it). The charts themselves are emitted by
:func:`mlcourse.course.plots.show_chart`, which waits for that global.

It does not render charts at build time (they stay interactive) and does nothing for non-HTML builders.

Serves every chapter with an interactive chart (12.1 onwards).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlcourse.course.atomic import write_text_atomic

BUNDLE_NAME = "mlcourse-vega-bundle.js"


def _vegalite_minor() -> str:
    """The Vega-Lite version altair writes its specs for, as vl-convert names it (e.g. ``"v6.4"``)."""
    import altair as alt
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    available = vlc.get_vegalite_versions()
    same_major = [v for v in available if v.split(".")[0] == wanted.split(".")[0]]
    if wanted in available:
        return "v" + wanted
    if not same_major:
        raise RuntimeError(f"vl-convert offers Vega-Lite {available}, none of major version {wanted}.")
    return "v" + same_major[-1]


def _write_bundle(app) -> None:
    if app.builder.format != "html":
        return
    import vl_convert as vlc

    static_dir = Path(app.doctreedir).parent / "mlcourse_static"
    static_dir.mkdir(parents=True, exist_ok=True)
    version = _vegalite_minor()
    target = static_dir / BUNDLE_NAME
    stamp = static_dir.parent / (BUNDLE_NAME + ".version")  # outside _static: not published
    if not target.exists() or not stamp.exists() or stamp.read_text() != version + "+scoped":
        # The bundle declares top-level names (``const _``...) that clash with Sphinx's own globals when loaded
        # as a classic script; a function scope keeps them private. It still sets window.vegaEmbed.
        bundle = "(function () {\n" + vlc.javascript_bundle(vl_version=version) + "\n})();\n"
        write_text_atomic(target, bundle)
        stamp.write_text(version + "+scoped")
    # Written straight into the site's _static (not via html_static_path): Sphinx skips copying static files
    # when no page changed, and never overwrites one that exists, so a stale or missing bundle would stay.
    published = Path(app.outdir) / "_static" / BUNDLE_NAME
    if not published.exists() or published.read_bytes() != target.read_bytes():
        published.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, published)
    app.add_js_file(BUNDLE_NAME)


def _only_on_chart_pages(app, pagename, templatename, context, doctree) -> None:
    """Remove the bundle from pages whose body holds no chart (an OfflineChart's ``mlcourse-vega`` div)."""
    scripts = context.get("script_files")
    if scripts and "mlcourse-vega" not in (context.get("body") or ""):
        scripts[:] = [s for s in scripts if not str(getattr(s, "filename", None) or "").endswith(BUNDLE_NAME)]


def setup(app) -> dict:
    app.connect("builder-inited", _write_bundle)
    app.connect("html-page-context", _only_on_chart_pages)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
