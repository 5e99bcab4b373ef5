"""`openkling image2video`, `openkling image`, `openkling account costs` and the task
commands' `--family`, driven through Typer's runner against a real server on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner, Result

from openkling.cli.client_commands import ExitCode
from tests.support.diffusers import probe
from tests.support.images import image_host, png

CLIENT_ENV = ("OPENKLING_BASE_URL", "OPENKLING_PREFIX", "OPENKLING_API_KEY",
              "KLING_ACCESS_KEY", "KLING_SECRET_KEY")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENKLING_CLIENT_CONFIG", str(tmp_path / "client.toml"))
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def app() -> typer.Typer:
    from openkling.cli.main import app as root

    return root


@pytest.fixture
def frame(tmp_path: Path) -> Path:
    path = tmp_path / "frame.png"
    path.write_bytes(png(400, 800))
    return path


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def conn(server: Any, keys: Any) -> list[str]:
    return ["--base-url", server.base_url, "--api-key", keys.api_key]


def test_image2video_from_a_file_waits_and_saves_an_mp4(
    app: typer.Typer, live_server: Any, credentials: Any, frame: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.mp4"
    result = run(app, "image2video", str(frame), "leaves fall", "--duration", "5",
                 "--wait", "-o", str(target), *conn(live_server, credentials))
    assert result.exit_code == 0, result.output
    assert f"Saved {target}" in result.stdout.replace("\n", "")
    assert "succeed" in result.stdout
    assert probe(target)["frames"] > 0  # PyAV decodes it


def test_image2video_from_a_url_then_the_task_commands_with_family(
    app: typer.Typer, server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory({"OPENKLING_ALLOW_PRIVATE_IMAGE_URLS": "true"})
    c = conn(server, server.create_key("cli-url"))
    with image_host(png(800, 400)) as url:
        created = run(app, "image2video", url, "--external-task-id", "by-url", "--json", *c)
    assert created.exit_code == 0, created.output
    task_id = json.loads(created.stdout)["task_id"]

    waited = run(app, "task", "wait", task_id, "--family", "image2video", "--json", *c)
    assert waited.exit_code == 0, waited.output
    assert json.loads(waited.stdout)["task_status"] == "succeed"
    by_external = run(app, "task", "get", "by-url", "--external", "-f", "image2video",
                      "--json", *c)
    assert json.loads(by_external.stdout)["task_id"] == task_id
    listed = run(app, "task", "list", "--family", "image2video", "--json", *c)
    assert [task["task_id"] for task in json.loads(listed.stdout)] == [task_id]

    saved = run(app, "task", "download", task_id, "--family", "image2video",
                "-o", f"{tmp_path}/videos/", "--json", *c)
    assert saved.exit_code == 0, saved.output
    path = Path(json.loads(saved.stdout)["path"])
    assert path == tmp_path / "videos" / f"{task_id}.mp4" and probe(path)["frames"] > 0

    # A task id belongs to its family: text2video (the default) does not know it.
    other = run(app, "task", "get", task_id, *c)
    assert other.exit_code == ExitCode.NOT_FOUND, other.output


def test_image2video_refusals_name_the_image(
    app: typer.Typer, live_server: Any, credentials: Any, tmp_path: Path
) -> None:
    missing = run(app, "image2video", str(tmp_path / "nope.png"), "x",
                  *conn(live_server, credentials))
    assert missing.exit_code == ExitCode.INVALID
    message = " ".join(missing.output.split())
    assert "image: no such file" in message and "nope.png" in message

    small = tmp_path / "small.png"
    small.write_bytes(png(100, 100))
    refused = run(app, "image2video", str(small), "x", *conn(live_server, credentials))
    assert refused.exit_code == ExitCode.INVALID
    assert "image" in refused.output and "1201" in refused.output


def test_image_saves_every_png_in_a_new_folder(
    app: typer.Typer, live_server: Any, credentials: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "new" / "pictures"
    result = run(app, "image", "a fox", "-n", "2", "--aspect-ratio", "16:9",
                 "-o", f"{folder}/", "--json", *conn(live_server, credentials))
    assert result.exit_code == 0, result.output
    task = json.loads(result.stdout)
    expected = [str(folder / f"{task['task_id']}_{index}.png") for index in (0, 1)]
    assert task["downloaded_to"] == expected
    assert [image["index"] for image in task["task_result"]["images"]] == [0, 1]
    for path in expected:
        with Image.open(path) as picture:
            assert picture.format == "PNG"

    human = run(app, "image", "a fox", "-n", "3", "--output", str(tmp_path / "more"),
                *conn(live_server, credentials))
    assert human.exit_code == 0, human.output
    assert human.stdout.count("Saved ") == 3 and "Image 2 URL: " in human.stdout
    assert len(list((tmp_path / "more").glob("*.png"))) == 3


def test_image_without_wait_then_task_download_of_the_images(
    app: typer.Typer, live_server: Any, credentials: Any, tmp_path: Path
) -> None:
    c = conn(live_server, credentials)
    created = run(app, "image", "a fox", "-n", "2", *c)
    assert created.exit_code == 0, created.output
    assert "--family image" in created.stdout  # the follow-up hint names the family
    task_id = created.stdout.split("Task ID")[1].split()[0]
    run(app, "task", "wait", task_id, "--family", "image", *c)
    saved = run(app, "task", "download", task_id, "--family", "image", "-o", str(tmp_path),
                "--json", *c)
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout) == {
        "task_id": task_id,
        "paths": [str(tmp_path / f"{task_id}_{index}.png") for index in (0, 1)],
    }


@pytest.mark.parametrize("args", [["--aspect-ratio", "5:4"], ["-n", "10"],
                                  ["--resolution", "4k"]])
def test_image_refuses_bad_values_as_usage_errors(
    app: typer.Typer, live_server: Any, credentials: Any, args: list[str]
) -> None:
    result = run(app, "image", "a fox", *args, *conn(live_server, credentials))
    assert result.exit_code == ExitCode.USAGE


def test_a_wait_timeout_says_how_to_resume_in_the_right_family(
    app: typer.Typer, live_server: Any, credentials: Any, frame: Path
) -> None:
    c = conn(live_server, credentials)
    result = run(app, "image2video", str(frame), "slow [sleep=30]", "--wait", "--timeout",
                 "0.2", "--no-download", *c)
    assert result.exit_code == ExitCode.TIMEOUT
    message = " ".join(result.output.split())
    assert "--family image2video`" in message
    task_id = message.split("openkling task wait ")[1].split()[0]
    cancelled = run(app, "task", "cancel", task_id, "--family", "image2video", "--json", *c)
    assert cancelled.exit_code == 0, cancelled.output


def test_account_costs_without_and_with_a_quota(app: typer.Typer, live_server: Any) -> None:
    keys = live_server.create_key("cli-costs")
    c = conn(live_server, keys)
    empty = run(app, "account", "costs", "--json", *c)
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.stdout) == {"code": 0, "msg": "",
                                        "resource_pack_subscribe_infos": []}
    assert "No resource packs" in run(app, "account", "costs", *c).stdout

    added = live_server.cli("quota", "add", keys.account, "--units", "40", "--name",
                            "starter", "--expires", "2099-01-01T12:00")  # a date in any zone
    assert added.returncode == 0, added.stderr
    table = run(app, "account", "costs", *c)
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if "starter" in line)
    assert "online" in row and "40" in row and "2099-01-01" in row

    as_json = json.loads(run(app, "account", "costs", "--json", "--start", "2098-12-31",
                             "--end", "2099-06-01", *c).stdout)
    [pack] = as_json["resource_pack_subscribe_infos"]
    assert (pack["resource_pack_name"], pack["total_quantity"], pack["status"]) == (
        "starter", 40.0, "online")
    after = json.loads(run(app, "account", "costs", "--json", "--start", "2099-01-02",
                           *c).stdout)
    assert after["resource_pack_subscribe_infos"] == []
    by_name = json.loads(run(app, "account", "costs", "--json", "--name", "other", *c).stdout)
    assert by_name["resource_pack_subscribe_infos"] == []


def test_account_costs_errors(app: typer.Typer, live_server: Any, credentials: Any) -> None:
    bad_time = run(app, "account", "costs", "--start", "last week",
                   *conn(live_server, credentials))
    assert bad_time.exit_code == ExitCode.USAGE and "--start" in bad_time.output
    backwards = run(app, "account", "costs", "--start", "2030-01-02", "--end", "2030-01-01",
                    *conn(live_server, credentials))
    assert backwards.exit_code == ExitCode.INVALID and "end_time" in backwards.output
    wrong_key = run(app, "account", "costs", "--base-url", live_server.base_url,
                    "--api-key", "wrong")
    assert wrong_key.exit_code == ExitCode.AUTHENTICATION
