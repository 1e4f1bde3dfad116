"""The site as a reader on a phone (400 px) and on a desktop (1400 px) meets it, in headless Chromium, no network.

- the sidebar and the in-page contents open when their buttons are clicked (they did nothing before: both theme
  scripts bound a hidden duplicate of each button);
- no page overflows sideways at 400 px outside the boxes meant to scroll (code, wide tables, equations);
- chapter pages log nothing to the console, and a chapter page downloads at most 2 MB;
- an exercise links to its worked solution, which is folded until clicked; progress bars show one line.
"""

from __future__ import annotations

import time

import pytest

from mlcourse.course.catalog import available
from site_helpers import wait_for

PHONE, DESKTOP = 400, 1400
CHAPTERS = [f"chapters/part{p.part}/{p.stem}.html" for p in available()]
FIRST = available()[0]
MAX_PAGE_BYTES = 2_000_000


def _open(browser, url: str, width: int) -> None:
    browser.set_window_size(width, 900)
    browser.get(url)
    wait_for(browser, "document.readyState === 'complete'", 10)
    time.sleep(0.5)  # the theme binds its buttons on DOMContentLoaded; MathJax typesets after load


def _click(browser, selector: str) -> None:
    button = browser.find_element("css selector", selector)
    assert button.is_displayed(), f"{selector} is not visible"
    button.click()  # a real click at the button's position, as a reader's finger or mouse
    time.sleep(0.6)


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_the_sidebar_button_opens_and_closes_the_sidebar(browser, site_url, screenshot_dir, width):
    _open(browser, f"{site_url}/{CHAPTERS[0]}", width)
    sidebar_shown = (
        "(() => { const m = document.getElementById('pst-primary-sidebar-modal');"
        " if (m && m.open) return m.getBoundingClientRect().width > 100;"
        " const s = document.getElementById('pst-primary-sidebar'); const r = s.getBoundingClientRect();"
        " return getComputedStyle(s).visibility === 'visible' && r.right > 100; })()"
    )
    before = browser.execute_script(f"return {sidebar_shown};")
    _click(browser, ".bd-header-article .primary-toggle")
    after = wait_for(browser, sidebar_shown, 3) if not before else browser.execute_script(f"return {sidebar_shown};")
    browser.save_screenshot(str(screenshot_dir / f"sidebar_click_{width}.png"))
    assert after != before, f"at {width} px the sidebar button did nothing (sidebar shown: {before} -> {after})"
    if width == PHONE:
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('#pst-primary-sidebar-modal nav a'))"
            ".filter(a => a.getBoundingClientRect().width > 0).length;"
        )
        assert links >= len(CHAPTERS), f"the opened sidebar shows only {links} links"


def test_the_contents_button_opens_the_contents_on_a_phone(browser, site_url, screenshot_dir):
    _open(browser, f"{site_url}/{CHAPTERS[0]}", PHONE)
    _click(browser, ".bd-header-article .secondary-toggle")
    opened = wait_for(browser, "document.getElementById('pst-secondary-sidebar-modal').open", 3)
    browser.save_screenshot(str(screenshot_dir / "contents_click_400.png"))
    assert opened, "at 400 px the contents button did not open the in-page contents"
    entries = browser.execute_script(
        "return Array.from(document.querySelectorAll('#pst-secondary-sidebar-modal .toc-entry a'))"
        ".filter(a => a.getBoundingClientRect().width > 0).map(a => a.getAttribute('href'));"
    )
    assert len(entries) >= 3 and all(e.startswith("#") for e in entries), entries


def test_the_contents_sit_beside_the_page_on_a_desktop_and_a_click_scrolls(browser, site_url):
    _open(browser, f"{site_url}/{CHAPTERS[0]}", DESKTOP)
    link = browser.find_element("css selector", "#pst-page-toc-nav .toc-entry a")
    assert link.is_displayed(), "at 1400 px the in-page contents are not shown beside the page"
    anchor = link.get_attribute("href").split("#", 1)[1]
    link.click()
    assert wait_for(browser, f"location.hash === '#{anchor}'", 3), "clicking a contents entry did not navigate"


_OVERFLOW = """
const limit = window.innerWidth + 1, bad = [];
const scrolls = el => { for (let e = el; e && e !== document.body; e = e.parentElement) {
  const s = getComputedStyle(e); if (['auto', 'scroll', 'hidden'].includes(s.overflowX) && e.scrollWidth > 0
      && e.getBoundingClientRect().right <= limit) return true;
  if (e.tagName === 'PRE' || e.matches('.highlight, mjx-container')) return true; } return false; };
for (const el of document.querySelectorAll('article.bd-article *')) {
  const r = el.getBoundingClientRect();
  if (r.width > 0 && getComputedStyle(el).visibility === 'visible' && r.right > limit && !scrolls(el)) bad.push(el.tagName + '.' + el.className + ' right=' + Math.round(r.right));
}
return {page: document.documentElement.scrollWidth, width: window.innerWidth, bad: bad.slice(0, 5), n: bad.length};
"""


@pytest.mark.parametrize("page", CHAPTERS + [f"exercises/{FIRST.stem}.html", f"solutions/{FIRST.stem}.html",
                                             "glossary/glossary.html", "chapters/intro.html"])
def test_nothing_overflows_sideways_on_a_phone(browser, site_url, page):
    _open(browser, f"{site_url}/{page}", PHONE)
    wait_for(browser, "document.querySelectorAll('mjx-container').length > 0 || !document.querySelector('.math')", 5)
    found = browser.execute_script(_OVERFLOW)
    assert found["page"] <= found["width"], f"{page} scrolls sideways at {PHONE} px: {found}"
    assert found["n"] == 0, f"{page}: {found['n']} elements stick out of the column at {PHONE} px: {found['bad']}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_a_chapter_page_is_light_and_logs_no_console_error(browser, site_url, page):
    browser.get_log("browser")  # drop what earlier pages logged
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    _open(browser, f"{site_url}/{page}", DESKTOP)
    time.sleep(1.0)
    weight = browser.execute_script(
        # a resource served from the browser's cache reports transferSize 0: count its encoded body instead
        "const size = e => Math.max(e.transferSize, e.encodedBodySize);"
        "const n = performance.getEntriesByType('navigation')[0];"
        "return size(n) + performance.getEntriesByType('resource').reduce((s, e) => s + size(e), 0);"
    )
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"{page} logs console errors: {errors}"
    assert weight <= MAX_PAGE_BYTES, f"{page} downloads {weight / 1e6:.2f} MB (limit {MAX_PAGE_BYTES / 1e6:.0f} MB)"


def test_an_exercise_links_to_its_folded_solution(browser, site_url, screenshot_dir):
    _open(browser, f"{site_url}/exercises/{FIRST.stem}.html", PHONE)
    link = browser.find_element("css selector", "p.mlcourse-solution-link a")
    target = link.get_attribute("href")
    assert f"solutions/{FIRST.stem}.html#exercise" in target, target
    browser.execute_script("arguments[0].click();", link)
    wait_for(browser, f"location.pathname.endsWith('solutions/{FIRST.stem}.html')", 5)
    folded = browser.execute_script(
        "return Array.from(document.querySelectorAll('details.mlcourse-solution')).map(d => d.open);"
    )
    assert folded and not any(folded), f"solutions should be folded by default: {folded}"
    summary = browser.find_element("css selector", "details.mlcourse-solution > summary")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", summary)
    summary.click()
    assert browser.execute_script("return document.querySelector('details.mlcourse-solution').open;")
    browser.save_screenshot(str(screenshot_dir / "solution_unfolded_400.png"))


def test_progress_bars_show_their_final_state_only(site_dir):
    for page in CHAPTERS:
        html = (site_dir / page).read_text(encoding="utf-8")
        assert "\r" not in html, f"{page} still holds carriage-return redraws of a progress bar"


def test_a_glossary_term_shows_its_definition_on_hover(browser, site_url, screenshot_dir):
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, f"{site_url}/{CHAPTERS[0]}", DESKTOP)
    link = browser.find_element("css selector", "article a[href*='glossary.html#term-']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
    ActionChains(browser).move_to_element(link).perform()
    shown = wait_for(browser, "(() => { const t = document.getElementById('mlcourse-term-tip');"
                              " return t && !t.hidden && t.innerText.length > 20 && t.innerText; })()", 5)
    browser.save_screenshot(str(screenshot_dir / "glossary_hover_1400.png"))
    assert shown, f"hovering {link.text!r} showed no definition"


def test_the_glossary_has_a_to_z_sections(browser, site_url):
    _open(browser, f"{site_url}/glossary/glossary.html", DESKTOP)
    letters = browser.execute_script("return Array.from(document.querySelectorAll('article h2')).map(h => h.innerText.trim()[0]);")
    assert len(letters) >= 15 and letters == sorted(letters), letters
