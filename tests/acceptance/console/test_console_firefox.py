"""The console in Firefox ESR (Selenium + geckodriver) against a real server generating with the
tiny local model: the Chromium journey of test_console_browser.py, in the other engine.

A user signs in (a wrong key first), creates a video, watches it reach `succeed`, plays it,
sees an API error verbatim and cancels a running task; every control has an accessible name in
Firefox's own accessibility tree; the pages fit a 390x844 screen; an admin revokes the user's
key and the user's console is signed out. A PNG chosen from disk is previewed and becomes the
first frame of a video, and Tab reaches every field of that form. No page may throw an uncaught
error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.console.conftest import (
    DESKTOP,
    FINISH_TIMEOUT_S,
    NO_SIDEWAYS_SCROLL,
    PHONE,
    UNLABELLED,
    FirefoxFactory,
    admin_key,
    png,
    reused_external_id_refusal,
)
from tests.conftest import ServerFactory, ServerHandle

pytestmark = pytest.mark.slow

VIDEO = "document.querySelector('video')"
SETTLED = f"(v => !v.seeking && v.readyState >= 2)({VIDEO})"
# The controls a user operates, in the page (not the header), with Firefox's computed names.
CONTROLS = "main input, main select, main textarea, main button"


def until(condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll until `condition` is truthy; an element the page replaced meanwhile (the lists
    re-render while a task is unfinished) means "look again"."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"not after {timeout} s: {what}"
        time.sleep(0.1)


def js(driver: Any, expression: str, *args: Any) -> Any:
    return driver.execute_script(f"return {expression}", *args)


def wait_js(driver: Any, expression: str, timeout: float = 30) -> Any:
    return until(lambda: js(driver, expression), expression, timeout)


def visible(driver: Any, xpath: str, what: str, timeout: float = 30) -> Any:
    from selenium.webdriver.common.by import By

    def find() -> Any:
        shown = [e for e in driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
        return shown[0] if shown else None

    return until(find, what, timeout)


def heading(driver: Any, text: str, timeout: float = 30) -> Any:
    return visible(driver, f"//h1[normalize-space()='{text}']", f"heading {text!r}", timeout)


def button(driver: Any, name: str) -> Any:
    return visible(driver, f"//button[normalize-space()='{name}' or @aria-label='{name}']",
                   f"button {name!r}")


def link(driver: Any, name: str) -> Any:
    return visible(driver, f"//a[normalize-space()='{name}']", f"link {name!r}")


def control(driver: Any, label: str) -> Any:
    """The control a <label> with exactly this text names, as a user finds it."""
    return until(lambda: js(driver, "[...document.querySelectorAll('label')]"
                                    ".find(l => l.textContent.trim() === arguments[0])?.control",
                            label), f"control labelled {label!r}")


def fill(driver: Any, label: str, text: str) -> None:
    field = control(driver, label)
    field.clear()
    field.send_keys(text)


def choose(driver: Any, label: str, value: str) -> None:
    from selenium.webdriver.support.select import Select

    Select(control(driver, label)).select_by_value(value)


def on_task_page(driver: Any) -> str:
    match = until(lambda: re.search(r"#/tasks/(\d+)$", driver.current_url), "a task page")
    return str(match.group(1))


def sign_in(driver: Any, server: ServerHandle, key: str) -> None:
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{server.base_url}/console/")
    fill(driver, "API key", key)
    control(driver, "API key").send_keys(Keys.ENTER)  # keyboard only
    heading(driver, "Tasks")


def create_task(driver: Any, prompt: str, **selects: str) -> str:
    link(driver, "Create").click()
    fill(driver, "Prompt", prompt)
    for label, value in selects.items():
        choose(driver, label, value)
    button(driver, "Create").click()
    return on_task_page(driver)


def unnamed_controls(driver: Any) -> list[str]:
    """Controls Firefox's accessibility tree gives no name (what a screen reader would read)."""
    from selenium.webdriver.common.by import By

    return [e.get_attribute("outerHTML") for e in driver.find_elements(By.CSS_SELECTOR, CONTROLS)
            if e.is_displayed() and not e.accessible_name.strip()]


def test_console_end_to_end_in_firefox(firefox: FirefoxFactory, server: ServerHandle) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    user = server.create_key("alice")
    operator = admin_key(server)
    desk = firefox(DESKTOP)
    page = desk.driver

    # --- sign in: a wrong key shows the server's message, the right one gets in -------------
    page.get(f"{server.base_url}/console/")
    heading(page, "Sign in")
    assert not page.find_element(By.ID, "signout").is_displayed()  # nobody to sign out
    assert unnamed_controls(page) == []
    fill(page, "API key", "ok-not-a-real-key")
    button(page, "Sign in").click()
    message = visible(page, "//*[contains(@class, 'error-message')]", "the refusal")
    assert message.text == "Authorization: unknown key"
    sign_in(page, server, user.api_key)
    assert js(page, "sessionStorage.getItem('openkling.apiKey')") == user.api_key
    assert js(page, "document.cookie") == ""
    assert not page.find_element(By.CSS_SELECTOR, "[data-nav=admin]").is_displayed()

    # --- create with the form: every control is labelled and named --------------------------
    link(page, "Create").click()
    control(page, "Prompt")
    assert js(page, UNLABELLED) == []
    assert unnamed_controls(page) == []
    task_id = create_task(page, "a paper boat on a pond")
    visible(page, "//*[contains(@class, 'badge') and contains(@class, 'status-succeed')]",
            "status succeed", FINISH_TIMEOUT_S)

    # --- play it: Firefox decodes the H.264 MP4 and time advances ---------------------------
    wait_js(page, f"{VIDEO}.readyState >= 2")
    assert js(page, f"{VIDEO}.error") is None
    js(page, f"(v => {{ v.muted = true; v.play(); return true; }})({VIDEO})")
    wait_js(page, f"{VIDEO}.currentTime > 0")
    duration = js(page, f"{VIDEO}.duration")
    api_task = httpx.get(f"{server.base_url}/v1/videos/text2video/{task_id}",
                         headers=user.headers).json()["data"]
    assert api_task["task_status"] == "succeed"
    assert abs(duration - float(api_task["task_result"]["videos"][0]["duration"])) < 0.2
    js(page, f"(v => {{ v.pause(); v.currentTime = 1; return true; }})({VIDEO})")
    wait_js(page, SETTLED)
    assert js(page, f"{VIDEO}.currentTime") == pytest.approx(1, abs=0.1)
    assert link(page, "Download").get_attribute("download") == f"{task_id}.mp4"
    assert page.find_element(By.CSS_SELECTOR, ".request").text \
        .count("a paper boat on a pond") == 1

    # an external_task_id used twice: the second create shows the API's own message
    refusal = reused_external_id_refusal(server, user, "twice", "dup-1")
    link(page, "Create").click()
    fill(page, "Prompt", "twice")
    fill(page, "External task id", "dup-1")
    button(page, "Create").click()
    message = visible(page, "//*[contains(@class, 'error-message')]", "the refusal")
    assert message.text == refusal
    assert "external_task_id" in message.text

    # --- cancel an unfinished task from its page ---------------------------------------------
    cancel_id = create_task(page, "a very long pro render", Mode="pro")
    button(page, "Cancel task").click()
    visible(page, "//*[contains(@class, 'badge') and contains(@class, 'status-failed')]",
            "status failed", FINISH_TIMEOUT_S)
    until(lambda: not page.find_element(By.ID, "cancel-task").is_displayed(),
          "the Cancel button hidden")
    cancelled = httpx.get(f"{server.base_url}/v1/videos/text2video/{cancel_id}",
                          headers=user.headers).json()["data"]
    assert cancelled["task_status"] == "failed" and cancelled["task_result"] == {}

    # --- the list: the status filter -------------------------------------------------------
    link(page, "Tasks").click()
    choose(page, "Status", "failed")
    until(lambda: "status=failed" in page.current_url, "the filter in the address")
    # The unfiltered list (which also shows the cancelled task) is replaced when the
    # filtered page arrives: wait for the succeeded task to leave it.
    until(lambda: page.find_elements(By.CSS_SELECTOR, f'a[data-task="{task_id}"]') == [],
          "the succeeded task filtered out")
    visible(page, f'//a[@data-task="{cancel_id}"]', "the cancelled task listed")
    assert unnamed_controls(page) == []

    # --- a phone-sized screen: no sideways scrolling, the video still loads -----------------
    phone = firefox(PHONE)
    sign_in(phone.driver, server, user.api_key)
    visible(phone.driver, f'//a[@data-task="{task_id}"]', "the task on a phone").click()
    wait_js(phone.driver, f"{VIDEO}?.readyState >= 2")
    assert js(phone.driver, "innerWidth") == PHONE["width"]
    assert js(phone.driver, NO_SIDEWAYS_SCROLL)
    js(phone.driver, f"(v => {{ v.currentTime = 2; return true; }})({VIDEO})")
    wait_js(phone.driver, SETTLED)
    assert js(phone.driver, NO_SIDEWAYS_SCROLL)
    link(phone.driver, "Create").click()
    control(phone.driver, "Prompt")
    assert js(phone.driver, NO_SIDEWAYS_SCROLL)
    assert unnamed_controls(phone.driver) == []

    # --- an operator revokes the user's key; the user's console is signed out ---------------
    ops = firefox(DESKTOP)
    sign_in(ops.driver, server, operator.api_key)
    link(ops.driver, "System").click()
    heading(ops.driver, "System")
    link(ops.driver, "Accounts & keys").click()
    heading(ops.driver, "Accounts & keys")
    assert unnamed_controls(ops.driver) == []
    revoke = "//button[starts-with(@aria-label, 'Revoke key ') and " \
             "substring(@aria-label, string-length(@aria-label) - 8) = ' of alice']"
    visible(ops.driver, revoke, "alice's Revoke button").click()
    WebDriverWait(ops.driver, 10).until(expected_conditions.alert_is_present()).accept()
    until(lambda: not ops.driver.find_elements(By.XPATH, revoke), "alice's key revoked")
    until(lambda: "revoked" in ops.driver.find_element(By.ID, "notice").text, "the notice")

    deadline = time.monotonic() + 30  # a revocation reaches the auth cache within 2 s
    while not page.find_elements(By.XPATH, "//h1[normalize-space()='Sign in']"):
        assert time.monotonic() < deadline, "the revoked key still works in the console"
        page.refresh()  # the tasks page: its first request meets the revocation
        time.sleep(0.5)
    assert "key has been revoked" in page.find_element(By.CSS_SELECTOR, ".notice-inline").text
    assert js(page, "sessionStorage.getItem('openkling.apiKey')") is None
    listing = httpx.get(f"{server.base_url}/v1/videos/text2video", headers=user.headers)
    assert listing.status_code == 401 and listing.json()["code"] == 1002

    assert desk.errors + phone.errors + ops.errors == []


def test_keyboard_and_sign_out_in_firefox(firefox: FirefoxFactory,
                                          server_factory: ServerFactory) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    server = server_factory()
    user = server.create_key("bob")
    window = firefox(DESKTOP)
    page = window.driver
    sign_in(page, server, user.api_key)
    # the skip link comes first, and Enter on it moves focus to the content
    assert js(page, "document.querySelector('a[href], button, input, select').className") \
        == "skip"
    page.find_element(By.CSS_SELECTOR, ".skip").send_keys(Keys.ENTER)
    assert js(page, "document.activeElement.id") == "main"
    assert js(page, "location.hash") == "#/tasks"
    page.get(f"{server.base_url}/console/#/admin")
    heading(page, "Operators only")
    button(page, "Sign out").click()
    heading(page, "Sign in")
    assert js(page, "sessionStorage.getItem('openkling.apiKey')") is None
    page.get(f"{server.base_url}/console/#/tasks")
    heading(page, "Sign in")
    assert window.errors == []


def test_image2video_from_a_chosen_file_in_firefox(firefox: FirefoxFactory, server: ServerHandle,
                                                  tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    user = server.create_key("painter")
    frame = png(tmp_path / "frame.png", 320, 320)
    window = firefox(DESKTOP)
    page = window.driver
    sign_in(page, server, user.api_key)
    page.get(f"{server.base_url}/console/#/create?family=image2video")
    assert unnamed_controls(page) == []

    # keyboard: Tab from the family picker reaches both ways of giving each image, in order
    page.execute_script("document.getElementById('family').focus()")
    order: list[str] = []
    while not js(page, "document.activeElement.matches('button[type=submit]')"):
        assert len(order) < 40, f"Tab never reached Create: {order}"
        ActionChains(page).send_keys(Keys.TAB).perform()  # a file input takes no keys here
        order.append(js(page, "document.activeElement.id"))
    assert order[:5] == ["field-image-file", "field-image-url", "field-image_tail-file",
                         "field-image_tail-url", "field-prompt"]

    # the chosen file: previewed (a blob: URL the CSP allows), the URL field disabled, sent
    control(page, "First frame file").send_keys(str(frame))
    wait_js(page, "document.querySelector('img.preview').naturalWidth === 320")
    assert control(page, "or first frame URL").get_attribute("disabled") is not None
    fill(page, "Prompt", "the gradient starts to swirl")
    button(page, "Create").click()
    task_id = on_task_page(page)
    visible(page, "//*[contains(@class, 'badge') and contains(@class, 'status-succeed')]",
            "status succeed", FINISH_TIMEOUT_S)
    wait_js(page, f"{VIDEO}?.readyState >= 2")
    polled = httpx.get(f"{server.base_url}/v1/videos/image2video/{task_id}",
                       headers=user.headers).json()["data"]
    assert polled["task_status"] == "succeed" and len(polled["task_result"]["videos"]) == 1
    assert '"width":320' in page.find_element(By.CSS_SELECTOR, ".request").text  # stored input
    assert window.errors == []
