"""How an OpenAI create's `model`, `size` and `seconds` become a Kling request (docs/api.md,
"OpenAI: models, sizes, durations"). Pure rules, so each boundary is tested on both sides.

- `model`: the `openai_models` setting maps a name to a model this server serves (default:
  `sora-2` and `sora-2-pro` -> `kling-v1`); a dated snapshot (`sora-2-2025-10-06`) maps as its
  base name; any other name must be a model this server serves. Otherwise 400 naming `model`.
- `size` "WxH" (each side 256..1920): the Kling aspect ratio (16:9, 9:16, 1:1) within 2 % of
  W/H; `mode` is `pro` when the longer side is over 1280 (1080p), else `std`.
- `seconds`: a whole number 1..60; the video runs for the shortest duration the model offers
  that is at least that long (kling-v1: 4 -> 5, 8 -> 10; 12 has none: 400 naming `seconds`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from openkling.errors import OpenKlingError

DEFAULT_MODEL = "sora-2"
DEFAULT_SIZE = "720x1280"
DEFAULT_SECONDS = "4"
#: Kling's aspect ratios, as width / height.
ASPECT_RATIOS: dict[str, float] = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}
ASPECT_TOLERANCE = 0.02
MIN_SIDE, MAX_SIDE = 256, 1920
#: The longer side above which a video is made in Kling's `pro` mode (1080p).
PRO_ABOVE = 1280
MAX_SECONDS = 60

_SIZE = re.compile(r"([0-9]{1,5})x([0-9]{1,5})")
_SNAPSHOT = re.compile(r"(.+)-[0-9]{4}-[0-9]{2}-[0-9]{2}")


class MappingError(OpenKlingError, ValueError):
    """A value no provider here can honour: `param` names the OpenAI parameter."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class SizeRule:
    aspect_ratio: str
    mode: str


def map_model(name: str, aliases: Mapping[str, str], served: Sequence[str]) -> str:
    """The openkling model an OpenAI model name runs on."""
    if name in aliases:
        return aliases[name]
    snapshot = _SNAPSHOT.fullmatch(name)
    if snapshot is not None and snapshot.group(1) in aliases:
        return aliases[snapshot.group(1)]
    if name in served:
        return name
    offered = sorted({*aliases, *served})
    raise MappingError("model", f"unknown model {name!r}; this server offers "
                       f"{', '.join(offered)}")


def map_size(size: str) -> SizeRule:
    """`WxH` -> Kling's aspect ratio and mode."""
    match = _SIZE.fullmatch(size)
    if match is None:
        raise MappingError("size", f"{size!r} is not WIDTHxHEIGHT in pixels, e.g. 1280x720")
    width, height = int(match.group(1)), int(match.group(2))
    for side in (width, height):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise MappingError("size", f"{size}: each side must be {MIN_SIDE}..{MAX_SIDE} "
                               "pixels")
    ratio = width / height
    for name, target in ASPECT_RATIOS.items():
        if abs(ratio / target - 1) <= ASPECT_TOLERANCE:
            return SizeRule(name, "pro" if max(width, height) > PRO_ABOVE else "std")
    raise MappingError("size", f"{size} is not 16:9, 9:16 or 1:1 (within 2 %); e.g. "
                       "1280x720, 720x1280, 1024x1024")


def map_seconds(seconds: str, durations: Sequence[int], model: str) -> int:
    """The shortest duration `model` offers that lasts at least `seconds`."""
    if not (seconds.isascii() and seconds.isdigit()) or not 1 <= int(seconds) <= MAX_SECONDS:
        raise MappingError("seconds", f"{seconds!r} is not a whole number of seconds in "
                           f"1..{MAX_SECONDS}")
    wanted = int(seconds)
    longer = [d for d in sorted(durations) if d >= wanted]
    if not longer:
        raise MappingError("seconds", f"{model} on this server makes videos of at most "
                           f"{max(durations)} seconds")
    return longer[0]
