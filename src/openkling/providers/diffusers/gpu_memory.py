"""The GPU memory found at start-up, read without torch (the API process never imports it).

`nvidia-smi` reports each GPU's total memory; `model = "auto"` picks the model from it
(catalogue.auto_model). No `nvidia-smi`, no GPU, or a CPU among the configured devices:
None, and `auto` falls back to the small default model.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

#: Reads the memory of the GPUs the model processes use; None where one of them is no GPU.
MemoryReader = Callable[[Sequence[str]], "int | None"]


@functools.lru_cache(maxsize=1)
def _totals() -> dict[int, int]:
    """Total memory (bytes) per physical GPU index, as nvidia-smi lists them; {} without."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {}
    try:
        out = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [smi, "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    totals = {}
    for line in out.splitlines():
        index, _, mib = line.partition(",")
        if index.strip().isdigit() and mib.strip().isdigit():
            totals[int(index)] = int(mib) * 1024**2
    return totals


def _physical(index: int) -> int | None:
    """The nvidia-smi index of CUDA device `index` under CUDA_VISIBLE_DEVICES."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return index
    listed = [part.strip() for part in visible.split(",") if part.strip()]
    if index >= len(listed) or not listed[index].isdigit():
        return None  # hidden, or named by UUID: unknown here
    return int(listed[index])


def gpu_memory(devices: Sequence[str]) -> int | None:
    """The smallest total memory among `devices` ('auto', 'cuda', 'cuda:N'), or None."""
    totals = _totals()
    found = []
    for device in devices:
        if device == "auto" and not totals:
            return None
        base, _, number = device.partition(":")
        if base not in ("auto", "cuda"):
            return None
        physical = _physical(int(number) if number.isdigit() else 0)
        if physical is None or physical not in totals:
            return None
        found.append(totals[physical])
    return min(found, default=None)
