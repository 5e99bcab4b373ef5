"""The console's image2video and images forms, the Quotas page and the System page's figures,
in a real browser against a real server.

A user uploads a PNG as the first frame of a video and asks for two images with the tiny local
model, watches both succeed and sees the video and the images; the API's refusals show
verbatim. An operator adds a quota and sees what is left as the API says it; the figures at a
glance match `GET /admin/v1/metrics`. The new forms are checked on a 390x844 screen and with
the keyboard. Screenshots as in test_console_browser.py (OPENKLING_CONSOLE_SCREENSHOTS).
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.console.conftest import (
    DESKTOP,
    FINISH_TIMEOUT_MS,
    NO_SIDEWAYS_SCROLL,
    PHONE,
    UNLABELLED,
    admin_key,
    expect,
    png,
    shot,
    sign_in,
    wait_js,
)
from tests.conftest import ServerFactory, ServerHandle

pytestmark = pytest.mark.slow

def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def open_form(page: Any, server: ServerHandle, family: str) -> None:
    page.goto(f"{server.base_url}/console/#/create?family={family}")
    page.get_by_role("button", name="Create", exact=True).wait_for()


def submit_and_follow(page: Any) -> str:
    page.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(re.compile(r".*#/tasks/\d+$"))
    page.locator(".badge.status-succeed").first.wait_for(timeout=FINISH_TIMEOUT_MS)
    return str(page.url.rsplit("/", 1)[1])


def refusal_shown(page: Any) -> str:
    message = page.locator(".error-message")
    message.wait_for()
    return str(message.inner_text())


def tab_order(page: Any, start: str, until: str) -> list[str]:
    """Ids (or names) of the controls Tab reaches from `start` to the element matching `until`
    (a date input takes one Tab per part: it is listed once)."""
    page.locator(start).focus()
    seen: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        now = page.evaluate("document.activeElement.id || document.activeElement.name")
        if not seen or seen[-1] != now:
            seen.append(now)
        if page.evaluate(f"document.activeElement.matches({until!r})"):
            return seen
    raise AssertionError(f"Tab never reached {until}: {seen}")


def test_image2video_and_images_from_the_forms(browser: Any, server: ServerHandle,
                                               tmp_path: Path) -> None:
    user = server.create_key("painter")
    frame = png(tmp_path / "frame.png", 320, 320)
    tiny = png(tmp_path / "tiny.png", 120, 120)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server, user.api_key)

    # --- image2video: the family is chosen from the form; every control is labelled ---------
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Family").select_option("image2video")
    page.get_by_label("First frame file").wait_for()
    assert page.evaluate(UNLABELLED) == []
    # keyboard: Tab reaches both ways of giving each image, and every other field, in order
    order = tab_order(page, "#family", "button[type=submit]")
    for control in ("field-image-file", "field-image-url", "field-image_tail-file",
                    "field-image_tail-url", "field-prompt", "field-model_name", "field-mode",
                    "field-duration", "field-cfg_scale", "field-callback_url",
                    "field-external_task_id"):
        assert control in order, (control, order)

    # an image the API refuses (sides under 300 px): its message, as the API words it
    api_refusal = httpx.post(f"{server.base_url}/v1/videos/image2video", headers=user.headers,
                             json={"image": b64(tiny)}).json()
    assert api_refusal["code"] == 1201 and api_refusal["message"].startswith("image")
    page.get_by_label("First frame file").set_input_files(str(tiny))
    page.get_by_role("button", name="Create", exact=True).click()
    assert refusal_shown(page) == api_refusal["message"]

    # the right image: previewed, sent as raw base64 (no data: prefix), made into a video
    page.get_by_label("First frame file").set_input_files(str(frame))
    wait_js(page, "document.querySelector('img.preview').naturalWidth === 320")
    assert page.get_by_label("or first frame URL").is_disabled()  # one source at a time
    page.get_by_label("Prompt", exact=True).fill("the gradient starts to swirl")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "create-image2video")
    with page.expect_request(lambda r: r.method == "POST" and
                             r.url.endswith("/v1/videos/image2video")) as sent:
        video_id = submit_and_follow(page)
    assert sent.value.post_data_json["image"] == b64(frame)
    video = page.locator("video")
    video.wait_for()
    wait_js(page, "document.querySelector('video').readyState >= 2")
    polled = httpx.get(f"{server.base_url}/v1/videos/image2video/{video_id}",
                       headers=user.headers).json()["data"]
    assert polled["task_status"] == "succeed" and len(polled["task_result"]["videos"]) == 1
    assert '"width":320' in page.locator(".request").inner_text()  # the stored input image
    assert page.get_by_role("link", name="Download").get_attribute("download") == \
        f"{video_id}.mp4"

    # --- images: two of them, shown as a gallery ------------------------------------------
    open_form(page, server, "images")
    assert page.evaluate(UNLABELLED) == []
    # the provider cannot honour image_reference: the API's refusal, verbatim
    page.get_by_label("Prompt", exact=True).fill("three lighthouses at dusk")
    page.get_by_label("Reference kind").select_option("face")
    api_refusal = httpx.post(f"{server.base_url}/v1/images/generations", headers=user.headers,
                             json={"prompt": "three lighthouses at dusk",
                                   "image_reference": "face"}).json()
    assert api_refusal["code"] == 1201
    page.get_by_role("button", name="Create", exact=True).click()
    assert refusal_shown(page) == api_refusal["message"]
    assert "image_reference" in api_refusal["message"]
    page.get_by_label("Reference kind").select_option("")
    page.get_by_label("Number of images").fill("2")
    page.get_by_label("Aspect ratio").select_option("1:1")
    images_id = submit_and_follow(page)
    gallery = page.locator(".gallery img")
    expect(gallery).to_have_count(2)
    wait_js(page, "[...document.querySelectorAll('.gallery img')]"
                  ".every(i => i.complete && i.naturalWidth > 0)")
    polled = httpx.get(f"{server.base_url}/v1/images/generations/{images_id}",
                       headers=user.headers).json()["data"]
    made = polled["task_result"]["images"]
    assert [i["index"] for i in made] == [0, 1]
    shown_paths = [httpx.URL(src).path for src in gallery.evaluate_all("l => l.map(i => i.src)")]
    assert shown_paths == [httpx.URL(i["url"]).path for i in made]
    ratio = page.evaluate("(i => i.naturalWidth / i.naturalHeight)("
                          "document.querySelector('.gallery img'))")
    assert ratio == pytest.approx(1.0, abs=0.05)  # the 1:1 the form asked for
    downloads = page.get_by_role("link", name=re.compile(r"Download image \d"))
    assert downloads.evaluate_all("l => l.map(a => a.download)") == \
        [f"{images_id}-0.png", f"{images_id}-1.png"]
    shot(page, "task-images")

    # --- the list names each task's family ------------------------------------------------
    page.get_by_role("link", name="Tasks", exact=True).click()
    family_cell = 'tr[data-row="{}"] td[data-label="Family"]'
    page.locator(family_cell.format(images_id)).wait_for()
    assert page.locator(family_cell.format(video_id)).inner_text() == "Image to video"
    assert page.locator(family_cell.format(images_id)).inner_text() == "Images"

    # --- a phone-sized screen: the new forms and the gallery fit without sideways scrolling ---
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone_page = phone.new_page()
    phone_page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(phone_page, server, user.api_key)
    open_form(phone_page, server, "image2video")
    phone_page.get_by_label("First frame file").set_input_files(str(frame))
    wait_js(phone_page, "document.querySelector('img.preview').naturalWidth === 320")
    assert phone_page.evaluate(NO_SIDEWAYS_SCROLL)
    shot(phone_page, "phone-create")
    open_form(phone_page, server, "images")
    assert phone_page.evaluate(NO_SIDEWAYS_SCROLL)
    phone_page.goto(f"{server.base_url}/console/#/tasks/{images_id}")
    phone_page.locator(".gallery img").first.wait_for()
    wait_js(phone_page, "[...document.querySelectorAll('.gallery img')]"
                        ".every(i => i.complete && i.naturalWidth > 0)")
    assert phone_page.evaluate(NO_SIDEWAYS_SCROLL)
    shot(phone_page, "phone-images")
    phone.close()

    assert errors == []
    context.close()


def test_operator_adds_a_quota_and_reads_the_figures(browser: Any,
                                                    server_factory: ServerFactory) -> None:
    server = server_factory()
    operator = admin_key(server)
    user = server.create_key("carol")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server, operator.api_key)

    def remaining() -> float:
        quotas = httpx.get(f"{server.base_url}/admin/v1/quotas",
                           headers=operator.headers).json()["data"]
        return float(next(q["remaining_units"] for q in quotas if q["account"] == "carol"))

    # --- add a quota ------------------------------------------------------------------------
    page.get_by_role("link", name="Quotas").click()
    page.get_by_role("heading", name="Add a quota").wait_for()
    assert page.evaluate(UNLABELLED) == []
    order = tab_order(page, "#quota-account", "#quota-form button[type=submit]")
    assert order[:4] == ["quota-units", "quota-days", "quota-expires", "quota-name"]
    page.get_by_label("Account").select_option(label="carol")
    page.get_by_label("Units").fill("40")
    page.get_by_label("Valid for (days)").fill("30")
    page.get_by_role("button", name="Add quota").click()
    expect(page.locator("#notice")).to_contain_text("Added 40 units to carol")
    expect(page.locator('[data-remaining="carol"]')).to_have_text("40")
    assert remaining() == 40

    # both an expiry date and a number of days: the API's refusal, verbatim
    page.get_by_label("Account").select_option(label="carol")
    page.get_by_label("Units").fill("5")
    page.get_by_label("Valid for (days)").fill("3")
    page.get_by_label("Or expires on").fill("2031-01-31")
    page.get_by_role("button", name="Add quota").click()
    assert refusal_shown(page) == "days: give expires_at or days, not both"
    assert remaining() == 40  # nothing added

    # a create draws on it: a 5 s std video costs 1 unit (the default price table)
    created = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=user.headers,
                         json={"prompt": "metered"})
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.base_url}/v1/videos/text2video/{task_id}",
                    headers=user.headers).json()["data"]["task_status"] != "succeed":
        assert time.monotonic() < deadline, "the task did not succeed"
        time.sleep(0.1)
    page.reload()
    expect(page.locator('[data-remaining="carol"]')).to_have_text("39")
    assert remaining() == 39
    shot(page, "quotas")

    # --- the figures at a glance are the API's --------------------------------------------
    page.get_by_role("link", name="System").click()
    page.get_by_role("heading", name="At a glance").wait_for()
    shown = dict(page.locator("[data-metric]").evaluate_all(
        "l => l.map(e => [e.dataset.metric, e.textContent])"))
    data = httpx.get(f"{server.base_url}/admin/v1/metrics",
                     headers=operator.headers).json()["data"]
    assert shown["tasks.by_status.succeed"] == "1"
    assert shown["requests.creates_accepted"] == "1"
    for path, text in shown.items():
        value: Any = data
        for part in path.split("."):
            value = value[part]
        expected = f"{value:.1f}" if path == "queue.oldest_submitted_age_seconds" else str(value)
        assert text == expected, path
    assert len(shown) == 15
    shot(page, "system-glance")

    # --- the quota form on a phone --------------------------------------------------------
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone_page = phone.new_page()
    sign_in(phone_page, server, operator.api_key)
    phone_page.goto(f"{server.base_url}/console/#/quotas")
    phone_page.locator('[data-remaining="carol"]').wait_for()
    assert phone_page.evaluate(NO_SIDEWAYS_SCROLL)
    phone.close()

    assert errors == []
    context.close()
