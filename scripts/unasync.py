#!/usr/bin/env python3
"""Generate the blocking SDK client from the asyncio one (the approach httpx/httpcore use).

    python scripts/unasync.py          # rewrite src/openkling/client/_sync.py
    python scripts/unasync.py --check  # exit 1 if the committed _sync.py is out of date

Edit `_async.py` only; the rules below turn it into `_sync.py` word by word.
tests/unit/client/test_unasync.py fails when the two drift apart.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "src" / "openkling" / "client"
SOURCE = CLIENT / "_async.py"
TARGET = CLIENT / "_sync.py"

HEADER = "# Generated from _async.py by scripts/unasync.py: edit that file, then run the script.\n"

#: (pattern, replacement), applied in order to the whole file.
RULES: list[tuple[str, str]] = [
    (r'^"""The asyncio client[^\n]*"""', '"""The blocking client; decisions live in `_base`, '
                                         'this module only sends and sleeps."""'),
    (r"^import asyncio\n", ""),
    (r"  # noqa: ASYNC109[^\n]*", ""),
    # AsyncKlingClient, _AsyncFamily, AsyncIterator, httpx.AsyncClient, ...: drop the "Async".
    (r"\b(_?)Async([A-Z]\w*)", r"\1\2"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\basync (def|with|for) ", r"\1 "),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\baread\(\)", "read()"),
    (r"\baclose\(\)", "close()"),
]


def generate(source: str) -> str:
    """The blocking module for the asyncio module `source`."""
    for pattern, replacement in RULES:
        source = re.sub(pattern, replacement, source, flags=re.MULTILINE)
    leftover = re.search(r"\b(async|await|asyncio|Async\w*|aiter\w*|aclose|aread)\b", source)
    if leftover:
        raise ValueError(f"no rule for {leftover.group(0)!r} in _async.py; add one to RULES")
    return HEADER + source


def main(argv: list[str]) -> int:
    expected = generate(SOURCE.read_text(encoding="utf-8"))
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != expected:
            print(f"{TARGET} is out of date: run python scripts/unasync.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
