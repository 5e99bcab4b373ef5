"""openkling: a self-hostable, Kling-API-compatible video generation service."""

__version__ = "0.1.0"

__all__ = ["__version__"]
