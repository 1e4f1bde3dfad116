"""Sphinx extension: a glossary term's definition shows when the pointer rests on a link to it.

At the end of an HTML build, the first paragraph of every glossary definition is written to
``_static/mlcourse-glossary.json`` (``{"term-adam": "An optimiser that ...", ...}``, formulas kept as TeX
between ``\\(`` and ``\\)``). ``book_static/mlcourse-glossary.js``, loaded on every page, fetches that file the
first time a reader hovers over or focuses a ``{term}`` link, and shows the definition in a small box under the
link (typeset by MathJax when the page has it). A click still goes to the glossary entry; on a touch screen,
where there is no hover, nothing changes.

It does not change the glossary page itself (its A-Z sections are plain Markdown in ``glossary/glossary.md``)
and works offline: nothing is loaded from outside the site.

Serves every chapter: each links its terms to the glossary at first use.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes

from mlcourse.course.atomic import write_text_atomic

DATA_FILE = "mlcourse-glossary.json"
JS_FILE = "mlcourse-glossary.js"
MAX_CHARS = 600


def _text(node: nodes.Node) -> str:
    """Plain text of ``node`` with inline and display maths kept as TeX inside MathJax delimiters."""
    if isinstance(node, nodes.math):
        return "\\(" + node.astext() + "\\)"
    if isinstance(node, nodes.math_block):
        return " \\[" + node.astext() + "\\] "
    if isinstance(node, nodes.Text):
        return str(node).replace("\n", " ")
    return "".join(_text(child) for child in node.children)


def definitions(doctree: nodes.document) -> dict[str, str]:
    """``{term id: first paragraph of its definition}`` for every glossary entry in ``doctree``."""
    found = {}
    for item in doctree.findall(nodes.definition_list_item):
        terms = [t for t in item.children if isinstance(t, nodes.term)]
        definition = next((d for d in item.children if isinstance(d, nodes.definition)), None)
        if not terms or definition is None:
            continue
        first = next(iter(definition.findall(nodes.paragraph)), definition)
        text = " ".join(_text(first).split())
        if len(text) > MAX_CHARS:
            text = text[:MAX_CHARS].rsplit(". ", 1)[0] + ". …"
        for term in terms:
            for term_id in term.get("ids", []):
                found[term_id] = text
    return found


def _write(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    collected: dict[str, str] = {}
    for docname in sorted(app.env.found_docs):
        if docname.split("/")[-1] == "glossary":
            collected.update(definitions(app.env.get_doctree(docname)))
    write_text_atomic(Path(app.outdir) / "_static" / DATA_FILE, json.dumps(collected, ensure_ascii=False, indent=0))


def setup(app) -> dict:
    app.add_js_file(JS_FILE, loading_method="defer")
    app.connect("build-finished", _write)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
