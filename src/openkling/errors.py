"""The base of every exception openkling raises on purpose (imports nothing, so every layer can
use it). Catching `OpenKlingError` catches our failures; anything else is a bug."""

from __future__ import annotations


class OpenKlingError(Exception):
    pass


class ConfigError(OpenKlingError, ValueError):
    """The configuration cannot work; the message names the setting or option."""
