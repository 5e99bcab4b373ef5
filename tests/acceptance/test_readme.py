"""The README runs as written: its blocks, pasted into a shell, against ./scripts/serve
(the blocks classified as in tests/support/doc_blocks.py; docs/testing.md, "Docs examples")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.doc_blocks import CODE, README, ROOT, Block, blocks, run_session

#: The README's block that starts the service; run with the README's no-GPU argument.
SERVE = "./scripts/serve"
NO_GPU = "--model tiny-random-wan"


def readme_blocks() -> list[Block]:
    return [block for block in blocks(README) if block.lang in CODE]


def test_readme_starts_with_the_quick_start_and_runs_the_rest() -> None:
    text = README.read_text()
    serve, test = readme_blocks()[:2]
    assert (serve.kind, serve.text.splitlines()[1:]) == ("starts", [SERVE]), \
        "the two quick-start commands come first: serve, then test"
    assert (test.kind, test.shell_script().splitlines()[-1]) == ("needs", "./scripts/test")
    intro = text.split("## Quick start", 1)[1].split("```", 1)[0]
    assert "No GPU?" in intro and f"{SERVE} {NO_GPU}" in intro
    # Besides those two, only the compose block is not run here:
    # tests/deploy/test_compose.py runs compose.yaml with podman-compose.
    rest = [block for block in readme_blocks()[2:] if block.kind != "run"]
    assert [block.first_line for block in rest] == [
        "# needs: docker compose (or podman-compose)"], rest
    assert "docker compose up" in rest[0].text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def readme_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: the clone's venv, fresh data, a private login file, no GPU, offline."""
    reason = subprocess.run(["./scripts/setup", "--check", "local"], cwd=ROOT,
                            capture_output=True, text=True)
    if reason.returncode != 0:
        pytest.skip(f"the clone's .venv is not set up for the quick start: {reason.stderr}")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENKLING_", "KLING_")) and k not in ("PYTHONPATH",
                                                                         "VIRTUAL_ENV")}
    env.update(
        OPENKLING_DATA_DIR=str(tmp_path / "openkling-data"),
        OPENKLING_CLIENT_CONFIG=str(tmp_path / "client.toml"),
        OPENKLING_PORT=str(_free_port()),
        OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE="cpu",
        HF_HUB_OFFLINE="1",
        COLUMNS="200",
    )
    return env


@pytest.fixture
def served(readme_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The README's serve block, running; yields what it printed so far."""
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["bash", "-c", f"{SERVE} {NO_GPU}"], cwd=ROOT,
                                   env=readme_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{readme_env['OPENKLING_PORT']}/readyz"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        yield log_path.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.slow
def test_readme_runs_as_written(readme_env: dict[str, str], served: str,
                                tmp_path: Path) -> None:
    assert "eval \"$(openkling env)\"" in served  # serve says how to use the key it saved
    runnable = [block for block in readme_blocks() if block.kind == "run"]
    # The user's second shell, in a folder of its own with the clone's .venv, so the videos
    # the README downloads land there.
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(ROOT / ".venv")
    result = run_session(runnable, work, readme_env, timeout=600)
    task_id = result.stdout.splitlines()[0]
    assert task_id.isdigit(), result.stdout
    assert f'"task_id":"{task_id}"' in result.stdout.replace(" ", "")
    assert (work / "videos" / f"{task_id}.mp4").stat().st_size > 0
    assert (work / "cat.mp4").stat().st_size > 0
