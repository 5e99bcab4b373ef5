"""Model names -> the provider (and its options) that serves them, configured in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openkling.config import ModelRoute, Settings
from openkling.core.errors import KlingError
from openkling.core.families import catalogue

DEFAULT_DURATIONS = (5, 10)


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    provider: str
    options: dict[str, Any]
    durations: tuple[int, ...]


class ModelRegistry:
    def __init__(self, settings: Settings) -> None:
        # Every Kling model name of every family on the default provider, then `models`.
        self._routes: dict[str, ModelRoute] = {
            name: ModelRoute(provider=settings.provider,
                             durations=list(durations) if durations else None)
            for name, durations in catalogue().items()
        }
        self._routes.update(settings.models)
        self._settings = settings
        self.default_model = "kling-v1" if "kling-v1" in self._routes else next(iter(self._routes))

    @property
    def names(self) -> list[str]:
        return sorted(self._routes)

    @property
    def providers(self) -> list[str]:
        return sorted({route.provider for route in self._routes.values()})

    def resolve(self, model_name: str | None) -> ResolvedModel:
        name = model_name or self.default_model
        route = self._routes.get(name)
        if route is None:
            raise KlingError.invalid(
                "model_name", f"unknown model {name!r}; this server offers {', '.join(self.names)}"
            )
        return ResolvedModel(
            name=name,
            provider=route.provider,
            options=dict(route.options),
            durations=tuple(route.durations) if route.durations else DEFAULT_DURATIONS,
        )
