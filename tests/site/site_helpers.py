"""Helpers shared by the browser tests of tests/site/ (the built book of every chapter, in headless Chromium)."""

from __future__ import annotations

import time


def wait_for(driver, script: str, timeout: float = 20.0, interval: float = 0.25):
    """Poll a JavaScript expression until it is truthy; return its value (or the last falsy one after ``timeout``
    seconds)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        time.sleep(interval)
    return value
