"""The site's build helpers, without building the site: the bootstrap cell, progress-bar cleaning, folded
solutions and the trimmed static files (the browser view of the result is in tests/site/)."""

from __future__ import annotations

import json

from docutils import nodes
from docutils.utils import new_document
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser

from mlcourse.course import bootstrap, notebook_clean, site_assets, site_exercises


def _nb(*cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


def _cell(kind, source, **extra):
    return {"cell_type": kind, "metadata": {}, "source": source, **({"outputs": []} if kind == "code" else {}), **extra}


def test_the_bootstrap_cell_goes_first_among_code_cells_once():
    nb = _nb(_cell("markdown", "# Title"), _cell("code", "profile = 'quick'"), _cell("code", "import mlcourse"))
    source = bootstrap.cell_source()
    assert bootstrap.ensure_bootstrap_cell(nb, source) is True
    kinds = [(c["cell_type"], bootstrap.TAG in c["metadata"].get("tags", [])) for c in nb["cells"]]
    assert kinds == [("markdown", False), ("code", True), ("code", False), ("code", False)]
    assert bootstrap.ensure_bootstrap_cell(nb, source) is False, "a second run must change nothing"
    assert len(nb["cells"]) == 4


def test_the_bootstrap_cell_is_updated_and_moved_when_stale():
    nb = _nb(_cell("markdown", "# T"), _cell("code", "x = 1"))
    bootstrap.ensure_bootstrap_cell(nb, "old source")
    nb["cells"].append(nb["cells"].pop(1))  # someone moved it to the end
    assert bootstrap.ensure_bootstrap_cell(nb, "new source") is True
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "".join(first_code["source"]) == "new source"
    assert sum(bootstrap.TAG in c["metadata"].get("tags", []) for c in nb["cells"]) == 1


def test_the_bootstrap_cell_reads_the_repository_from_config_and_the_pins_from_requirements():
    url, branch = bootstrap.repository()
    source = bootstrap.cell_source()
    compile(source, "bootstrap", "exec")
    assert f"git+{url}@{branch}" in source and url.startswith("https://")
    pins = bootstrap.pinned()
    for name in bootstrap.RUNTIME + [bootstrap.TORCH]:
        assert pins[name.lower()] in source, name


def test_the_bootstrap_cell_is_hidden_from_the_site():
    nb = _nb(_cell("code", "x = 1"))
    bootstrap.ensure_bootstrap_cell(nb, "pass")
    assert "remove-cell" in nb["cells"][0]["metadata"]["tags"]


def test_progress_bars_collapse_to_their_final_state():
    text = "train:   0%|          | 0/50\rtrain:  50%|#####     | 25/50\rtrain: 100%|##########| 50/50\nloss 1.2\n"
    assert notebook_clean.collapse_carriage_returns(text) == "train: 100%|##########| 50/50\nloss 1.2\n"
    assert notebook_clean.collapse_carriage_returns("a\r\nb\n") == "a\nb\n"
    nb = _nb(_cell("code", "run()", outputs=[{"output_type": "stream", "name": "stdout", "text": [text]}]))
    raw = json.dumps(nb)
    cleaned = notebook_clean.clean_notebook_text(raw)
    assert "\\r" not in cleaned and "loss 1.2" in cleaned
    assert notebook_clean.clean_notebook_text(cleaned) == cleaned


def test_a_bar_split_over_several_stored_outputs_becomes_one_line():
    parts = ["\rtrain:   0%| | 0/9", "\rtrain: 100%|#| 9/9\n", "done\n"]
    nb = _nb(_cell("code", "run()", outputs=[{"output_type": "stream", "name": "stdout", "text": t} for t in parts]))
    assert notebook_clean.clean_outputs(nb) == 1
    assert [("".join(o["text"])) for o in nb["cells"][0]["outputs"]] == ["train: 100%|#| 9/9\ndone\n"]


def _doctree(rst: str) -> nodes.document:
    document = new_document("test", get_default_settings(Parser))
    Parser().parse(rst, document)
    return document


def test_solutions_are_folded_from_their_first_code_cell():
    doc = _doctree("Exercise 1: a thing\n===================\n\nStatement.\n\nOther\n=====\n\nText.\n")
    section = next(doc.findall(nodes.section))
    section.append(nodes.container("", nodes.literal_block("", "x = 1"), classes=["cell"]))
    assert site_exercises.fold_solutions(doc) == 1
    html = [n.astext() for n in section.children if isinstance(n, nodes.raw)]
    assert html[0].startswith('<details class="mlcourse-solution">') and html[-1].startswith("</details>")
    assert isinstance(section.children[1], nodes.paragraph), "the statement stays visible, before the fold"


def test_exercises_link_to_the_same_section_of_the_solutions():
    doc = _doctree("Exercise 2: b\n=============\n\nDo it.\n")
    assert site_exercises.link_solutions(doc, "../solutions/p01.html") == 1
    ref = next(doc.findall(nodes.reference))
    assert ref["refuri"] == "../solutions/p01.html#exercise-2-b"


def test_source_maps_are_deleted_with_the_comments_that_point_at_them(tmp_path):
    (tmp_path / "a.js").write_text("var a = 1;\n//# sourceMappingURL=a.js.map\n")
    (tmp_path / "a.js.map").write_text("{}")
    assert site_assets.remove_source_maps(tmp_path) == 1
    assert not (tmp_path / "a.js.map").exists()
    assert "sourceMappingURL" not in (tmp_path / "a.js").read_text()


def test_only_the_mathjax_files_the_site_uses_are_shipped(tmp_path):
    size = site_assets.copy_mathjax(tmp_path)
    assert (tmp_path / "_static/mathjax/startup.js").exists()
    assert (tmp_path / "_static/mathjax/output/chtml/fonts/woff-v2").is_dir()
    assert size < 3_000_000, f"{size / 1e6:.1f} MB of MathJax shipped"
