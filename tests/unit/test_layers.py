"""Nothing imports upward (docs/architecture.md, "Who imports whom"), read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "openkling"

#: Lowest first; a part may import only parts listed before it (and itself).
LAYERS: list[set[str]] = [
    {"errors", "clock", "observability"},
    {"config"},
    {"storage", "store"},
    {"core"},
    {"providers"},
    {"worker"},
    {"assembly"},
    {"api"},
    {"cli"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def imported_parts(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "openkling" and len(parts) > 1:
                found.add(parts[1])
    return found


def part_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def test_nothing_imports_upward() -> None:
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        part = part_of(path)
        if part == "__init__" or part == "client":
            continue
        for target in imported_parts(path) - {part, "client"}:
            if RANK[target] > RANK[part]:
                upward.append(f"{path.relative_to(SRC)} imports openkling.{target}")
    assert upward == []


def test_only_the_cli_uses_the_sdk_and_the_sdk_uses_no_server_part() -> None:
    for path in sorted(SRC.rglob("*.py")):
        part = part_of(path)
        used = imported_parts(path) - {part}
        if part == "client":
            assert used == set(), path
        elif part != "cli":
            assert "client" not in used, path


def test_providers_never_open_the_database() -> None:
    for path in sorted((SRC / "providers").rglob("*.py")):
        assert "store" not in imported_parts(path), path
