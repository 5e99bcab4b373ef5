"""Every exception class the server defines derives from `openkling.errors.OpenKlingError`
(read from the source, like test_layers; the SDK in client/ keeps its own hierarchy)."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "openkling"
BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                      if isinstance(value, type) and issubclass(value, BaseException)}


def base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def server_classes() -> dict[str, tuple[str, list[str]]]:
    """Class name -> (where, base names) for every class outside client/."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        where = str(path.relative_to(SRC))
        if where.startswith("client/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                found[node.name] = (where, [base_name(b) for b in node.bases])
    return found


def test_every_server_exception_has_the_one_base() -> None:
    classes = server_classes()

    def ancestors(name: str) -> set[str]:
        seen: set[str] = set()
        todo = [name]
        while todo:
            for base in classes.get(todo.pop(), ("", []))[1]:
                if base not in seen:
                    seen.add(base)
                    todo.append(base)
        return seen

    exceptions = {name for name in classes
                  if ancestors(name) & (BUILTIN_EXCEPTIONS | {"OpenKlingError"})}
    assert {"OpenKlingError", "KlingError", "UpstreamBusy", "RehostError"} <= exceptions
    orphans = sorted(f"{classes[name][0]}: {name}" for name in exceptions
                     if name != "OpenKlingError" and "OpenKlingError" not in ancestors(name))
    assert orphans == []
