"""The console in a real browser against a real server generating with the tiny local model.

A user signs in, creates a video, watches it reach `succeed`, plays it, cancels another, sees an
API error verbatim; an admin revokes the user's key and the user's console is signed out.

With OPENKLING_CONSOLE_SCREENSHOTS=<folder>, the test also saves the screenshots that
docs/console.md shows:
    OPENKLING_CONSOLE_SCREENSHOTS=docs/console pytest tests/acceptance/console
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.acceptance.console.conftest import (
    DESKTOP,
    FINISH_TIMEOUT_MS,
    PHONE,
    UNLABELLED,
    admin_key,
    create_task,
    expect,
    reused_external_id_refusal,
    shot,
    sign_in,
    wait_js,
)
from tests.conftest import ServerFactory, ServerHandle

pytestmark = pytest.mark.slow


def test_console_end_to_end(browser: Any, server: ServerHandle) -> None:
    user = server.create_key("alice")
    operator = admin_key(server)
    user_context = browser.new_context(viewport=DESKTOP)
    page = user_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # --- sign in: a wrong key shows the server's message, the right one gets in -------------
    page.goto(f"{server.base_url}/console/")
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.get_by_role("button", name="Sign out").is_hidden()  # nobody to sign out
    shot(page, "signin")
    page.get_by_label("API key").fill("ok-not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    assert page.locator(".error-message").inner_text() == "Authorization: unknown key"
    sign_in(page, server, user.api_key)
    assert page.evaluate("sessionStorage.getItem('openkling.apiKey')") == user.api_key
    assert page.evaluate("document.cookie") == ""
    assert page.get_by_role("link", name="Accounts & keys").is_hidden()  # not an admin

    # --- create with the form: every control is labelled; the API's error shows verbatim ----
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Prompt", exact=True).wait_for()
    assert page.evaluate(UNLABELLED) == []
    task_id = create_task(page, "a paper boat on a pond")
    page.locator(".badge.status-succeed").first.wait_for(timeout=FINISH_TIMEOUT_MS)

    # --- play it -------------------------------------------------------------------------
    video = page.locator("video")
    video.wait_for()
    wait_js(page, "document.querySelector('video').readyState >= 2")
    page.evaluate("const v = document.querySelector('video'); v.muted = true; v.play()")
    wait_js(page, "document.querySelector('video').currentTime > 0")
    duration = page.evaluate("document.querySelector('video').duration")
    api_task = httpx.get(f"{server.base_url}/v1/videos/text2video/{task_id}",
                         headers=user.headers).json()["data"]
    assert api_task["task_status"] == "succeed"
    assert abs(duration - float(api_task["task_result"]["videos"][0]["duration"])) < 0.2
    page.evaluate("const v = document.querySelector('video'); v.pause(); v.currentTime = 1")
    wait_js(page, "(v => !v.seeking && v.readyState >= 2)(document.querySelector('video'))")
    assert page.get_by_role("link", name="Download").get_attribute("download") == \
        f"{task_id}.mp4"
    assert page.locator(".request").inner_text().count("a paper boat on a pond") == 1
    shot(page, "task")

    # an external_task_id used twice: the second create shows the API's own message
    refusal = reused_external_id_refusal(server, user, "twice", "dup-1")
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Prompt", exact=True).fill("twice")
    page.get_by_label("External task id").fill("dup-1")
    page.get_by_role("button", name="Create", exact=True).click()
    message = page.locator(".error-message")
    message.wait_for()
    assert message.inner_text() == refusal
    assert "external_task_id" in message.inner_text()
    message.scroll_into_view_if_needed()
    shot(page, "create")

    # --- cancel an unfinished task from its page ---------------------------------------------
    cancel_id = create_task(page, "a very long pro render", Mode="pro")
    page.get_by_role("button", name="Cancel task").click()
    page.locator(".badge.status-failed").first.wait_for(timeout=FINISH_TIMEOUT_MS)
    assert page.get_by_role("button", name="Cancel task").is_hidden()
    cancelled = httpx.get(f"{server.base_url}/v1/videos/text2video/{cancel_id}",
                          headers=user.headers).json()["data"]
    assert cancelled["task_status"] == "failed" and cancelled["task_result"] == {}

    # --- the list: filters and the tasks of this account only --------------------------------
    page.get_by_role("link", name="Tasks", exact=True).click()
    page.get_by_label("Status").select_option("failed")
    page.wait_for_url(re.compile(r".*status=failed.*"))
    expect(page.locator(f'a[data-task="{task_id}"]')).to_have_count(0)  # succeeded: filtered
    expect(page.locator(f'a[data-task="{cancel_id}"]')).to_have_count(1)
    page.get_by_label("Status").select_option("")
    page.locator(f'a[data-task="{task_id}"]').wait_for()
    shot(page, "tasks")

    # --- phone-sized screen: no sideways scrolling -------------------------------------------
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone_page = phone.new_page()
    sign_in(phone_page, server, user.api_key)
    phone_page.locator(f'a[data-task="{task_id}"]').wait_for()
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(phone_page, "phone-tasks")
    phone_page.locator(f'a[data-task="{task_id}"]').click()
    phone_page.locator("video").wait_for()
    wait_js(phone_page, "document.querySelector('video').readyState >= 2")
    phone_page.evaluate("document.querySelector('video').currentTime = 2")
    wait_js(phone_page, "(v => !v.seeking && v.readyState >= 2)(document.querySelector('video'))")
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(phone_page, "phone-task")
    phone.close()

    # --- an operator revokes the user's key; the user's console is signed out ---------------
    admin_context = browser.new_context(viewport=DESKTOP)
    admin_page = admin_context.new_page()
    admin_page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(admin_page, server, operator.api_key)
    admin_page.get_by_role("link", name="System").click()
    admin_page.get_by_role("heading", name="Readiness").wait_for()
    assert "diffusers" in admin_page.locator("table").first.inner_text()
    local = admin_page.get_by_role("table", name=re.compile("Local models"))
    expect(local).to_contain_text("tiny-random-wan")
    expect(local).to_contain_text("text2video: kling-v1")
    shot(admin_page, "system")
    admin_page.get_by_role("link", name="Accounts & keys").click()
    admin_page.get_by_role("heading", name="Accounts & keys").wait_for()
    shot(admin_page, "admin")
    admin_page.once("dialog", lambda dialog: dialog.accept())
    admin_page.get_by_role("button", name=re.compile(r"Revoke key .* of alice")).click()
    expect(admin_page.get_by_role("button", name=re.compile(r"Revoke key .* of alice"))) \
        .to_have_count(0)
    expect(admin_page.locator("#notice")).to_contain_text("revoked")

    deadline = time.monotonic() + 30  # a revocation reaches the auth cache within 2 s
    while not page.get_by_role("heading", name="Sign in").is_visible():
        assert time.monotonic() < deadline, "the revoked key still works in the console"
        page.reload()  # the tasks page: its first request meets the revocation
        time.sleep(0.5)
    assert "key has been revoked" in page.locator(".notice-inline").inner_text()
    assert page.evaluate("sessionStorage.getItem('openkling.apiKey')") is None
    listing = httpx.get(f"{server.base_url}/v1/videos/text2video", headers=user.headers)
    assert listing.status_code == 401 and listing.json()["code"] == 1002

    assert errors == []
    for context in (user_context, admin_context):
        context.close()


def test_non_admin_sees_no_operator_pages(browser: Any, server_factory: ServerFactory) -> None:
    server = server_factory()
    user = server.create_key("bob")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, server, user.api_key)
    # keyboard: the skip link comes first, moves focus to the content and keeps the page
    first = page.evaluate("document.querySelector('a[href], button, input, select').className")
    assert first == "skip"
    page.locator(".skip").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.get_by_role("heading", name="Tasks", exact=True).is_visible()
    page.goto(f"{server.base_url}/console/#/admin")
    page.get_by_role("heading", name="Operators only").wait_for()
    # and signing out forgets the key
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("sessionStorage.getItem('openkling.apiKey')") is None
    page.goto(f"{server.base_url}/console/#/tasks")
    page.get_by_role("heading", name="Sign in").wait_for()
    context.close()
