"""Built-in provider names and the loader for `module:factory` providers (plugins, test doubles)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from openkling.config import Settings
from openkling.providers.base import Provider

log = logging.getLogger(__name__)

BUILTIN: dict[str, str] = {
    "diffusers": "openkling.providers.diffusers:DiffusersProvider",
    "kling": "openkling.providers.kling:KlingProvider",
}

ProviderFactory = Callable[[dict[str, Any], Settings], Provider]


class ProviderUnavailable(Exception):
    pass


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


def build_providers(names: list[str], settings: Settings) -> dict[str, Provider | Exception]:
    """Every provider the model routes name; a failure is kept (and reported) per provider."""
    built: dict[str, Provider | Exception] = {}
    for name in names:
        try:
            built[name] = build_provider(name, settings)
        except Exception as exc:
            log.error("provider %s is unavailable: %s", name, exc)
            built[name] = exc
    return built
