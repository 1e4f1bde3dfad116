"""The built site, as a reader's browser sees it (headless Chromium, no network).

Checks the pages exist and render, every figure of the chapter loads, a glossary link lands on its entry, and
an interactive altair chart renders from the Vega bundle shipped with the site. Screenshots are written to
``_build/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import time

import pytest

from mlcourse.course.catalog import available
from site_helpers import wait_for

CHAPTER = available()[0]
CHAPTER_PAGE = f"chapters/part{CHAPTER.part}/{CHAPTER.stem}.html"
# The first chapter whose stored outputs hold an interactive (altair) chart: Part 1's figures are all static.
CHART_CHAPTER = next(p for p in available() if "mlcourse-vega" in p.chapter_path.read_text(encoding="utf-8"))
CHART_PAGE = f"chapters/part{CHART_CHAPTER.part}/{CHART_CHAPTER.stem}.html"
PAGES = {
    "intro": "chapters/intro.html",
    "chapter": CHAPTER_PAGE,
    "exercises": f"exercises/{CHAPTER.stem}.html",
    "solutions": f"solutions/{CHAPTER.stem}.html",
    "glossary": "glossary/glossary.html",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_renders_with_a_heading(browser, site_url, screenshot_dir, name):
    browser.get(f"{site_url}/{PAGES[name]}")
    heading = wait_for(browser, "document.querySelector('main h1') && document.querySelector('main h1').innerText")
    assert heading, f"{PAGES[name]} has no <h1> in its main content"
    assert "Traceback" not in browser.find_element("css selector", "main").text, f"{PAGES[name]} shows a traceback"
    browser.save_screenshot(str(screenshot_dir / f"{name}.png"))


def test_every_figure_of_the_chapter_loads(browser, site_url):
    browser.get(f"{site_url}/{CHAPTER_PAGE}")
    wait_for(browser, "document.readyState === 'complete'")
    images = browser.execute_script(
        "return Array.from(document.querySelectorAll('main img')).map("
        "i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);"
    )
    assert len(images) >= 4, f"expected the chapter's figures, found {len(images)} images"
    broken = [src for src, ok in images if not ok]
    assert not broken, f"figures that did not load: {broken}"


def test_a_glossary_link_lands_on_its_entry(browser, site_url, screenshot_dir):
    browser.get(f"{site_url}/{CHAPTER_PAGE}")
    link = browser.find_element("css selector", "main a[href*='glossary.html#term-']")
    term_text = link.text.strip().lower()
    anchor = link.get_attribute("href").split("#", 1)[1]
    browser.execute_script("arguments[0].click();", link)
    wait_for(browser, f"location.hash === '#{anchor}'")
    entry = browser.execute_script(
        "const el = document.getElementById(arguments[0]);"
        "if (!el) return null; const r = el.getBoundingClientRect();"
        "return {tag: el.tagName, text: el.innerText, top: r.top, height: window.innerHeight};",
        anchor,
    )
    assert entry is not None, f"glossary has no element with id {anchor!r}"
    assert entry["tag"] == "DT", f"#{anchor} is a <{entry['tag']}>, not a glossary term"
    assert term_text.split()[0] in entry["text"].lower(), f"link {term_text!r} landed on {entry['text']!r}"
    assert 0 <= entry["top"] < entry["height"], "the entry is not scrolled into view"
    browser.save_screenshot(str(screenshot_dir / "glossary_entry.png"))


def test_an_interactive_chart_renders_with_no_network(browser, site_url, screenshot_dir):
    browser.get(f"{site_url}/{CHART_PAGE}")
    rendered = wait_for(
        browser,
        "Array.from(document.querySelectorAll('.mlcourse-vega')).filter("
        "d => d.querySelector('canvas, svg.marks') && d.getBoundingClientRect().height > 50).length",
    )
    total = browser.execute_script("return document.querySelectorAll('.mlcourse-vega').length;")
    assert total >= 1, "the chapter has no interactive chart"
    assert rendered == total, f"only {rendered or 0} of {total} interactive charts rendered"
    bundle = browser.execute_script(
        "return Array.from(document.scripts).map(s => s.src).filter(s => s.includes('vega'));"
    )
    assert bundle and all(src.startswith(site_url) for src in bundle), f"Vega must come from the site: {bundle}"
    chart = browser.find_element("css selector", ".mlcourse-vega")
    browser.execute_script("arguments[0].scrollIntoView();", chart)
    time.sleep(0.5)
    browser.save_screenshot(str(screenshot_dir / "interactive_chart.png"))


def test_formulas_render_with_no_network(browser, site_url):
    browser.get(f"{site_url}/{CHAPTER_PAGE}")
    typeset = wait_for(browser, "document.querySelectorAll('main mjx-container').length")
    assert typeset and typeset >= 3, "MathJax did not typeset the chapter's formulas (it must be shipped locally)"
