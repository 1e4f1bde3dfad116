"""Fixtures for the browser check: the built site served on localhost (gzip, like a real static host), and
headless Chromium with no network, whose console the tests read.

Chromium runs with every host name except localhost mapped to "not found", so a page that still needs the
internet (a CDN script, a web font) fails here exactly as it would on an offline reader's machine.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlcourse.course.paths import repo_root


def _find(env_name: str, *names: str) -> str:
    found = os.environ.get(env_name) or next((p for n in names if (p := shutil.which(n))), None)
    if not found:
        pytest.fail(
            f"No {names[0]} found. Install Debian's chromium and chromium-driver (`.ci/run` does it), or set "
            f"{env_name}=/path/to/{names[0]}."
        )
    return found


@pytest.fixture(scope="session")
def site_dir() -> Path:
    site = repo_root() / "_build" / "html"
    if not (site / "index.html").exists():
        pytest.fail(f"{site}/index.html is missing: build the book first (`python -m mlcourse book`).")
    return site


COMPRESSED = (".html", ".css", ".js", ".svg", ".json", ".txt", ".inv")


class StaticHost(SimpleHTTPRequestHandler):
    """A static host as the site is published on (GitHub Pages, Netlify, Read the Docs): text files gzip-encoded
    when the browser accepts it, images and fonts as they are. Page weights measured here are what a reader
    downloads."""

    def log_message(self, *args):  # keep pytest's output readable
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (accepts and path.is_file() and path.suffix in COMPRESSED):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


@pytest.fixture(scope="session")
def site_url(site_dir: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(StaticHost, directory=str(site_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    folder = repo_root() / "_build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find("MLCOURSE_CHROMIUM", "chromium", "chromium-browser", "google-chrome")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1280,900",
        # no network: only localhost resolves
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # tests read the console
    service = Service(executable_path=_find("MLCOURSE_CHROMEDRIVER", "chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
