"""Local video generation with diffusers (Wan 2.1 by default), in a separate model process.

Importing this package stays light (no torch, no diffusers): they load in the model process.
"""

from openkling.providers.diffusers.model_options import DEFAULT_MODEL, TINY_MODEL, DiffusersOptions
from openkling.providers.diffusers.provider import DiffusersProvider

__all__ = ["DEFAULT_MODEL", "TINY_MODEL", "DiffusersOptions", "DiffusersProvider"]
