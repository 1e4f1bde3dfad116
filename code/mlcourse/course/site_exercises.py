"""Sphinx extension: exercise pages link each exercise to its worked solution, and solutions are folded.

Every chapter has two notebooks, ``exercises/<stem>.ipynb`` (stubs a reader fills in) and
``solutions/<stem>.ipynb`` (the same sections, worked). The notebooks stay separate, so a reader can still open
the exercise notebook alone and work in it. On the site:

- on a solutions page, the worked part of each ``Exercise ...`` section (from its first code cell to the end of
  the section) is folded into a ``<details>`` block, closed by default, so the statement is visible and the
  answer is one click away;
- on an exercises page, each ``Exercise ...`` section ends with a link to the same section of the solutions page.

It changes nothing for non-HTML builders and leaves every other page alone.

Serves every chapter's exercises and solutions (Parts 1-3).
"""

from __future__ import annotations

from docutils import nodes

SUMMARY = "Worked solution (click to unfold)"


def is_exercise_section(section: nodes.section) -> bool:
    """True for a section whose title starts with "Exercise" (the pattern every exercise notebook follows)."""
    title = next(iter(section.findall(nodes.title)), None)
    return title is not None and title.astext().strip().lower().startswith("exercise")


def _is_code_cell(node: nodes.Node) -> bool:
    return isinstance(node, nodes.container) and "cell" in node.get("classes", [])


def fold_solutions(doctree: nodes.document) -> int:
    """Wrap each exercise section's worked part in a closed ``<details>``; return how many were folded."""
    folded = 0
    for section in list(doctree.findall(nodes.section)):
        if not is_exercise_section(section):
            continue
        start = next((i for i, child in enumerate(section.children) if _is_code_cell(child)), None)
        if start is None:
            continue
        opening = f'<details class="mlcourse-solution"><summary>{SUMMARY}</summary>\n'
        section.insert(start, nodes.raw("", opening, format="html"))
        section.append(nodes.raw("", "</details>\n", format="html"))
        folded += 1
    return folded


def link_solutions(doctree: nodes.document, solution_page: str) -> int:
    """End each exercise section with a link to the same section of ``solution_page``; return how many."""
    linked = 0
    for section in list(doctree.findall(nodes.section)):
        if not is_exercise_section(section) or not section.get("ids"):
            continue
        target = f"{solution_page}#{section['ids'][0]}"
        link = nodes.reference("", "Worked solution →", refuri=target, internal=True)
        section.append(nodes.paragraph("", "", link, classes=["mlcourse-solution-link"]))
        linked += 1
    return linked


def _transform(app, doctree, docname: str) -> None:
    if app.builder.format != "html":
        return
    folder, _, stem = docname.partition("/")
    if folder == "solutions":
        fold_solutions(doctree)
    elif folder == "exercises" and f"solutions/{stem}" in app.env.found_docs:
        link_solutions(doctree, f"../solutions/{stem}.html")


def setup(app) -> dict:
    app.connect("doctree-resolved", _transform)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
