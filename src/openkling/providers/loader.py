"""Built-in provider names and the loader for `module:factory` providers (plugins, test doubles)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openkling.config import Settings
from openkling.core.provider import Provider
from openkling.errors import ConfigError, OpenKlingError

log = logging.getLogger(__name__)

BUILTIN: dict[str, str] = {
    "diffusers": "openkling.providers.diffusers:DiffusersProvider",
    "kling": "openkling.providers.kling:KlingProvider",
}

ProviderFactory = Callable[[dict[str, Any], Settings], Provider]


class ProviderUnavailable(OpenKlingError):
    pass


@dataclass(frozen=True)
class Providers:
    """The providers the model routes name: those built, and why each other one is not."""

    available: dict[str, Provider] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def load_factory(name: str) -> ProviderFactory:
    target = BUILTIN.get(name, name)
    module_name, sep, attr = target.partition(":")
    if not sep or not attr:
        raise ProviderUnavailable(
            f"unknown provider {name!r}: use one of {', '.join(BUILTIN)} or 'module:factory'"
        )
    try:
        module = importlib.import_module(module_name)
        factory: ProviderFactory = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ProviderUnavailable(f"provider {name!r} cannot be loaded: {exc}") from exc
    return factory


def build_provider(name: str, settings: Settings) -> Provider:
    factory = load_factory(name)
    return factory(dict(settings.provider_options.get(name, {})), settings)


def build_providers(names: list[str], settings: Settings) -> Providers:
    """Every provider the model routes name. Invalid options stop the start-up (ConfigError
    naming `provider_options.<name>` and the field); a provider that cannot load (a missing
    extra, a bad plugin path) is kept as unavailable with its reason, so it does not take the
    other providers' models down."""
    built = Providers()
    for name in names:
        try:
            built.available[name] = build_provider(name, settings)
        except ValueError as exc:  # includes pydantic's ValidationError
            raise ConfigError(f"provider_options.{name}: {exc}") from exc
        except Exception as exc:
            log.error("provider %s is unavailable: %s", name, exc)
            built.unavailable[name] = str(exc) or type(exc).__name__
    return built
