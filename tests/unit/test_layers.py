"""Every import rule docs/architecture.md states ("Who imports whom"), read from the source:
nothing imports upward (in the order the document's diagram lists), and the rules across a
layer: api imports neither the worker nor a provider, worker does not import api, store and
storage do not import each other and storage knows no database, providers never open the
database nor write HTTP responses, errors, clock and vocabulary import nothing of openkling,
database outages are told from bugs in one place and retried by one helper, only the CLI uses
the SDK and the SDK uses no server part."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "openkling"

#: Lowest first; a part may import only parts listed before it (and itself).
LAYERS: list[set[str]] = [
    {"errors", "clock", "vocabulary"},
    {"config", "observability"},
    {"storage", "store"},
    {"core"},
    {"providers"},
    {"worker"},
    {"assembly"},
    {"api"},
    {"cli"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports (absolute names, as written)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def imported_parts(path: Path) -> set[str]:
    """The parts of openkling `path` imports (`openkling.store.tasks` -> "store")."""
    return {name.split(".")[1] for name in imported_modules(path)
            if name.startswith("openkling.")}


def imported_packages(path: Path) -> set[str]:
    """The top-level packages `path` imports (`sqlalchemy.exc` -> "sqlalchemy")."""
    return {name.split(".")[0] for name in imported_modules(path)}


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


def documented_layers(text: str) -> list[set[str]]:
    """The parts the "Who imports whom" diagram lists, lowest first (the SDK, which stands
    apart, left out): each line's first column, parts split at `,` and `|` (the fence's
    language, `text`, is no part)."""
    block = text.split("## Who imports whom", 1)[1].split("```", 2)[1].split("\n", 1)[1]
    layers = []
    for line in block.strip().splitlines():
        first = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        layers.append({part.strip() for part in re.split(r"[,|]", first)})
    return [parts for parts in reversed(layers) if parts != {"client"}]


def test_the_checked_order_is_the_documented_one() -> None:
    doc = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    assert documented_layers(doc) == LAYERS


def test_documented_layers_reads_the_diagram() -> None:
    """The reader sees a change: a part moved or left out of the diagram no longer matches."""
    text = "## Who imports whom\n\n```text\napi    routes\nstore | storage  x | y\n" \
           "errors, clock  base\nclient  the SDK\n```\n"
    assert documented_layers(text) == [{"errors", "clock"}, {"store", "storage"}, {"api"}]


#: "errors, clock, vocabulary: import nothing of openkling".
BOTTOM = ("errors.py", "clock.py", "vocabulary.py")


def test_the_bottom_imports_nothing_of_openkling() -> None:
    for name in BOTTOM:
        assert imported_parts(SRC / name) == set(), name


#: What "storage knows no database" and "a provider never writes HTTP responses" mean in
#: imports: the database drivers and toolkit, the web framework.
DATABASE_PACKAGES = {"sqlalchemy", "alembic", "asyncpg", "aiosqlite", "sqlite3", "psycopg"}
HTTP_SERVER_PACKAGES = {"fastapi", "starlette", "uvicorn"}


def test_storage_knows_no_database() -> None:
    for path in sorted((SRC / "storage").rglob("*.py")):
        assert imported_packages(path) & DATABASE_PACKAGES == set(), path


def test_providers_write_no_http_responses() -> None:
    for path in sorted((SRC / "providers").rglob("*.py")):
        assert imported_packages(path) & HTTP_SERVER_PACKAGES == set(), path


def test_package_rules_can_fail(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text("import sqlalchemy.exc\nfrom fastapi import Request\nfrom .a import b\n")
    assert imported_packages(path) == {"sqlalchemy", "fastapi"}
    assert imported_parts(path) == set()


def outage_classifiers(src: Path) -> list[str]:
    """Modules that define `is_database_unavailable` (only `store/faults.py` may)."""
    return [str(path.relative_to(src)) for path in sorted(src.rglob("*.py"))
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name == "is_database_unavailable"]


def outage_retry_loops(src: Path) -> list[str]:
    """Loops that ask `is_database_unavailable` themselves: a retry written again instead of
    `core.backoff.keep_trying`."""
    found = []
    for path in sorted(src.rglob("*.py")):
        for loop in ast.walk(ast.parse(path.read_text())):
            if not isinstance(loop, ast.While | ast.For | ast.AsyncFor):
                continue
            for node in ast.walk(loop):
                if isinstance(node, ast.Name) and node.id == "is_database_unavailable":
                    found.append(f"{path.relative_to(src)}:{loop.lineno}")
                    break
    return found


def test_outages_are_told_in_one_place_and_retried_by_one_helper() -> None:
    assert outage_classifiers(SRC) == ["store/faults.py"]
    assert outage_retry_loops(SRC) == []
    for part in ("api", "worker"):  # "used by the api and the worker alike"
        assert any("openkling.store.faults" in imported_modules(path)
                   for path in (SRC / part).rglob("*.py")), part


def test_the_outage_rules_can_fail(tmp_path: Path) -> None:
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "own.py").write_text(
        "def is_database_unavailable(exc):\n    return True\n\n"
        "async def write(action):\n    while True:\n        try:\n"
        "            return await action()\n        except Exception as exc:\n"
        "            if not is_database_unavailable(exc):\n                raise\n")
    assert outage_classifiers(tmp_path) == ["worker/own.py"]
    assert outage_retry_loops(tmp_path) == ["worker/own.py:5"]
