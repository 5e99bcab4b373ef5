"""Installs that fit: `pip install .` is the SDK and client CLI only, and says how to get more.

The first tests look at what the client code imports; the slow one builds the wheel, installs
it into a fresh virtualenv that sees only the light dependencies, and runs the command there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import venv
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

#: Nothing of the server may load for an SDK or client CLI user. (`cryptography` is not
#: listed: PyJWT imports it on its own whenever it happens to be installed.)
SERVER_MODULES = (
    "openkling.api", "openkling.core", "openkling.store", "openkling.storage",
    "openkling.worker", "openkling.providers", "openkling.assembly", "openkling.config",
    "fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "asyncpg", "aiosqlite",
    "pydantic_settings", "torch", "diffusers",
)


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)


def test_sdk_and_client_commands_load_no_server_module() -> None:
    result = _python(f"""
        import sys
        import openkling.client
        from openkling.cli.main import app
        from typer.testing import CliRunner
        for args in (["task", "get", "--help"], ["text2video", "--help"], ["env", "--help"]):
            assert CliRunner().invoke(app, args).exit_code == 0, args
        loaded = sorted(name for name in sys.modules
                        if name.startswith({SERVER_MODULES!r}))
        print(loaded)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_base_dependencies_hold_no_server_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {Requirement(spec).name for spec in project["dependencies"]}
    heavy = {"fastapi", "sqlalchemy", "uvicorn", "asyncpg", "alembic", "torch", "diffusers",
             "pydantic-settings", "cryptography"}
    assert base & heavy == set()
    extras = project["optional-dependencies"]
    assert "openkling[server]" in extras["local"]
    assert {Requirement(spec).name for spec in extras["server"]} >= {"fastapi", "sqlalchemy"}


#: Runs a server command with the server's packages hidden, as in a light install.
_WITHOUT_SERVER = """
    import importlib.abc, sys
    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"fastapi", "sqlalchemy", "pydantic_settings", "uvicorn"}:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Hide())
    from openkling.cli.main import main
    main(sys.argv[1:])
"""


@pytest.mark.parametrize("command", [["serve", "--port", "8123"], ["keys", "list"],
                                     ["worker"], ["migrate", "--help"]])
def test_server_command_without_the_extra_says_how_to_install_it(command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(_WITHOUT_SERVER), *command],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert f"`openkling {command[0]}` needs the server extra" in message
    assert 'pip install ".[server]"' in message and "Traceback" not in result.stderr


def test_help_lists_server_commands_without_the_extra() -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(_WITHOUT_SERVER), "--help"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for name in ("serve", "keys", "text2video", "task"):
        assert f" {name} " in result.stdout
    assert "needs the server extra" in result.stdout


# --- a real wheel in a fresh virtualenv ---------------------------------------------------


def _closure(requirements: list[str]) -> list[str]:
    """The installed distributions these requirements pull in (no extras), transitively."""
    seen: dict[str, str] = {}
    todo = [Requirement(spec) for spec in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            pytest.skip(f"{req.name} is not installed here, so the light install cannot be "
                        "assembled offline")
        seen[key] = dist.metadata["Name"]
        todo += [Requirement(spec) for spec in dist.requires or []]
    return sorted(seen.values())


def _expose(names: list[str], into: Path) -> None:
    """Link the installed files of these distributions (and nothing else) into `into`."""
    into.mkdir()
    for name in names:
        dist = distribution(name)
        for file in dist.files or []:
            top = file.parts[0]
            source = Path(str(dist.locate_file(top)))
            target = into / top
            if top != ".." and source.exists() and not target.exists():
                target.symlink_to(source)


@pytest.mark.slow
def test_built_wheel_installs_light_and_runs(tmp_path: Path) -> None:
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed: the wheel cannot be built offline")
    # Built without isolation (offline), so with this environment's setuptools: it must meet
    # the build requirement (a venv's bundled setuptools 65 cannot read the SPDX license).
    wanted = next(Requirement(text) for text in
                  tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
                  if Requirement(text).name == "setuptools")
    try:
        have = distribution("setuptools").version
    except PackageNotFoundError:
        pytest.skip("setuptools has no distribution metadata: the wheel cannot be built offline")
    if not wanted.specifier.contains(have, prereleases=True):
        pytest.skip(f"this environment's setuptools {have} does not meet the build "
                    f"requirement {wanted}: the wheel cannot be built offline")
    # Built from a copy, so the build's by-products stay out of the work tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(wheels), str(source)],
        capture_output=True, text=True, timeout=300, env=clean,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = wheels.glob("openkling-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300, env=clean,
    )
    assert install.returncode == 0, install.stderr
    # Offline, the light dependencies come from this environment: only them, nothing else.
    requires = distribution_requires(wheel)
    deps = tmp_path / "light-deps"
    _expose(_closure(requires), deps)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "light_deps.pth").write_text(f"{deps}\n")

    env = {**clean, "COLUMNS": "200"}
    openkling = env_dir / "bin" / "openkling"
    helped = subprocess.run([str(openkling), "--help"], capture_output=True, text=True,
                            env=env, timeout=120, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "text2video" in helped.stdout and "serve" in helped.stdout

    served = subprocess.run([str(openkling), "serve"], capture_output=True, text=True,
                            env=env, timeout=120, cwd=tmp_path)
    assert served.returncode == 1
    assert 'pip install ".[server]"' in " ".join(served.stderr.split())

    probe = subprocess.run(
        [str(python), "-c", "import openkling.client, sys; print(openkling.client.__file__);"
         "import fastapi"], capture_output=True, text=True, env=env, timeout=120,
        cwd=tmp_path)
    assert str(env_dir) in probe.stdout, "openkling must load from the fresh install"
    assert "No module named 'fastapi'" in probe.stderr


def distribution_requires(wheel: Path) -> list[str]:
    """The wheel's own Requires-Dist lines without an extra marker: the light install."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    lines = [line.split(":", 1)[1].strip() for line in text.splitlines()
             if line.startswith("Requires-Dist:")]
    return [line for line in lines if "extra ==" not in line]
