"""Where a client command's server and key come from: flags, environment, the login file.

The five connection flags are declared here once; `connection_options` adds them to a
command. The login file is TOML, mode 0600, in the user's config directory (docs/client.md).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import platformdirs
import typer

from openkling.cli.exits import ExitCode, fail
from openkling.client import (
    DEFAULT_BASE_URL,
    ENV_ACCESS_KEY,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_PREFIX,
    ENV_SECRET_KEY,
    KlingClient,
    normalize_prefix,
)

#: Where `openkling login` keeps its settings unless this variable names another file.
ENV_CLIENT_CONFIG = "OPENKLING_CLIENT_CONFIG"

#: The connection flags of every client command, by parameter name.
_FLAGS: dict[str, Any] = {
    "base_url": Annotated[
        str | None,
        typer.Option("--base-url", envvar=ENV_BASE_URL, show_default=False,
                     help=f"API server URL (default: the login file's, else "
                     f"{DEFAULT_BASE_URL})."),
    ],
    "prefix": Annotated[
        str | None,
        typer.Option("--prefix", envvar=ENV_PREFIX, show_default=False,
                     help='Path prefix: "" for openkling or official Kling, "/kling" for '
                     "gateways."),
    ],
    "api_key": Annotated[
        str | None,
        typer.Option("--api-key", envvar=ENV_API_KEY, show_default=False,
                     help="Static bearer API key (openkling or a gateway)."),
    ],
    "access_key": Annotated[
        str | None,
        typer.Option("--access-key", envvar=ENV_ACCESS_KEY, show_default=False,
                     help="Kling access key (with --secret-key: signs JWTs)."),
    ],
    "secret_key": Annotated[
        str | None,
        typer.Option("--secret-key", envvar=ENV_SECRET_KEY, show_default=False,
                     help="Kling secret key (with --access-key)."),
    ],
}


@dataclass(frozen=True)
class ConnectionFlags:
    """The connection flags as given (flag or environment variable); None when unset."""

    base_url: str | None = None
    prefix: str | None = None
    api_key: str | None = None
    access_key: str | None = None
    secret_key: str | None = None

    @property
    def has_key(self) -> bool:
        return bool(self.api_key or self.access_key or self.secret_key)


def connection_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the five connection flags to a Typer command, which receives them as one
    keyword argument `flags: ConnectionFlags` instead of five parameters of its own."""
    signature = inspect.signature(command, eval_str=True)
    own = [param for param in signature.parameters.values() if param.name != "flags"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint)
        for name, hint in _FLAGS.items()
    ]

    @functools.wraps(command)
    def with_flags(*args: Any, **kwargs: Any) -> None:
        flags = ConnectionFlags(**{name: kwargs.pop(name, None) for name in _FLAGS})
        command(*args, flags=flags, **kwargs)

    # Typer reads the parameters from the signature and the annotations.
    with_flags.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *added]
    )
    with_flags.__annotations__ = {param.name: param.annotation for param in [*own, *added]}
    return with_flags


def config_path() -> Path:
    override = os.environ.get(ENV_CLIENT_CONFIG)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path("openkling") / "client.toml"


def read_config(path: Path) -> dict[str, str]:
    """The login file's string settings; a missing file is an empty one."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        fail(ExitCode.USAGE, f"cannot read the login file {path}: {exc}")
    return {key: value for key, value in data.items() if isinstance(value, str)}


def write_config(path: Path, values: dict[str, str]) -> None:
    """Write the login file readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = ["# openkling client settings, written by `openkling login`"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    partial = path.with_name(path.name + ".tmp")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(partial, path)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class Connection:
    base_url: str
    prefix: str
    api_key: str | None
    access_key: str | None
    secret_key: str | None

    @classmethod
    def resolve(cls, flags: ConnectionFlags) -> Connection:
        """Flags and environment first; the login file fills what they leave unset. Keys are
        taken as a set: any key given on the command line replaces all the file's keys."""
        complete = flags.base_url and flags.prefix is not None and flags.has_key
        saved = {} if complete else read_config(config_path())
        api_key, access_key, secret_key = flags.api_key, flags.access_key, flags.secret_key
        if not flags.has_key:
            api_key = saved.get("api_key") or None
            access_key = saved.get("access_key") or None
            secret_key = saved.get("secret_key") or None
        prefix = flags.prefix if flags.prefix is not None else saved.get("prefix", "")
        return cls(
            base_url=flags.base_url or saved.get("base_url") or DEFAULT_BASE_URL,
            prefix=normalize_prefix(prefix),
            api_key=api_key,
            access_key=access_key,
            secret_key=secret_key,
        )

    @property
    def has_key(self) -> bool:
        return bool(self.api_key or self.access_key or self.secret_key)

    def client(self) -> KlingClient:
        if not self.has_key:
            fail(ExitCode.AUTHENTICATION,
                 "no credentials: pass --api-key (or --access-key and --secret-key), set "
                 f"{ENV_API_KEY}, or run `openkling login`")
        try:
            return KlingClient(
                base_url=self.base_url, prefix=self.prefix, api_key=self.api_key,
                access_key=self.access_key, secret_key=self.secret_key,
            )
        except ValueError as exc:
            fail(ExitCode.USAGE, str(exc))

    def environment(self) -> dict[str, str]:
        """This connection as the environment variables the SDK and the CLI read."""
        values = {ENV_BASE_URL: self.base_url}
        if self.prefix:
            values[ENV_PREFIX] = self.prefix
        if self.api_key:
            values[ENV_API_KEY] = self.api_key
        if self.access_key and self.secret_key:
            values[ENV_ACCESS_KEY] = self.access_key
            values[ENV_SECRET_KEY] = self.secret_key
        return values
