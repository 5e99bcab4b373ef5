"""`openkling models`: the local models this configuration serves, and what runs each Kling
model name (read from the configuration; no server needed, no torch imported)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from openkling.cli.exits import ExitCode, fail
from openkling.cli.server_options import settings_from, with_diffusers_options
from openkling.config import Settings


def register(app: typer.Typer) -> None:
    app.command(name="models")(models)


def catalogue_rows(settings: Settings) -> list[dict[str, Any]]:
    """The diffusers catalogue with the Kling model names this configuration routes to it."""
    from openkling.core.registry import ModelRegistry
    from openkling.providers.diffusers.catalogue import listing

    registry = ModelRegistry(settings)
    routes = {}
    for name in registry.names:
        resolved = registry.resolve(name)
        if resolved.provider == "diffusers":
            routes[name] = resolved.options
    base = dict(settings.provider_options.get("diffusers", {}))
    rows = listing(base, routes)
    pick = auto_pick(base)
    for row in rows:
        row["auto_pick"] = row["name"] == pick["model"]
    return rows


def auto_pick(base: dict[str, Any],
              read: Callable[[Sequence[str]], int | None] | None = None) -> dict[str, Any]:
    """What `model = "auto"` picks on this host: the model and the GPU memory read."""
    from openkling.providers.diffusers.catalogue import auto_model
    from openkling.providers.diffusers.gpu_memory import gpu_memory
    from openkling.providers.diffusers.model_options import parse_options

    parsed = parse_options({**base, "model": "tiny-random-wan"})
    found = (read or gpu_memory)(parsed.device_list)
    return {"model": auto_model(found, parsed.quantization), "gpu_bytes": found,
            "devices": parsed.device_list}


def models(
    model: Annotated[
        str | None,
        typer.Option(help="diffusers provider: model id, as `serve --model` takes it "
                     "[env: OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL]"),
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Provider for the Kling model names [env: "
                                 "OPENKLING_PROVIDER]"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list, one object a model.")] = (
        False),
) -> None:
    """The local models (diffusers) and the Kling model names each serves here."""
    try:
        settings = with_diffusers_options(settings_from(provider=provider), model=model)
        rows = catalogue_rows(settings)
    except ValueError as exc:
        fail(ExitCode.ERROR, f"invalid configuration: {exc}")
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Local models (diffusers): memory is an estimate unless marked measured")
    for column in ("model", "families", "pipeline", "fps / step", "audio", "GPU GiB (offload)",
                   "test model", "Kling model names here"):
        table.add_column(column)
    for row in rows:
        memory = ("-" if row["memory_gib"] is None else
                  f"{row['memory_gib']} ({row['memory_offload_gib']})"
                  f"{'' if row['memory_measured'] else ' est.'}")
        names = "; ".join(f"{family.split('/')[-1]}: {', '.join(found)}"
                          for family, found in row["kling_models"].items()) or "-"
        rate = "-" if row["fps"] is None else f"{row['fps']} / {row['frame_step']}"
        table.add_row(row["name"], ", ".join(f.split("/")[-1] for f in row["families"]),
                      row["pipeline"], rate, "yes" if row["audio"] else "no", memory,
                      row["test_model"] or "-", names)
    console = Console(width=200)
    console.print(table)
    picked = next((row["name"] for row in rows if row.get("auto_pick")), None)
    base = dict(settings.provider_options.get("diffusers", {}))
    found = auto_pick(base)
    memory = (f"{found['gpu_bytes'] / 1024**3:.0f} GiB GPU memory on "
              f"{', '.join(found['devices'])}" if found["gpu_bytes"] else "no GPU found")
    console.print(f"model = \"auto\" picks {picked or found['model']} on this host "
                  f"({memory}; the rule: docs/providers.md).", highlight=False)
