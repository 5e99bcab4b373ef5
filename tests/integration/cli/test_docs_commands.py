"""Every `openkling` command shown in docs/client.md runs as written against a real server.

The doc's example values (server URL, key, task id) are replaced by this server's; blocks that
need a service outside this machine are listed in SKIPPED with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from openkling.cli.client_commands import ExitCode
from tests.support.images import png

DOC = Path(__file__).resolve().parents[3] / "docs" / "client.md"
DOC_URL, DOC_KEY, DOC_TASK, DOC_EXTERNAL = (
    "http://127.0.0.1:8000", "ok-...", "1883136599524955000", "order-1234")

#: Blocks not run here, by a word they contain, and why.
SKIPPED = {
    "api-singapore.klingai.com": "needs an official Kling account (AK/SK)",
    "example-gateway.com": "needs a third-party /kling gateway and its key",
}


def console_blocks() -> list[list[str]]:
    """The `$ ` command lines of each console block of the doc (continuation lines joined)."""
    blocks = re.findall(r"```console\n(.*?)```", DOC.read_text(), re.DOTALL)
    joined = [re.sub(r"\\\n\s*", "", block) for block in blocks]
    return [[line[2:] for line in block.splitlines() if line.startswith("$ ")]
            for block in joined]


def _skip_reason(block: list[str]) -> str | None:
    text = "\n".join(block)
    return next((reason for word, reason in SKIPPED.items() if word in text), None)


def test_every_console_block_is_run_or_skipped_with_a_reason() -> None:
    blocks = console_blocks()
    reasons = [_skip_reason(block) for block in blocks]
    assert reasons.count(None) == 2, "the text2video block and the other families' block"
    assert set(SKIPPED.values()) <= set(reasons), "a stale SKIPPED entry"


@pytest.fixture
def app() -> typer.Typer:
    from openkling.cli.main import app as root

    return root


def test_documented_commands_run_against_openkling(
    app: typer.Typer, live_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = [block for block in console_blocks() if _skip_reason(block) is None]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.png").write_bytes(png(600, 400))  # the doc's image2video input
    monkeypatch.setenv("OPENKLING_CLIENT_CONFIG", str(tmp_path / "client.toml"))
    for name in ("OPENKLING_BASE_URL", "OPENKLING_PREFIX", "OPENKLING_API_KEY",
                 "KLING_ACCESS_KEY", "KLING_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    keys = live_server.create_key("docs-client")  # its own account: `order-1234` is free
    runner = CliRunner()

    def openkling(args: list[str]) -> str:
        result = runner.invoke(app, args, env={"COLUMNS": "120"})
        assert result.exit_code == ExitCode.OK, (args, result.output)
        return result.stdout

    # `openkling` on the PATH of the doc's shell line, running this checkout.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "openkling").write_text(
        f'#!/bin/sh\nexec {sys.executable} -m openkling.cli.main "$@"\n')
    (bin_dir / "openkling").chmod(0o755)
    shell_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    task_id = ""
    for line in [line for block in blocks for line in block]:  # in order: login comes first
        if line.startswith("eval "):
            command = line.split("  #")[0]  # the doc's trailing comment
            shell = subprocess.run(["bash", "-c", f'{command}; echo "$OPENKLING_API_KEY"'],
                                   env=shell_env, capture_output=True, text=True, timeout=60)
            assert shell.stdout.split() == [keys.api_key], shell.stderr
            continue
        line = (line.replace(DOC_URL, live_server.base_url).replace(DOC_KEY, keys.api_key)
                .replace(DOC_TASK, task_id or DOC_TASK))
        args = shlex.split(line, comments=True)
        assert args[0] == "openkling", line
        openkling(args[1:])
        if args[1] == "text2video":
            assert (tmp_path / "cat.mp4").stat().st_size > 0
            task_id = json.loads(openkling(["task", "list", "--json"]))[0]["task_id"]
    assert task_id and (tmp_path / "videos" / f"{task_id}.mp4").stat().st_size > 0
    assert (tmp_path / "leaves.mp4").read_bytes()[4:8] == b"ftyp"
    assert len(list((tmp_path / "foxes").glob("*_[0-3].png"))) == 4
