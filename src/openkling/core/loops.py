"""Background loops that survive their failures, and notice when one does not.

Every loop turn that raises (database restarting, disk full, network down) is logged the
repeating-failure way (first with traceback, then a count a minute, then "recovered"), counted
in `openkling_loop_failures_total`, and retried after an exponential, jittered backoff. A loop
that ends anyway (a bug outside its turn) is reported to `on_death`: readiness turns 503 and
the process exits non-zero, so a supervisor restarts it instead of it idling forever.

It lives in `core` because providers run loops too (the relay's tracker): the worker attaches
its supervisor to a provider that `RunsLoops` (`core/provider.py`), so those loops show in
readiness and a dying one stops the process like the worker's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from openkling.core.backoff import keep_trying
from openkling.observability.failures import RepeatingFailure
from openkling.observability.metrics import LOOP_FAILURES

log = logging.getLogger(__name__)

#: A loop turn: does one round of work, returns how long to wait before the next one.
Turn = Callable[[], Awaitable[float]]


def _any_failure(_: BaseException) -> bool:
    return True


@dataclass
class LoopState:
    name: str
    failure: RepeatingFailure
    last_ok: float = field(default_factory=time.monotonic)
    dead: str | None = None  # why the loop ended, when it did

    @property
    def failing(self) -> bool:
        return self.failure.failing

    def describe(self) -> str:
        if self.dead is not None:
            return f"dead: {self.dead}"
        if self.failing:
            return f"failing: {self.failure.last_error}"
        return "ok"


class Loops:
    """The background loops of one process."""

    def __init__(self, *, on_death: Callable[[str, str], None] | None = None,
                 backoff_base: float = 0.5, backoff_cap: float = 5.0) -> None:
        self.on_death = on_death
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.states: dict[str, LoopState] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def spawn(self, name: str, turn: Turn, *, wake: asyncio.Event | None = None) -> None:
        state = LoopState(name, RepeatingFailure(logging.getLogger(f"openkling.loop.{name}"),
                                                 f"loop {name}"))
        self.states[name] = state
        task = asyncio.create_task(self._run(state, turn, wake), name=f"openkling-{name}")
        task.add_done_callback(lambda t: self._ended(state, t))
        self._tasks.append(task)

    async def _run(self, state: LoopState, turn: Turn, wake: asyncio.Event | None) -> None:
        async def pause(seconds: float) -> None:
            if wake is None:
                await asyncio.sleep(seconds)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), seconds)
            wake.clear()

        while not self._stopping:
            # Whatever a turn's failure (database restarting, disk full, network down), the
            # loop goes on: the next turn may succeed, and a loop that stops is worse.
            wait = await keep_trying(
                turn, down=_any_failure, failure=state.failure,
                stopping=lambda: self._stopping,
                on_failure=lambda _: LOOP_FAILURES.labels(state.name).inc(),
                pause=pause, base=self.backoff_base, cap=self.backoff_cap)
            state.last_ok = time.monotonic()
            await pause(wait)

    def _ended(self, state: LoopState, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        state.dead = f"{type(exc).__name__}: {exc}" if exc else "returned"
        log.critical("background loop %s ended (%s); this process can no longer do its work",
                     state.name, state.dead, exc_info=exc)
        if self.on_death is not None:
            self.on_death(state.name, state.dead)

    def health(self) -> dict[str, str]:
        return {name: state.describe() for name, state in self.states.items()}

    @property
    def all_alive(self) -> bool:
        return all(state.dead is None for state in self.states.values())

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
