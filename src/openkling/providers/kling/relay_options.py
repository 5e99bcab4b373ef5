"""Options of the `kling` relay provider: upstream channels and how we treat them.

Options arrive as a plain dict (from `[provider_options.kling]` in the TOML file or from
`OPENKLING_PROVIDER_OPTIONS__KLING__*` variables), so everything is validated here, once,
when the provider is built: a misconfigured relay fails at start, not on the first task.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from openkling.core.families import FAMILIES, TEXT2VIDEO

DEFAULT_BASE_URL = "https://api-singapore.klingai.com"

#: Top-level option keys that describe a single channel (the short form for env variables).
_SINGLE_CHANNEL_KEYS = (
    "base_url", "path_prefix", "access_key", "secret_key", "api_key", "max_concurrency", "models",
    "families",
)
#: Short-form keys that may be given as a comma-separated string (environment variables).
_LIST_KEYS = ("models", "families")


class ChannelOptions(BaseModel):
    """One upstream account: where it is, how to authenticate, how much it may carry."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=64)
    base_url: str = DEFAULT_BASE_URL
    path_prefix: str = Field("", description='"" for Kling itself, "/kling" for gateways.')
    access_key: str | None = None
    secret_key: SecretStr | None = None
    api_key: SecretStr | None = Field(None, description="Static bearer key (gateways).")
    weight: float = Field(1.0, gt=0)
    priority: int = Field(0, description="Higher is tried first.")
    max_concurrency: int = Field(5, ge=1, description="Unfinished upstream tasks at once.")
    models: list[str] | None = Field(None, description="Model names served; None = all.")
    families: list[str] | None = Field(
        None, description='Task families served (paths such as "videos/image2video"); '
        "None = every family."
    )
    max_queries_per_second: float = Field(20.0, gt=0, description="Pacing of status queries.")
    timeout: float = Field(30.0, gt=0, description="Seconds per upstream HTTP call.")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            value = "/" + value
        return value

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        paths = [path.strip().strip("/") for path in value]
        unknown = [path for path in paths if path not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown family {unknown[0]!r}; known: {', '.join(FAMILIES)}")
        return paths

    @model_validator(mode="after")
    def _one_credential(self) -> ChannelOptions:
        pair = self.access_key is not None or self.secret_key is not None
        if pair and (not self.access_key or self.secret_key is None):
            raise ValueError(f"channel {self.name}: access_key and secret_key go together")
        if pair == (self.api_key is not None):
            raise ValueError(
                f"channel {self.name}: give either access_key + secret_key or api_key"
            )
        return self

    def serves(self, model_name: str, family: str = TEXT2VIDEO) -> bool:
        return (self.models is None or model_name in self.models) and \
            (self.families is None or family in self.families)


class KlingOptions(BaseModel):
    """Relay behaviour. Durations are seconds."""

    model_config = ConfigDict(extra="forbid")

    channels: list[ChannelOptions] = Field(..., min_length=1)
    rehost: bool = Field(True, description="Copy finished videos into our storage.")
    max_download_bytes: int = Field(512 * 1024 * 1024, ge=1)
    download_timeout: float = Field(300.0, gt=0)
    concurrency: int = Field(10000, ge=1, description="Relay tasks one worker runs at once.")
    callbacks: bool = Field(True, description="Register our callback URL when public_url is set.")
    # Tracking
    first_poll_after: float = Field(2.0, gt=0)
    max_poll_interval: float = Field(8.0, gt=0)
    list_interval: float = Field(2.0, gt=0, description="Batched status sweep per channel.")
    list_page_size: int = Field(500, ge=1, le=500)
    max_list_pages: int = Field(40, ge=1)
    poll_concurrency: int = Field(32, ge=1, description="Status queries in flight at once.")
    max_connections: int = Field(32, ge=1, description="Upstream HTTP requests at once.")
    event_interval: float = Field(0.5, gt=0, description="How often callbacks are picked up.")
    max_task_seconds: float = Field(6 * 3600.0, gt=0, description="Give up on an upstream task.")
    # Retries
    submit_retries: int = Field(3, ge=0, description="Retries of one channel on 5xx/timeouts.")
    retry_base: float = Field(1.0, ge=0)
    retry_max: float = Field(30.0, ge=0)
    busy_retry_after: float = Field(3.0, gt=0, description="Back-off after 429/1302/1303.")

    @field_validator("channels", mode="before")
    @classmethod
    def _channels_json(cls, value: Any) -> Any:
        """Environment variables carry the channel list as a JSON string."""
        if isinstance(value, str):
            return json.loads(value)
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> KlingOptions:
        names = [c.name for c in self.channels]
        if len(names) != len(set(names)):
            raise ValueError("channel names must be unique")
        return self

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> KlingOptions:
        """Accept the full form (`channels = [...]`) or one channel given by top-level keys."""
        data = dict(raw)
        single = {k: data.pop(k) for k in _SINGLE_CHANNEL_KEYS if k in data}
        if single:
            if "channels" in data:
                raise ValueError("give either channels or a single channel's keys, not both")
            single.setdefault("name", "default")
            for key in _LIST_KEYS:
                if isinstance(single.get(key), str):
                    single[key] = [m.strip() for m in single[key].split(",") if m.strip()]
            data["channels"] = [single]
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            # pydantic's own message quotes the input, which holds the secrets: rebuild it.
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"invalid kling provider options: {problems}") from None
