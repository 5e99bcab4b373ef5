"""The client commands of `openkling`, driven through Typer's runner against a real server."""

from __future__ import annotations

import json
import stat
import subprocess
import tomllib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from openkling.cli.client_commands import ExitCode, register

CLIENT_ENV = ("OPENKLING_BASE_URL", "OPENKLING_PREFIX", "OPENKLING_API_KEY",
              "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "OPENKLING_CLIENT_CONFIG")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No developer settings leak in; the login file lives in the test's own folder."""
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config" / "client.toml"
    monkeypatch.setenv("OPENKLING_CLIENT_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "200")
    return config


@pytest.fixture
def app() -> typer.Typer:
    """The real root app when it exists; the client commands are what is under test."""
    from openkling.cli.main import app as root

    return root


def run(app: typer.Typer, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def conn(server: Any, credentials: Any) -> list[str]:
    return ["--base-url", server.base_url, "--api-key", credentials.api_key]


def test_register_adds_the_client_commands() -> None:
    app = typer.Typer()
    register(app)
    names = {command.name for command in app.registered_commands}
    assert names == {"text2video", "image2video", "image", "login", "env"}
    assert {group.name for group in app.registered_groups} == {"task", "account"}


def test_text2video_json_then_task_get_by_both_ids(
    app: typer.Typer, live_server: Any, credentials: Any
) -> None:
    external = f"cli-{uuid.uuid4().hex}"
    created = run(app, "text2video", "a cat surfing", "--aspect-ratio", "9:16",
                  "--duration", "5", "--mode", "pro", "--cfg-scale", "0.4",
                  "--negative-prompt", "blur", "--model", "kling-v1",
                  "--external-task-id", external, "--json", *conn(live_server, credentials))
    assert created.exit_code == 0, created.output
    task = json.loads(created.stdout)
    assert task["task_status"] == "submitted" and task["task_id"].isdigit()
    assert task["task_info"] == {"external_task_id": external}

    by_id = run(app, "task", "get", task["task_id"], "--json", *conn(live_server, credentials))
    assert by_id.exit_code == 0, by_id.output
    assert json.loads(by_id.stdout)["task_id"] == task["task_id"]
    by_external = run(app, "task", "get", external, "--external", "--json",
                      *conn(live_server, credentials))
    assert json.loads(by_external.stdout)["task_id"] == task["task_id"]

    table = run(app, "task", "get", task["task_id"], *conn(live_server, credentials))
    assert table.exit_code == 0
    assert task["task_id"] in table.stdout and external in table.stdout


def test_text2video_wait_downloads_with_progress(
    app: typer.Typer, live_server: Any, credentials: Any, tmp_path: Path
) -> None:
    target = tmp_path / "cat.mp4"
    result = run(app, "text2video", "a cat [sleep=1]", "--wait", "--output", str(target),
                 *conn(live_server, credentials))
    assert result.exit_code == 0, result.output
    assert f"Saved {target}" in result.stdout.replace("\n", "")
    assert "succeed" in result.stdout
    data = target.read_bytes()
    assert data[4:8] == b"ftyp"

    as_json = run(app, "text2video", "a dog", "--output", str(tmp_path / "dog.mp4"),
                  "--json", *conn(live_server, credentials))
    assert as_json.exit_code == 0, as_json.output
    done = json.loads(as_json.stdout)
    assert done["task_status"] == "succeed" and done["progress"] == 100
    assert done["downloaded_to"] == str(tmp_path / "dog.mp4")
    served = httpx.get(done["task_result"]["videos"][0]["url"], timeout=30).content
    assert (tmp_path / "dog.mp4").read_bytes() == served


def test_failed_task_exits_10(app: typer.Typer, live_server: Any, credentials: Any) -> None:
    result = run(app, "text2video", "doomed [fail]", "--wait", *conn(live_server, credentials))
    assert result.exit_code == ExitCode.TASK_FAILED
    assert "failed" in result.output


def test_task_list_wait_download_cancel(
    app: typer.Typer, live_server: Any, tmp_path: Path
) -> None:
    fresh = live_server.create_key(f"cli-{uuid.uuid4().hex[:8]}")
    c = conn(live_server, fresh)
    ids = [json.loads(run(app, "text2video", f"clip {n}", "--json", *c).stdout)["task_id"]
           for n in range(3)]

    page = run(app, "task", "list", "--page", "1", "--page-size", "2", "--json", *c)
    assert [t["task_id"] for t in json.loads(page.stdout)] == ids[::-1][:2]
    everything = run(app, "task", "list", "--all", "--page-size", "2", "--json", *c)
    assert [t["task_id"] for t in json.loads(everything.stdout)] == ids[::-1]
    table = run(app, "task", "list", *c)
    assert table.exit_code == 0 and all(task_id in table.stdout for task_id in ids)

    waited = run(app, "task", "wait", ids[0], "--json", *c)
    assert waited.exit_code == 0, waited.output
    assert json.loads(waited.stdout)["task_status"] == "succeed"
    human = run(app, "task", "wait", ids[1], *c)
    assert human.exit_code == 0 and "succeed" in human.stdout

    downloaded = run(app, "task", "download", ids[0], "--output", str(tmp_path), "--json", *c)
    assert downloaded.exit_code == 0, downloaded.output
    path = Path(json.loads(downloaded.stdout)["path"])
    assert path == tmp_path / f"{ids[0]}.mp4" and path.read_bytes()[4:8] == b"ftyp"

    slow = json.loads(run(app, "text2video", "slow [sleep=30]", "--json", *c).stdout)
    cancelled = run(app, "task", "cancel", slow["task_id"], "--json", *c)
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["task_id"] == slow["task_id"]


def test_wait_timeout_exits_11(app: typer.Typer, live_server: Any, credentials: Any) -> None:
    c = conn(live_server, credentials)
    slow = json.loads(run(app, "text2video", "slow [sleep=30]", "--json", *c).stdout)
    result = run(app, "task", "wait", slow["task_id"], "--timeout", "0.2", *c)
    assert result.exit_code == ExitCode.TIMEOUT
    assert f"openkling task wait {slow['task_id']}" in result.output.replace("\n", "")
    run(app, "task", "cancel", slow["task_id"], *c)


def test_clear_errors_and_exit_codes(app: typer.Typer, live_server: Any,
                                     credentials: Any) -> None:
    unknown = run(app, "task", "get", "123456789012345678", *conn(live_server, credentials))
    assert unknown.exit_code == ExitCode.NOT_FOUND
    assert "not found" in unknown.output

    bad_key = run(app, "task", "list", "--base-url", live_server.base_url, "--api-key", "nope")
    assert bad_key.exit_code == ExitCode.AUTHENTICATION
    assert "authentication failed" in bad_key.output

    unreachable = run(app, "task", "list", "--base-url", "http://127.0.0.1:9", "--api-key", "k")
    assert unreachable.exit_code == ExitCode.UNREACHABLE
    assert "cannot reach" in unreachable.output

    invalid = run(app, "text2video", "a cat", "--duration", "99",
                  *conn(live_server, credentials))
    assert invalid.exit_code == ExitCode.INVALID
    assert "duration" in invalid.output

    bad_choice = run(app, "text2video", "a cat", "--aspect-ratio", "4:3",
                     *conn(live_server, credentials))
    assert bad_choice.exit_code == ExitCode.USAGE

    wrong_prefix = run(app, "task", "list", "--prefix", "/nope", *conn(live_server, credentials))
    assert wrong_prefix.exit_code == ExitCode.NOT_FOUND
    assert "--prefix" in wrong_prefix.output

    no_key = run(app, "task", "list", "--base-url", live_server.base_url)
    assert no_key.exit_code == ExitCode.AUTHENTICATION
    assert "openkling login" in no_key.output


def test_login_stores_a_private_file_used_by_later_commands(
    app: typer.Typer, live_server: Any, credentials: Any, _isolated: Path
) -> None:
    result = run(app, "login", "--base-url", live_server.base_url, "--prefix", "kling",
                 "--api-key", credentials.api_key)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(_isolated.stat().st_mode) == 0o600
    saved = tomllib.loads(_isolated.read_text())
    assert saved == {"base_url": live_server.base_url, "prefix": "/kling",
                     "api_key": credentials.api_key}

    listed = run(app, "task", "list", "--json")  # everything from the file
    assert listed.exit_code == 0, listed.output
    assert isinstance(json.loads(listed.stdout), list)


def test_flags_and_environment_override_the_login_file(
    app: typer.Typer, live_server: Any, credentials: Any
) -> None:
    stale = run(app, "login", "--base-url", "http://127.0.0.1:9", "--api-key", "old",
                "--no-verify")
    assert stale.exit_code == 0, stale.output
    assert run(app, "task", "list").exit_code == ExitCode.UNREACHABLE
    env = {"OPENKLING_BASE_URL": live_server.base_url, "OPENKLING_API_KEY": credentials.api_key}
    assert run(app, "task", "list", "--json", env=env).exit_code == 0
    flags = run(app, "task", "list", "--json", *conn(live_server, credentials))
    assert flags.exit_code == 0


def test_login_with_access_key_pair_and_a_bad_key(
    app: typer.Typer, live_server: Any, credentials: Any, _isolated: Path
) -> None:
    keyless = run(app, "login", "--base-url", live_server.base_url)  # no terminal to ask on
    assert keyless.exit_code == ExitCode.USAGE and "--api-key" in keyless.output
    bad = run(app, "login", "--base-url", live_server.base_url, "--api-key", "wrong")
    assert bad.exit_code == ExitCode.AUTHENTICATION
    assert not _isolated.exists()

    good = run(app, "login", "--base-url", live_server.base_url,
               "--access-key", credentials.access_key, "--secret-key", credentials.secret_key)
    assert good.exit_code == 0, good.output
    assert stat.S_IMODE(_isolated.stat().st_mode) == 0o600
    saved = tomllib.loads(_isolated.read_text())
    assert saved["access_key"] == credentials.access_key and "api_key" not in saved
    created = run(app, "text2video", "signed by the login file", "--json")
    assert created.exit_code == 0, created.output


def test_download_into_a_folder_named_with_a_slash(
    app: typer.Typer, live_server: Any, credentials: Any, tmp_path: Path
) -> None:
    c = conn(live_server, credentials)
    done = json.loads(run(app, "text2video", "to a folder", "--wait", "--no-download",
                          "--json", *c).stdout)
    folder = tmp_path / "newdir"
    result = run(app, "task", "download", done["task_id"], "--output", f"{folder}/", *c)
    assert result.exit_code == 0, result.output
    saved = folder / f"{done['task_id']}.mp4"
    assert saved.read_bytes()[4:8] == b"ftyp"
    assert f"Saved {saved}" in result.stdout.replace("\n", "")

    waited = run(app, "text2video", "wait into a folder", "--output", f"{tmp_path}/clips/",
                 "--json", *c)
    assert waited.exit_code == 0, waited.output
    task = json.loads(waited.stdout)
    assert task["downloaded_to"] == str(tmp_path / "clips" / f"{task['task_id']}.mp4")


def test_progress_is_an_integer_in_json(
    app: typer.Typer, live_server: Any, credentials: Any
) -> None:
    done = run(app, "text2video", "whole percent", "--wait", "--no-download", "--json",
               *conn(live_server, credentials))
    assert done.exit_code == 0, done.output
    progress = json.loads(done.stdout)["progress"]
    assert progress == 100 and type(progress) is int  # "100", not "100.0"


def test_a_wrong_key_at_login_does_not_suggest_running_login(
    app: typer.Typer, live_server: Any
) -> None:
    bad = run(app, "login", "--base-url", live_server.base_url, "--api-key", "wrong")
    assert bad.exit_code == ExitCode.AUTHENTICATION
    message = " ".join(bad.output.split())
    assert "authentication failed" in message
    assert "run `openkling login`" not in message
    assert "Check the key given to `openkling login`" in message


def test_the_signed_url_is_printed_unbroken_in_a_narrow_terminal(
    app: typer.Typer, live_server: Any, credentials: Any
) -> None:
    c = conn(live_server, credentials)
    done = json.loads(run(app, "text2video", "narrow", "--wait", "--no-download", "--json",
                          *c).stdout)
    url = done["task_result"]["videos"][0]["url"]
    assert len(url) > 60
    shown = run(app, "task", "get", done["task_id"], *c, env={"COLUMNS": "60"})
    assert shown.exit_code == 0, shown.output
    assert f"Video 1 URL: {url}" in shown.stdout.splitlines()


def test_env_prints_the_connection_for_eval(
    app: typer.Typer, live_server: Any, credentials: Any, tmp_path: Path
) -> None:
    saved = run(app, "login", "--base-url", live_server.base_url, "--api-key",
                credentials.api_key)
    assert saved.exit_code == 0, saved.output
    printed = run(app, "env")
    assert printed.exit_code == 0, printed.output
    shell = subprocess.run(
        ["bash", "-c", 'eval "$1"; echo "$OPENKLING_BASE_URL $OPENKLING_API_KEY"', "-",
         printed.stdout], capture_output=True, text=True, check=True,
    )
    assert shell.stdout.split() == [live_server.base_url, credentials.api_key]


def test_env_without_credentials_says_how_to_get_them(app: typer.Typer) -> None:
    result = run(app, "env")
    assert result.exit_code == ExitCode.AUTHENTICATION
    assert "openkling login" in result.output


def test_the_cli_uses_only_the_sdks_public_names() -> None:
    import ast

    import openkling.client

    cli = Path(__file__).resolve().parents[2] / "src" / "openkling" / "cli"
    private, unexported = [], []
    for source in cli.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "openkling.client"):
                if node.module != "openkling.client":
                    private.append(f"{source.name}: {node.module}")
                unexported += [alias.name for alias in node.names
                               if alias.name not in openkling.client.__all__]
    assert private == [] and unexported == []
