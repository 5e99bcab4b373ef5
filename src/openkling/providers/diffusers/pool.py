"""ModelPool: the model processes of one load config, one per device.

Every local model runs this way, whatever its family: the provider's own text-to-video model
(started with the worker) and each other model a family or a route names (started on its
first task). A device renders one generation at a time, so a task takes an idle process and
gives it back when done; a crashed process is started again for the next task while the
others keep rendering.

Only the standard library is imported here (through model_process.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from openkling.core.provider import ProviderStatus, TransientProviderError
from openkling.providers.diffusers.messages import ProcessState
from openkling.providers.diffusers.model_process import ModelProcess


class ModelPool:
    """One load config on each of `devices`: a model process per device and a queue of the
    idle ones."""

    def __init__(self, load_config: dict[str, Any], devices: Sequence[str], data_dir: Path, *,
                 cancel_grace_seconds: float = 60.0) -> None:
        self.model = str(load_config.get("model"))
        #: One per device, in the order of `devices`.
        self.processes = [
            ModelProcess({**load_config, "device": device, "devices": None}, data_dir,
                         cancel_grace_seconds=cancel_grace_seconds)
            for device in devices
        ]
        self._idle: asyncio.Queue[ModelProcess] = asyncio.Queue()
        for process in self.processes:
            self._idle.put_nowait(process)

    async def start(self) -> None:
        """Spawn every process that is not running (a model that failed to load stays
        failed); the pipelines load in the background."""
        for process in self.processes:
            await process.start()

    @asynccontextmanager
    async def take(self) -> AsyncIterator[ModelProcess]:
        """An idle process, for one generation; waits while all are busy. A process that
        crashed under it (a TransientProviderError with no process left) is started again
        at once, so the model is loading for the next task."""
        await self.start()
        process = await self._idle.get()
        try:
            yield process
        except TransientProviderError:
            if process.pid is None:
                await process.start()
            raise
        finally:
            self._idle.put_nowait(process)

    def status(self) -> ProviderStatus:
        """One process whose model cannot load makes the pool `failed` (a misconfiguration to
        fix, not retried); one that is ready is enough to take work; until then `loading`."""
        failed = [p.load_error for p in self.processes if p.state is ProcessState.FAILED]
        if failed:
            return ProviderStatus("failed", failed[0])
        if any(p.state is ProcessState.READY for p in self.processes):
            return ProviderStatus("ready")
        why = next((p.load_error for p in self.processes if p.load_error), None)
        return ProviderStatus("loading", why or f"the model process is loading {self.model}")

    async def close(self) -> None:
        """Stop every process; a later `take` starts them again."""
        for process in self.processes:
            await process.close()
