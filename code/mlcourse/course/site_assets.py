"""Sphinx extension: the site's own assets, and a lighter, working page around every chapter.

What it does, for the HTML build only:

- puts ``book_templates/`` first on the template path. Three small overrides of the pinned themes: the header
  without the two hidden sidebar toggles that both theme scripts bound instead of the visible ones (so the
  sidebar and contents buttons did nothing), no ``fontawesome.js`` (1.5 MB; the theme CSS already carries the
  icon fonts), no search index on pages other than ``search.html``;
- ships ``book_static/mlcourse-site.css`` (content that fits the column, folded solutions, glossary letters);
- removes scripts added twice (sphinx-thebe registers its configuration twice, a console error on every page)
  and the thebe scripts themselves, which no page uses (the launch buttons open Binder or Colab instead);
- renders progress bars in their final state (:mod:`mlcourse.course.notebook_clean`, applied as each notebook
  is read), whatever the stored file holds;
- ships only the MathJax files the site uses (the loader, TeX input, CommonHTML output and its fonts, and the
  assistive MathML for screen readers: about 1.5 MB on disk instead of 24 MB, no right-click menu) from the
  ``sphinx-mathjax-offline`` package, and deletes the themes' source maps from the published site.

It does not touch the pages' content (see :mod:`mlcourse.course.site_exercises` for the exercise pages) and
does not ship Vega (see :mod:`mlcourse.course.vega_offline`).

Serves every chapter: ``_config.yml`` loads it for the whole book.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

from mlcourse.course.notebook_clean import clean_notebook_text

HERE = Path(__file__).parent
TEMPLATES = HERE / "book_templates"
STATIC = HERE / "book_static"
CSS_FILE = "mlcourse-site.css"

# MathJax 3 components the site loads (relative to the distribution's es5/ folder). startup.js is the loader;
# it fetches core.js and the components listed in MATHJAX_LOAD, and the TeX input fetches its extensions (from
# input/tex/extensions/) only when a page uses one of their macros.
MATHJAX_LOAD = ["input/tex", "output/chtml", "a11y/assistive-mml"]
MATHJAX_FILES = ["startup.js", "core.js", "input/tex.js", "input/tex/extensions", "output/chtml.js",
                 "output/chtml/fonts/tex.js", "output/chtml/fonts/woff-v2", "a11y/assistive-mml.js"]  # fmt: skip
_SOURCE_MAP_COMMENT = re.compile(rb"\n?/[/*]# sourceMappingURL=[^\n]*?(\*/)?\s*$")


def mathjax_source() -> Path:
    """The MathJax distribution shipped inside the pinned ``sphinx-mathjax-offline`` package."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("sphinx-mathjax-offline is not installed: `pip install -r requirements.txt`.")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


def _configure(app, config) -> None:
    config.templates_path = [str(TEMPLATES), *config.templates_path]
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    config.html_favicon = config.html_favicon or str(STATIC / "favicon.svg")  # else every page 404s on /favicon.ico
    config.mathjax_path = "mathjax/startup.js"
    mathjax = dict(config.mathjax3_config or {})
    mathjax["loader"] = {"load": list(MATHJAX_LOAD)}
    config.mathjax3_config = mathjax


def _script_key(script) -> tuple:
    return (getattr(script, "filename", str(script)), (getattr(script, "attributes", {}) or {}).get("body"))


def _is_thebe(script) -> bool:
    name = getattr(script, "filename", None) or ""
    body = (getattr(script, "attributes", {}) or {}).get("body") or ""
    return "thebe" in str(name) or "THEBE_JS_URL" in body


def _trim_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop duplicated scripts and the unused thebe scripts from this page's ``<head>``."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _script_key(script)
        if key in seen or _is_thebe(script):
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept
    # pydata-sphinx-theme writes this into <html data-mode>; empty, its script logs an error on every page.
    context["default_mode"] = context.get("default_mode") or "auto"


def copy_mathjax(outdir: Path) -> int:
    """Copy the MathJax files in :data:`MATHJAX_FILES` into ``outdir/_static/mathjax``; return the bytes copied."""
    source, target = mathjax_source(), Path(outdir) / "_static" / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    total = 0
    for rel in MATHJAX_FILES:
        src, dst = source / rel, target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
            total += sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
        else:
            shutil.copyfile(src, dst)
            total += dst.stat().st_size
    return total


def remove_source_maps(static: Path) -> int:
    """Delete ``*.map`` files under ``static`` and the comments pointing at them; return how many were deleted."""
    maps = list(Path(static).rglob("*.map"))
    for path in maps:
        path.unlink()
        script = path.with_suffix("")  # foo.js.map -> foo.js
        if script.exists():
            data = script.read_bytes()
            trimmed = _SOURCE_MAP_COMMENT.sub(b"\n", data)
            if trimmed != data:
                script.write_bytes(trimmed)
    return len(maps)


def _clean_progress_bars(app, docname: str, source: list[str]) -> None:
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = clean_notebook_text(source[0])


def _finish(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    copy_mathjax(Path(app.outdir))
    remove_source_maps(Path(app.outdir) / "_static")


def setup(app) -> dict:
    app.connect("config-inited", _configure)
    app.add_css_file(CSS_FILE)
    app.connect("html-page-context", _trim_scripts, priority=900)
    app.connect("source-read", _clean_progress_bars)
    app.connect("build-finished", _finish)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
