"""scripts/setup installs only what is missing or changed; scripts/serve picks the extras.

Run in a scratch copy of the scripts with a recording double for `.venv/bin/python`'s pip and
for `.venv/bin/openkling`, so no package is installed and no server starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Records pip calls; any other use of the interpreter runs the real one.
PYTHON_DOUBLE = f"""#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "pip $*" >> "$CALLS"
  exit 0
fi
if [ "$1" = "-c" ] && [ "$2" = "import torch" ]; then
  exit 0
fi
exec {sys.executable} "$@"
"""

#: Records its arguments; `keys create --json` answers like the real command.
OPENKLING_DOUBLE = """#!/bin/sh
echo "openkling $*" >> "$CALLS"
if [ "$1" = "keys" ]; then
  echo '{"account": "1", "api_key": "ok-first", "access_key": "AK", "secret_key": "SK"}'
fi
"""


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    for name in ("setup", "serve"):
        shutil.copy(ROOT / "scripts" / name, root / "scripts" / name)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", PYTHON_DOUBLE), ("openkling", OPENKLING_DOUBLE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return root


def run(clone: Path, *args: str) -> tuple[int, list[str]]:
    calls = clone / "calls.log"
    calls.unlink(missing_ok=True)
    env = {**os.environ, "CALLS": str(calls)}
    for name in ("OPENKLING_PROVIDER", "OPENKLING_HOST", "OPENKLING_PORT",
                 "OPENKLING_DATA_DIR"):
        env.pop(name, None)
    result = subprocess.run(list(args), cwd=clone, env=env, capture_output=True, text=True,
                            timeout=60)
    logged = calls.read_text().splitlines() if calls.exists() else []
    return result.returncode, logged


def test_setup_installs_once_then_only_after_a_change(clone: Path) -> None:
    assert run(clone, "scripts/setup", "--check", "local,dev") == (1, [])
    code, calls = run(clone, "scripts/setup", "local,dev")
    assert code == 0
    assert calls[-1].endswith("install -q -e .[dev,local,s3,server]")
    assert run(clone, "scripts/setup", "local,dev") == (0, [])  # nothing changed: no pip
    assert run(clone, "scripts/setup", "--check", "local,dev") == (0, [])
    assert run(clone, "scripts/setup", "server") == (0, [])  # local includes server

    with (clone / "pyproject.toml").open("a") as handle:
        handle.write("\n# changed\n")
    assert run(clone, "scripts/setup", "--check", "server")[0] == 1
    code, calls = run(clone, "scripts/setup", "server")
    assert code == 0 and calls[-1].endswith("install -q -e .[server]")


def test_setup_refuses_an_unknown_extra(clone: Path) -> None:
    assert run(clone, "scripts/setup", "lcoal") == (2, [])


def test_client_setup_installs_the_light_package(clone: Path) -> None:
    code, calls = run(clone, "scripts/setup", "client")
    assert code == 0 and calls[-1].endswith("install -q -e .")


def test_serve_relay_installs_server_only_and_saves_the_first_key(clone: Path) -> None:
    code, calls = run(clone, "scripts/serve", "--provider", "kling", "--port", "9123")
    assert code == 0
    pips = [call for call in calls if call.startswith("pip")]
    assert pips[-1].endswith("install -q -e .[server]")
    assert "openkling keys create --name default --data-dir openkling-data --json" in calls
    assert ("openkling login --no-verify --base-url http://127.0.0.1:9123 --api-key ok-first"
            in calls)
    assert calls[-1] == ("openkling serve --data-dir openkling-data --provider kling "
                         "--port 9123")


def test_serve_defaults_to_local_and_skips_pip_when_installed(clone: Path) -> None:
    code, calls = run(clone, "scripts/serve", "--model", "tiny-random-wan")
    assert code == 0 and any(call.endswith("install -q -e .[local,server]") for call in calls)
    (clone / "openkling-data").mkdir()
    (clone / "openkling-data" / "openkling.db").touch()
    code, calls = run(clone, "scripts/serve", "--model", "tiny-random-wan")
    assert code == 0
    assert calls == ["openkling serve --data-dir openkling-data --model tiny-random-wan"]
