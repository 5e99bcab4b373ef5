"""Server flags shared by several commands; each overrides its OPENKLING_* variable."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from openkling.config import Settings

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


class RedactSecrets(logging.Filter):
    """Keep URL secrets out of access logs: the relay's per-task callback tokens (in the path)
    and the signatures of download links (in the query)."""

    _TOKEN_PATH = re.compile(r"(/upstream/kling/[^/\s]+/)[^/?\s\"]+")
    _SIGNATURE = re.compile(r"((?:signature|Signature)=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True

    def _redact(self, text: str) -> str:
        return self._SIGNATURE.sub(r"\1<redacted>", self._TOKEN_PATH.sub(r"\1<redacted>", text))


def setup_logging(level: str) -> None:
    """One format for our logs and uvicorn's; secrets never reach a handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # httpx logs every request URL at INFO: signed video URLs and upstream calls by the
    # thousand. Their failures still surface through our own messages.
    logging.getLogger("httpx").setLevel(logging.WARNING)
