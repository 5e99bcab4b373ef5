"""The README runs as written: its blocks, pasted into a shell, against ./scripts/serve."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

#: The README's block that starts the service; run with the README's no-GPU argument.
SERVE = "./scripts/serve"
NO_GPU = "--model tiny-random-wan"
#: The README's compose block (its .env, `up`, a first key).
COMPOSE_BLOCK = """\
printf 'POSTGRES_PASSWORD=%s\\nS3_SECRET_KEY=%s\\nOPENKLING_SECRET_KEY=%s\\n' \\
  "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" "$(openssl rand -hex 32)" > .env
docker compose up -d --scale worker=2     # or: podman-compose up -d --scale worker=2
docker compose exec api openkling keys create --name my-app"""
#: README blocks this test does not run, and why.
SKIPPED = {
    "./scripts/test": ".ci/run runs it, and this test runs inside it",
    COMPOSE_BLOCK: "tests/deploy/test_compose.py runs compose.yaml with podman-compose",
}



def shell_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL)]


def test_readme_starts_with_the_quick_start_and_skips_only_what_it_lists() -> None:
    text = README.read_text()
    blocks = shell_blocks(text)
    assert blocks[:2] == [SERVE, "./scripts/test"], "the two quick-start commands come first"
    intro = text.split("## Quick start", 1)[1].split("```", 1)[0]
    assert "No GPU?" in intro and f"{SERVE} {NO_GPU}" in intro
    # Every other block is run by test_readme_runs_as_written; a stale skip entry is an error.
    assert [block for block in blocks if block in SKIPPED] == list(SKIPPED)


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
    blocks = [block for block in shell_blocks(README.read_text())
              if block != SERVE and block not in SKIPPED]
    # The user's second shell, in a folder of its own with the clone's .venv, so the videos
    # the README downloads land there.
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(ROOT / ".venv")
    script = "set -euo pipefail\n" + "\n".join(blocks)
    result = subprocess.run(["bash", "-c", script], cwd=work, env=readme_env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    task_id = result.stdout.splitlines()[0]
    assert task_id.isdigit(), result.stdout
    assert f'"task_id":"{task_id}"' in result.stdout.replace(" ", "")
    assert (work / "videos" / f"{task_id}.mp4").stat().st_size > 0
    assert (work / "cat.mp4").stat().st_size > 0
