"""A real browser for the console tests: Debian's Chromium driven by Playwright for Python.

Playwright's own browser download is not used (its host is unreachable here); the system
browser is launched through `executable_path`. Without either, the tests skip and say why.
`.ci/run` installs Chromium, and the `dev` extra installs Playwright, so CI runs them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("OPENKLING_TEST_CHROMIUM") or shutil.which("chromium") or \
    "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set " \
               "OPENKLING_TEST_CHROMIUM)"
    return None


# Module scope, not session: Playwright's sync API runs an event loop in this thread while it
# is open, and every later asyncio.run / async test in the session would find it running.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()
