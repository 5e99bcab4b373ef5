"""Every example in docs/*.md runs as pasted against the server the README starts
(`openkling serve --model tiny-random-wan`: the local diffusers provider with the tiny random
models), or says on its first line what it needs (`# needs: ...`) or that it starts a
long-running process (`# starts: ...`). README.md's own examples are run by test_readme.py
against ./scripts/serve itself; both use tests/support/doc_blocks.py, described in
docs/testing.md ("Docs examples").

Each document's Python blocks run one after another in one Python session, and its shell
blocks in one `bash -euo pipefail` session, in a fresh folder, with the server's URL and a
fresh API key in OPENKLING_BASE_URL / OPENKLING_API_KEY and the clone's .venv/bin on PATH:
what a user has after `source .venv/bin/activate` and `eval "$(openkling env)"`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from openkling.cli.main import app
from tests.conftest import TINY_WAN_ENV, ServerHandle, running_server
from tests.support.doc_blocks import (
    CODE,
    NEEDS,
    NOT_COMMANDS,
    README,
    ROOT,
    SHELL,
    STARTS,
    all_blocks,
    blocks,
    docs,
    openkling_commands,
    run_session,
)
from tests.support.images import png

DOCS = ROOT / "docs"
VENV_BIN = ROOT / ".venv" / "bin"
#: The account the shell examples act as: the name README and docs/deployment.md create.
SHELL_ACCOUNT = "my-app"


def test_every_block_is_run_marked_or_not_a_command() -> None:
    unknown = [f"{b.where()}: fence language {b.lang!r}" for b in all_blocks()
               if b.kind == "unknown"]
    assert not unknown, (
        f"give each fence a language: commands and code {sorted(CODE)}, or what is not a "
        f"command {sorted(NOT_COMMANDS)}:\n" + "\n".join(unknown))


def test_every_marker_names_what_the_block_needs() -> None:
    marked = [b for b in all_blocks() if b.kind in ("needs", "starts")]
    assert marked
    assert all(len(b.reason) > 3 for b in marked), [b.where() for b in marked]
    # A marker counts only as a first line: one further down would mark nothing.
    late = [b.where() for b in all_blocks() if b.lang in CODE
            and any(line.startswith((NEEDS, STARTS)) for line in b.text.splitlines()[1:])]
    assert not late, late


def test_the_relay_only_client_examples_say_so() -> None:
    client = [b for b in blocks(DOCS / "client.md") if b.lang == "python"]
    marked = [b for b in client if b.kind == "needs"]
    assert len(marked) == 2  # camera_control, image_tail
    assert all("relay (provider \"kling\")" in b.reason for b in marked), marked
    runnable = [b.text for b in client if b.kind == "run"]
    assert not any("camera_control=" in b or "image_tail=" in b
                   for b in runnable), "the local models refuse these fields"
    # image_reference runs locally (SDXL with IP-Adapter), so its example runs too.
    assert any("image_reference=" in b for b in runnable)


def test_the_commands_of_blocks_not_run_parse() -> None:
    """A block that is not run still names real commands and options: each `openkling`
    command in it, with `--help` added, parses (an unknown option or command exits 2)."""
    checked = 0
    for block in all_blocks():
        if block.kind not in ("needs", "starts"):
            continue
        for args in openkling_commands(block):
            result = CliRunner().invoke(app, [*args, "--help"])
            assert result.exit_code == 0, f"{block.where()}: openkling {' '.join(args)}\n" \
                                          f"{result.output}"
            checked += 1
    assert checked >= 10


def test_a_failing_example_is_named_and_console_output_is_not_run(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("Intro\n\n```console\n$ x=$(echo 1 \\\n  | cat)\nsample output\n"
                   "$ test \"$x\" = 1\n```\n\n```text\nfalse\n```\n\n```\nls\n```\n\n"
                   "```bash\n# needs: nothing really\nfalse\n```\n\n```bash\nfalse  # fails\n```\n")
    found = blocks(doc)
    assert [b.kind for b in found] == ["run", "output", "unknown", "needs", "run"]
    assert found[0].shell_script() == "x=$(echo 1 \\\n  | cat)\ntest \"$x\" = 1"
    folder = tmp_path / "user"
    folder.mkdir()
    run_session([found[0]], folder, dict(os.environ))
    with pytest.raises(pytest.fail.Exception, match=r"doc\.md block 4 \(line 23\): "
                                                    r"'false  # fails' exited 1"):
        run_session([found[0], found[4]], folder, dict(os.environ))


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("docs"), "diffusers", dict(TINY_WAN_ENV)) \
            as server:
        yield server


def user_folder(path: Path) -> Path:
    """A fresh folder with the files the examples open, as a user would have them."""
    path.mkdir()
    (path / "first-frame.png").write_bytes(png(640, 360))
    (path / "photo.png").write_bytes(png(640, 360))
    Image.new("RGB", (640, 360), (90, 40, 200)).save(path / "first.jpg", format="JPEG")
    (path / "ref.png").write_bytes(png(512, 512))
    return path


def user_env(server: ServerHandle, account: str, folder: Path) -> dict[str, str]:
    key = server.create_key(account)
    env = {k: v for k, v in server.env.items() if k not in ("KLING_ACCESS_KEY",
                                                           "KLING_SECRET_KEY")}
    env.update(OPENKLING_BASE_URL=server.base_url, OPENKLING_API_KEY=key.api_key,
               OPENKLING_CLIENT_CONFIG=str(folder / "client.toml"),
               PATH=os.pathsep.join([str(VENV_BIN), env.get("PATH", "")]), COLUMNS="200")
    return env


RUN_HERE = [doc for doc in docs() if doc != README
            and any(b.kind == "run" for b in blocks(doc))]


@pytest.mark.slow
@pytest.mark.parametrize("doc", RUN_HERE, ids=[doc.name for doc in RUN_HERE])
@pytest.mark.parametrize("language", ["python", "shell"])
def test_the_examples_run_against_the_default_server(
        default_server: ServerHandle, tmp_path: Path, doc: Path, language: str) -> None:
    langs = {"python"} if language == "python" else SHELL
    runnable = [b for b in blocks(doc) if b.kind == "run" and b.lang in langs]
    if not runnable:
        pytest.skip(f"{doc.name} has no {language} examples")
    folder = user_folder(tmp_path / "user")
    # Python examples act as an account of their own, so their external_task_ids never
    # meet the shell's.
    account = SHELL_ACCOUNT if language == "shell" else f"docs-{doc.stem}"
    run_session(runnable, folder, user_env(default_server, account, folder))
    if doc.name == "client.md" and language == "python":
        assert (folder / "cat.mp4").stat().st_size > 0
        assert (folder / "leaves.mp4").stat().st_size > 0
        assert len(list((folder / "foxes").glob("*.png"))) == 4
    if doc.name == "client.md" and language == "shell":
        assert (folder / "cat.mp4").stat().st_size > 0
        assert len(list((folder / "videos").glob("*.mp4"))) == 1
        assert (folder / "leaves.mp4").read_bytes()[4:8] == b"ftyp"
        assert len(list((folder / "foxes").glob("*_[0-3].png"))) == 4
