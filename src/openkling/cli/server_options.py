"""Server flags shared by several commands; each overrides its OPENKLING_* variable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openkling.config import Settings
from openkling.observability.logs import configure_logging

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="State folder [env: OPENKLING_DATA_DIR]")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy async URL [env: OPENKLING_DATABASE_URL]"),
]

Devices = Annotated[
    str | None,
    typer.Option(help="diffusers provider: several devices of this host, one model process "
                 "each, e.g. 0,1,2,3 (cuda:0..3) or cpu,cpu "
                 "[env: OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICES]"),
]


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment and config file, with the given flags on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def with_diffusers_options(settings: Settings, **flags: Any) -> Settings:
    """The diffusers provider's options with the given flags (model, device, devices) on top."""
    local = {key: value for key, value in flags.items() if value is not None}
    if not local:
        return settings
    options = dict(settings.provider_options)
    options["diffusers"] = {**options.get("diffusers", {}), **local}
    return settings.model_copy(update={"provider_options": options})


def setup_logging(settings: Settings) -> None:
    """One format for our logs and uvicorn's (see observability/logs.py)."""
    configure_logging(settings.log_level, settings.log_format)
