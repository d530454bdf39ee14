"""The browser the page tests drive: Debian's Chromium through Playwright, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.browser import CHROMIUM, CHROMIUM_ARGS, require_browser_tools

__all__ = ["chromium"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    require_browser_tools()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()
