"""Every import rule docs/architecture.md states ("Who imports whom"), read from the source:
nothing imports upward, and the rules across a layer: api imports neither the worker nor a
provider, worker does not import api, store and storage do not import each other, providers
never open the database, only the CLI uses the SDK and the SDK uses no server part."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "openkling"

#: Lowest first; a part may import only parts listed before it (and itself).
LAYERS: list[set[str]] = [
    {"errors", "clock", "vocabulary", "observability"},
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


#: The rules the layer order alone does not hold (docs/architecture.md, "Who imports whom").
FORBIDDEN: dict[str, set[str]] = {
    # "The API never talks to a provider"; "worker and api do not import each other".
    "api": {"worker", "providers"},
    "worker": {"api"},
    # "store | storage (neither imports the other: storage knows no database)".
    "store": {"storage"},
    "storage": {"store"},
    # "core never imports a provider, the worker or the api".
    "core": {"providers", "worker", "api", "assembly", "cli"},
    "providers": {"store", "worker", "api", "assembly", "cli"},
}


def broken_rules(src: Path) -> list[str]:
    broken = []
    for path in sorted(src.rglob("*.py")):
        part = path.relative_to(src).parts[0].removesuffix(".py")
        for target in sorted(imported_parts(path) & FORBIDDEN.get(part, set())):
            broken.append(f"{path.relative_to(src)} imports openkling.{target}")
    return broken


def test_no_part_imports_what_the_architecture_forbids_it() -> None:
    assert broken_rules(SRC) == []


def test_the_rules_catch_each_forbidden_import(tmp_path: Path) -> None:
    """The check can fail: one file per rule that breaks it is found, named."""
    cases = {"api/a.py": "worker.faults", "api/b.py": "providers.kling.relay_options",
             "store/c.py": "storage.base", "storage/d.py": "store.tables",
             "worker/e.py": "api.app", "core/f.py": "providers.loader"}
    for name, module in cases.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(f"from openkling.{module} import x\n")
    assert broken_rules(tmp_path) == [f"{name} imports openkling.{module.split('.')[0]}"
                                      for name, module in sorted(cases.items())]


def test_every_documented_part_has_a_layer() -> None:
    parts = {path.relative_to(SRC).parts[0].removesuffix(".py") for path in SRC.rglob("*.py")}
    assert parts - {"__init__", "client", "console"} <= set(RANK)
