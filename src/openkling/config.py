"""The one configuration object: `OPENKLING_*` variables, an optional TOML file, CLI overrides.

Precedence, highest first: values passed in code (the CLI's flags), environment variables,
the TOML file named by `OPENKLING_CONFIG`, the defaults below. `docs/configuration.md` lists
every field. An unknown key (a typo in the TOML file, under `[models.*]`, or passed in code) is
an error naming the key. Unknown `OPENKLING_*` environment variables are not: the namespace is
shared with the SDK and CLI (`OPENKLING_API_KEY`, `OPENKLING_BASE_URL`, ...) and plugins.
Provider options are validated by each provider's own Pydantic model when the process starts
(`openkling.providers.loader`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: Units per second of video, per image or per task; see core/costs.py.
DEFAULT_UNIT_PRICES: dict[str, float] = {
    "videos/text2video/std": 0.2,
    "videos/text2video/pro": 0.7,
    "videos/image2video/std": 0.2,
    "videos/image2video/pro": 0.7,
    "images/generations": 0.25,
    "default": 1.0,
}

class ModelRoute(BaseModel):
    """Where one model name goes: a provider and the options it runs with."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    options: dict[str, Any] = Field(default_factory=dict)
    durations: list[int] | None = Field(
        None, description="Allowed durations in seconds; default 5 and 10."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPENKLING_", env_nested_delimiter="__", extra="forbid"
    )

    # Serving
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("openkling-data")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default SQLite at <data_dir>/openkling.db."
    )
    public_url: str | None = Field(
        None, description="Base URL clients reach this server at (behind a proxy); default "
        "http://<host>:<port>."
    )
    secret_key: str | None = Field(
        None, description="Master secret (signs file URLs, encrypts JWT secrets); default a "
        "random key kept in <data_dir>/secret.key."
    )
    log_level: str = "info"
    log_format: Literal["plain", "json"] = Field(
        "plain", description="`json`: one JSON object a line, for log shippers."
    )
    failure_log_seconds: float = Field(
        60.0, gt=0, description="How often a failure that repeats across requests (one cause: "
        "a full disk under every create) is summarised in the log, after the first occurrence "
        "with its traceback."
    )
    metrics_token: str | None = Field(
        None, description="Bearer token `GET /metrics` requires; unset: loopback clients only."
    )
    request_head_timeout_seconds: float = Field(
        10.0, gt=0, description="A client must send its whole request line and headers within "
        "this many seconds of connecting or of starting its next request; a slower one gets 408 "
        "and is closed."
    )
    request_body_timeout_seconds: float = Field(
        120.0, gt=0, description="A request's body must arrive in full within this many "
        "seconds of its headers; a slower one gets 408 and is closed."
    )
    max_connections: int = Field(
        0, ge=0, description="Open client connections one API process keeps at most; at the cap "
        "a new connection closes the one that has waited longest for a request. 0: automatic, "
        "three quarters of the open-file limit (RLIMIT_NOFILE) with at least 128 files left for "
        "the database, storage and outbound requests; a larger value is lowered to that."
    )
    tls_certfile: Path | None = Field(
        None, description="PEM certificate chain: `openkling serve` answers HTTPS (only) with "
        "it; unset: plain HTTP (TLS at a reverse proxy). Its key too, unless `tls_keyfile`."
    )
    tls_keyfile: Path | None = Field(
        None, description="PEM private key of `tls_certfile`, when not in the same file."
    )
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, description="Request line and headers larger than this get 431."
    )
    retention_days: float = Field(
        30.0, ge=0, description="Finished tasks (files and rows) older than this are deleted; "
        "0 keeps them forever."
    )
    retention_interval_seconds: float = Field(
        3600.0, gt=0, description="How often each worker looks for finished tasks past "
        "`retention_days` (seconds, with 10% jitter)."
    )

    # Engine
    embedded_worker: bool = Field(True, description="Run a worker inside `openkling serve`.")
    poll_interval: float = Field(1.0, gt=0, description="Idle worker's look for new tasks, s.")
    lease_seconds: float = Field(60.0, gt=0)
    heartbeat_seconds: float = Field(10.0, gt=0)
    worker_stale_seconds: float | None = Field(
        None, gt=0, description="A worker whose last heartbeat is older than this counts as "
        "dead (`/readyz` `workers`, `openkling_workers_alive`); longer than heartbeat_seconds. "
        "Default: 60, or 3 heartbeats when that is longer."
    )
    max_attempts: int = Field(3, ge=1)
    retry_base_seconds: float = Field(2.0, ge=0)
    retry_max_seconds: float = Field(300.0, ge=0)
    shutdown_grace_seconds: float = Field(20.0, ge=0)

    # Limits (per account, for the whole deployment)
    max_unfinished_tasks: int = Field(50, ge=1)
    rate_limit_per_second: float = Field(50.0, gt=0)
    rate_limit_burst: int = Field(100, ge=1)
    redis_url: str | None = Field(
        None, description="redis://host:port/db shared by every API process for the request "
        "rate limit; default: the database on PostgreSQL, this process's memory on SQLite."
    )
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    auth_cache_seconds: float = Field(
        2.0, ge=0, description="How long a verified key is trusted without a database read."
    )

    # Callbacks
    allow_private_callbacks: bool = False
    callback_timeout: float = Field(10.0, gt=0)
    callback_retry_seconds: float = Field(
        3600.0, ge=0, description="Give up on a callback this long after its first try."
    )

    # Quotas
    unit_prices: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_UNIT_PRICES),
        description="Units per second of video / per image / per task, keyed "
        "'<family>/<mode>', '<family>' or 'default'.",
    )

    accept_ignored_fields: list[str] = Field(
        default_factory=list, description="Optional fields a provider cannot honour that are "
        "accepted and ignored (the task says so in task_status_msg) instead of refused.",
    )

    # Input images (image2video, images/generations)
    allow_private_image_urls: bool = Field(
        False, description="Allow image URLs that resolve to non-public addresses."
    )
    max_image_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Most a create body carrying images (or "
        "other media) may be: each family's own limit is room for the files it carries "
        "(10 MB each as base64), up to this.",
    )
    image_fetch_seconds: float = Field(
        20.0, gt=0, description="Time limit for downloading one input image URL."
    )

    # Storage
    storage: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = Field(
        None, description="For S3-compatible services (MinIO, R2, ...); default AWS."
    )
    s3_public_endpoint_url: str | None = Field(
        None, description="Endpoint put in presigned video URLs, when clients reach the S3 "
        "service at another address than openkling does; default `s3_endpoint_url`."
    )
    s3_region: str | None = None
    url_ttl_seconds: int = Field(24 * 3600, ge=1)

    # Providers and models
    provider: str = Field(
        "diffusers", description="Provider serving every Kling model name unless `models` "
        "says otherwise: a built-in name or `module:factory`."
    )
    provider_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    models: dict[str, ModelRoute] = Field(default_factory=dict)

    # The OpenAI Videos API (/v1/videos)
    openai_models: dict[str, str] = Field(
        default_factory=lambda: {"sora-2": "kling-v1", "sora-2-pro": "kling-v1"},
        description="OpenAI model names -> the model (a Kling name or a `models` entry) that "
        "serves them on /v1/videos; a dated snapshot (sora-2-2025-10-06) maps as its base name, "
        "and a name this server serves maps to itself.",
    )

    @model_validator(mode="after")
    def _secret_key_not_blank(self) -> Settings:
        # A blank value (an unfilled secret.env or .env) would silently mean "a key of this
        # process's own in <data_dir>": API pods and workers could not read each other's
        # encrypted secrets.
        if self.secret_key is not None and not self.secret_key.strip():
            raise ValueError(
                "secret_key (OPENKLING_SECRET_KEY) is set but blank: set a long random value, "
                "the same for every process, or unset it to keep one in <data_dir>/secret.key"
            )
        return self

    @model_validator(mode="after")
    def _tls_key_with_its_certificate(self) -> Settings:
        if self.tls_keyfile is not None and self.tls_certfile is None:
            raise ValueError("tls_keyfile (OPENKLING_TLS_KEYFILE) is set without tls_certfile "
                             "(OPENKLING_TLS_CERTFILE): set the certificate too")
        return self

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> Settings:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds:g}) must be shorter than "
                f"lease_seconds ({self.lease_seconds:g}), or every lease expires between "
                "heartbeats and tasks run twice"
            )
        if self.worker_stale_seconds is not None and \
                self.worker_stale_seconds <= self.heartbeat_seconds:
            raise ValueError(
                f"worker_stale_seconds ({self.worker_stale_seconds:g}) must be longer than "
                f"heartbeat_seconds ({self.heartbeat_seconds:g}), or live workers look dead "
                "between their heartbeats"
            )
        return self

    @property
    def worker_stale_limit(self) -> float:
        """`worker_stale_seconds`, or its default: 60 s, or 3 heartbeats when longer."""
        if self.worker_stale_seconds is not None:
            return self.worker_stale_seconds
        return max(60.0, 3 * self.heartbeat_seconds)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("OPENKLING_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'openkling.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls_certfile else "http"
        return f"{scheme}://{host}:{self.port}"
