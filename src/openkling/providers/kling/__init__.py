"""The `kling` provider: relays tasks to real Kling accounts (or another openkling)."""

from openkling.providers.kling.provider import KlingProvider, factory

__all__ = ["KlingProvider", "factory"]
