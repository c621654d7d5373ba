"""Pages in a real headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright):
what a page said on its console and what it asked of other hosts are recorded, so a test can
require silence and no request beyond its own origin."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts"
"""Where screenshots go (kept after the run; ``var/`` is not committed)."""
_FLAGS = [  # the closed network refuses Chromium's own background connections: none are made
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium; skipped where it is not installed, a failure on CI (it installs it)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Page:
    page: Any
    said: list[str] = field(default_factory=list)
    """Every console message and uncaught error."""
    elsewhere: list[str] = field(default_factory=list)
    """Every request outside the allowed origin."""

    def screenshot(self, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


def open_page(browser: Any, url: str, allowed: str, width: int = 1200, height: int = 900) -> Page:
    """``url`` in a new tab, recording what it says and asks beyond ``allowed`` (a URL prefix)."""
    page = Page(browser.new_page(viewport={"width": width, "height": height}))
    page.page.on("console", lambda m: page.said.append(f"{m.type}: {m.text}"))
    page.page.on("pageerror", lambda e: page.said.append(f"pageerror: {e}"))
    page.page.on("request", lambda r: None if r.url.startswith(allowed) else page.elsewhere.append(r.url))
    page.page.goto(url)
    return page
