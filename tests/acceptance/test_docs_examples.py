"""The SDK examples of docs/client.md run as pasted, one after another in one Python session,
against the server the README starts (`openkling serve --model tiny-random-wan`: the local
diffusers provider with the tiny random models). An example that needs another provider says
so on its first line (`# needs: ...`, naming it) and is not run here."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, TINY_WAN_ENV, ServerHandle, running_server
from tests.support.images import png

pytestmark = pytest.mark.slow

DOCS = ROOT / "docs"
NEEDS = "# needs: "


def python_blocks(path: Path) -> list[str]:
    return [block.strip() for block in re.findall(r"```python\n(.*?)```", path.read_text(),
                                                  re.DOTALL)]


def test_every_example_that_is_not_run_names_the_provider_it_needs() -> None:
    blocks = python_blocks(DOCS / "client.md")
    marked = [block.splitlines()[0] for block in blocks if block.startswith(NEEDS)]
    assert len(marked) == 3  # camera_control, image_tail, image_reference
    assert all("relay (provider \"kling\")" in line for line in marked), marked
    runnable = [block for block in blocks if not block.startswith(NEEDS)]
    assert not any("camera_control=" in b or "image_tail=" in b or "image_reference=" in b
                   for b in runnable), "the local models refuse these fields"


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("docs"), "diffusers", dict(TINY_WAN_ENV)) \
            as server:
        yield server


def test_the_client_examples_run_against_the_default_server(
        default_server: ServerHandle, tmp_path: Path) -> None:
    key = default_server.create_key("docs-examples")
    # The files the examples open, as a user would have them.
    (tmp_path / "first-frame.png").write_bytes(png(640, 360))
    Image.new("RGB", (640, 360), (90, 40, 200)).save(tmp_path / "first.jpg", format="JPEG")
    (tmp_path / "ref.png").write_bytes(png(512, 512))
    blocks = [b for b in python_blocks(DOCS / "client.md") if not b.startswith(NEEDS)]
    script = "\n".join(f"print('--- example {i}', flush=True)\n{block}\n"
                       for i, block in enumerate(blocks))
    env = {**default_server.env, "OPENKLING_BASE_URL": default_server.base_url,
           "OPENKLING_API_KEY": key.api_key}
    env = {k: v for k, v in env.items() if k not in ("KLING_ACCESS_KEY", "KLING_SECRET_KEY")}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert f"--- example {len(blocks) - 1}" in result.stdout
    assert (tmp_path / "cat.mp4").stat().st_size > 0
    assert (tmp_path / "leaves.mp4").stat().st_size > 0
    assert len(list((tmp_path / "foxes").glob("*.png"))) == 4
