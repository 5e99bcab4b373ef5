"""The blocking client is generated from the asyncio one and must not drift from it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "unasync.py"


def _unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("unasync", module)
    spec.loader.exec_module(module)
    return module


def test_committed_sync_client_is_the_generated_one() -> None:
    unasync = _unasync()
    expected = unasync.generate(unasync.SOURCE.read_text(encoding="utf-8"))
    assert unasync.TARGET.read_text(encoding="utf-8") == expected, (
        "src/openkling/client/_sync.py differs from what scripts/unasync.py generates from "
        "_async.py: edit _async.py, then run python scripts/unasync.py"
    )


def test_generation_rewrites_the_async_vocabulary() -> None:
    generated = _unasync().generate(
        "import asyncio\n"
        "class AsyncKlingClient:\n"
        "    async def close(self) -> None:\n"
        "        await self._http.aclose()\n"
        "        async for chunk in response.aiter_bytes():\n"
        "            await asyncio.sleep(1)\n"
    )
    body = generated.split("\n", 1)[1]
    assert body == (
        "class KlingClient:\n"
        "    def close(self) -> None:\n"
        "        self._http.close()\n"
        "        for chunk in response.iter_bytes():\n"
        "            time.sleep(1)\n"
    )


def test_an_async_word_without_a_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="asyncio"):
        _unasync().generate("queue = asyncio.Queue()\n")
