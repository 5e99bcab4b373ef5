"""The model runs in its own process: loaded once, kept warm, talked to over a pipe.

Why a process and not a thread: inference in a thread of the API process competes for the
GIL with the event loop (measured: 10-25x slower while clients poll, and polls slow down);
a separate process does not. A crash of the model process (killed, segfault, out of memory)
is seen as end-of-file on the pipe: the running task gets a TransientProviderError with a
clear message and the next task starts a fresh process. The API process never dies with it.

The other way round, the model process dies with its parent: a watchdog thread in the child
waits on a pipe whose only writer is the parent (`_exit_with_parent`). The kernel closes it when
the parent dies, however it dies (kill -9 included), so the child exits at once instead of
rendering on (on a GPU, holding the memory a restarted worker needs) until its next progress
message fails to send.

Protocol: the dataclasses of `messages.py`, pickled by multiprocessing.
    parent -> child  Generate | Stop
    child -> parent  Ready | LoadFailed, then per job Progress* and one of Done | Cancelled |
                     Failed
Cancellation is a shared Event the child checks after every denoising step.

Only the standard library is imported here; torch and diffusers load in the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from openkling.core.provider import ProviderError, TaskCancelled, TransientProviderError
from openkling.errors import OpenKlingError
from openkling.observability.metrics import MODEL_PROCESS_RESTARTS
from openkling.providers.diffusers.messages import (
    Cancelled,
    Done,
    Failed,
    FromChild,
    Generate,
    LoadFailed,
    ProcessState,
    Progress,
    Ready,
    Stop,
    ToChild,
)

log = logging.getLogger("openkling.providers.diffusers")

#: How often the waiting side wakes to look at cancellation (seconds).
POLL_SECONDS = 0.25
#: How long a stopping model process may take before it is killed (seconds).
STOP_SECONDS = 10.0
#: How often the child's watchdog also checks that its parent is the one that started it (s).
PARENT_CHECK_SECONDS = 1.0
#: The model process's exit status when it stops because its parent died.
ORPHANED_EXIT = 70

ProgressCallback = Callable[[int, int], Awaitable[None]]


class _ProcessDied(OpenKlingError):
    pass


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory or killed)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


class ModelProcess:
    """One model process (one per device), spawned on demand and restarted after a crash."""

    def __init__(self, load_config: dict[str, Any], data_dir: Path, *,
                 cancel_grace_seconds: float = 60.0) -> None:
        self.load_config = dict(load_config)
        self.data_dir = data_dir
        self.cancel_grace_seconds = cancel_grace_seconds
        self.info: dict[str, Any] = {}
        self._mp = multiprocessing.get_context("spawn")
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._cancel: Any = None  # multiprocessing Event, made per process
        self._lifeline: Connection | None = None  # its closing tells the child we are gone
        self.state = ProcessState.STOPPED
        #: Why the last load did not end READY (shown by readiness), None while it may.
        self.load_error: str | None = None
        self._loading: asyncio.Task[None] | None = None
        self._pending: str | None = None  # a job the child may still be running
        self._generating = asyncio.Lock()
        #: Held while spawning: tasks that start the process at once spawn it only once.
        self._starting = asyncio.Lock()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openkling-model-io")
        self._spawned = False

    @property
    def pid(self) -> int | None:
        """The model process id while one is running (tests and operators kill it by pid)."""
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    @property
    def busy(self) -> bool:
        """A generation is running (a provider with several devices picks an idle one)."""
        return self._generating.locked()

    @property
    def ready(self) -> bool:
        return self.state is ProcessState.READY and self.pid is not None

    async def start(self) -> None:
        """Spawn the model process unless one is running; the pipeline loads in the
        background (`state` says when it is `READY`). A model that failed to load is not
        loaded again: the cause stays in `load_error` until this object is closed."""
        async with self._starting:
            await self._start()

    async def _start(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        if self.state is ProcessState.FAILED:
            return
        self._forget()
        parent_conn, child_conn = self._mp.Pipe(duplex=True)
        watched, lifeline = self._mp.Pipe(duplex=False)  # the child reads, we only hold
        cancel = self._mp.Event()
        proc = self._mp.Process(
            target=child_main,
            args=(child_conn, cancel, self.load_config, str(self.data_dir), watched,
                  os.getpid()),
            name="openkling-model",
            daemon=True,
        )
        await asyncio.get_running_loop().run_in_executor(self._io, proc.start)
        child_conn.close()  # so that the child's death reads as end-of-file here
        watched.close()  # so that ours, closed by the kernel when we die, is the only writer
        self._proc, self._conn, self._cancel = proc, parent_conn, cancel
        self._lifeline = lifeline
        self.state = ProcessState.LOADING
        self.load_error = None
        if self._spawned:
            MODEL_PROCESS_RESTARTS.labels("diffusers").inc()
        self._spawned = True
        log.info("model process %s started for %s", proc.pid, self.load_config.get("model"))
        self._loading = asyncio.create_task(self._await_load(),
                                            name=f"openkling-model-load-{proc.pid}")

    async def _await_load(self) -> None:
        """Read the model process's first word (Ready or LoadFailed) as soon as it comes, so
        that `state` is true while no task asks (readiness reads it)."""
        while self.state is ProcessState.LOADING:
            try:
                message = await self._recv(POLL_SECONDS)
            except _ProcessDied as died:  # killed while loading: the next start tries again
                self.load_error = (f"the model process exited while loading the model ({died}); "
                                   "it will be started again for the next attempt")
                return
            except Exception as exc:  # an unreadable message: start afresh next time
                log.exception("model process %s: reading its first message failed", self.pid)
                self.load_error = f"the model process could not be read: {exc!r}"
                await self._kill()
                return
            if isinstance(message, Ready):
                self.state = ProcessState.READY
                self.info = dict(message.info)
                log.info("model process %s ready: %s", self.pid, self.info)
            elif isinstance(message, LoadFailed):
                log.error("model process %s could not load %r: %s%s", self.pid,
                          self.load_config.get("model"), message.reason,
                          f"\n{message.detail}" if message.detail else "")
                await self._reap()
                self.state = ProcessState.FAILED
                self.load_error = (f"could not load model {self.load_config.get('model')!r}: "
                                   f"{message.reason}")

    async def wait_ready(self, cancelled: asyncio.Event | None = None) -> dict[str, Any]:
        """Wait until the pipeline is loaded; raises ProviderError if it cannot be."""
        await self.start()
        while self.state is ProcessState.LOADING and self._loading is not None \
                and not self._loading.done():
            if cancelled is not None and cancelled.is_set():
                raise TaskCancelled("cancelled while the model was loading")
            await asyncio.wait({self._loading}, timeout=POLL_SECONDS)
        if self.state is ProcessState.FAILED:
            raise ProviderError(self.load_error or "the model could not be loaded")
        if self.state is not ProcessState.READY:
            raise TransientProviderError(self.load_error or "the model process is not running")
        return self.info

    async def generate(
        self,
        call: dict[str, Any],
        out_path: Path,
        on_progress: ProgressCallback,
        cancelled: asyncio.Event,
    ) -> dict[str, Any]:
        """Run one generation in the model process; returns what the child reports."""
        if self._generating.locked():
            raise RuntimeError("the model process runs one generation at a time")
        async with self._generating:
            await self.wait_ready(cancelled)
            await self._finish_pending()
            return await self._generate(call, out_path, on_progress, cancelled)

    async def _generate(self, call: dict[str, Any], out_path: Path,
                        on_progress: ProgressCallback, cancelled: asyncio.Event) -> dict[str, Any]:
        assert self._conn is not None and self._cancel is not None
        self._cancel.clear()
        job_id = uuid.uuid4().hex
        self._send(Generate(job_id=job_id, call=call, out_path=str(out_path)))
        self._pending = job_id
        deadline: float | None = None
        try:
            while True:
                if cancelled.is_set() and deadline is None:
                    self._cancel.set()
                    deadline = time.monotonic() + self.cancel_grace_seconds
                if deadline is not None and time.monotonic() > deadline:
                    log.warning("model process %s ignored cancellation; killing it", self.pid)
                    await self._kill()
                    raise TaskCancelled("cancelled (the model process was restarted to stop)")
                try:
                    message = await self._recv(POLL_SECONDS)
                except _ProcessDied as died:
                    if deadline is not None:
                        raise TaskCancelled("cancelled") from None
                    raise TransientProviderError(
                        f"the model process exited unexpectedly while generating ({died}); "
                        "it is restarted for the next attempt"
                    ) from None
                if not isinstance(message, Progress | Done | Cancelled | Failed) or (
                        message.job_id != job_id):
                    continue
                if isinstance(message, Progress):
                    await on_progress(message.step, message.total)
                    continue
                self._pending = None
                if isinstance(message, Done):
                    return dict(message.result)
                if isinstance(message, Cancelled):
                    raise TaskCancelled("cancelled")
                if message.disk_errno is not None:  # rendering again cannot make room
                    raise OSError(message.disk_errno, os.strerror(message.disk_errno),
                                  message.filename)
                if message.out_of_memory:
                    raise TransientProviderError(
                        f"out of memory while generating: {message.reason} (consider the "
                        "cpu_offload or vae_tiling options, or a smaller mode/duration)"
                    )
                raise ProviderError(f"generation failed: {message.reason}")
        except asyncio.CancelledError:
            # Our caller went away (shutdown): stop the child at the next step; the next
            # generation first waits for this one to end.
            self._cancel.set()
            raise

    async def _finish_pending(self) -> None:
        """Wait out a generation whose caller went away before it ended."""
        deadline = time.monotonic() + self.cancel_grace_seconds
        while self._pending is not None:
            if time.monotonic() > deadline:
                await self._kill()
                await self.wait_ready()
                return
            try:
                message = await self._recv(POLL_SECONDS)
            except _ProcessDied:
                await self.wait_ready()
                return
            if isinstance(message, Done | Cancelled | Failed) and message.job_id == self._pending:
                self._pending = None

    def _send(self, message: ToChild) -> None:
        assert self._conn is not None
        self._conn.send(message)

    async def _recv(self, wait_s: float) -> FromChild | None:
        """The next message, None after `wait_s` s; raises _ProcessDied on end-of-file.

        The wait happens on a helper thread so the event loop never blocks.
        """
        conn = self._conn
        if conn is None:
            raise _ProcessDied("no model process")
        loop = asyncio.get_running_loop()
        try:
            if not await loop.run_in_executor(self._io, conn.poll, wait_s):
                return None
            message: FromChild = conn.recv()
            return message
        except (EOFError, OSError):
            code = await self._reap()
            raise _ProcessDied(_describe_exit(code)) from None

    async def _reap(self) -> int | None:
        """Collect a dead (or dying) process and forget it; returns its exit code."""
        proc = self._proc
        code = None
        if proc is not None:
            await asyncio.get_running_loop().run_in_executor(self._io, proc.join, STOP_SECONDS)
            if proc.is_alive():
                proc.kill()
                await asyncio.get_running_loop().run_in_executor(self._io, proc.join, STOP_SECONDS)
            code = proc.exitcode
            log.warning("model process %s ended: %s", proc.pid, _describe_exit(code))
        self._forget()
        return code

    async def _kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
        await self._reap()

    def _forget(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._lifeline is not None:
            self._lifeline.close()
        self._proc = self._conn = self._cancel = self._lifeline = None
        self.state = ProcessState.STOPPED
        self._pending = None

    async def close(self) -> None:
        """Stop the model process: ask, then kill after STOP_SECONDS."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loading
        self._loading = None
        proc = self._proc
        if proc is not None and proc.is_alive():
            if self._cancel is not None:
                self._cancel.set()
            try:
                self._send(Stop())
            except (OSError, ValueError):
                pass
            await asyncio.get_running_loop().run_in_executor(self._io, proc.join, STOP_SECONDS)
            if proc.is_alive():
                proc.kill()
                await asyncio.get_running_loop().run_in_executor(self._io, proc.join, STOP_SECONDS)
            log.info("model process %s stopped", proc.pid)
        self._forget()


def _missing_local_folder(model: str) -> str | None:
    """Why `model` cannot be loaded, when it is plainly a local path that does not exist.

    Checked before torch is imported, so a typo fails in a fraction of a second.
    """
    if not model.startswith(("/", "./", "../", "~")) and not Path(model).is_absolute():
        return None
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return f"no such model folder: {folder}"
    if not (folder / "model_index.json").is_file():
        return f"{folder} has no model_index.json (not a diffusers pipeline folder)"
    return None


def _disk_full(exc: BaseException) -> OSError | None:
    """The full-disk error behind `exc`, if that is what it is."""
    current: BaseException | None = exc
    for _ in range(10):
        if current is None:
            return None
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current
        current = current.__cause__ or current.__context__
    return None


def _exit_with_parent(lifeline: Connection, parent_pid: int) -> None:
    """The child's watchdog: exit the whole process once the parent is gone.

    `lifeline` reads end-of-file when the parent's end closes, which the kernel does when the
    parent dies. The parent id check covers a copy of that end leaked into another process
    (then end-of-file never comes, but an orphan is adopted by another parent)."""
    while True:
        try:
            if lifeline.poll(PARENT_CHECK_SECONDS):
                lifeline.recv()  # the parent never writes: this raises EOFError
        except (EOFError, OSError):
            break
        if os.getppid() != parent_pid:
            break
    log.warning("the worker (pid %d) that started this model process is gone; exiting",
                parent_pid)
    os._exit(ORPHANED_EXIT)  # at once, whatever the main thread is rendering


def child_main(conn: Connection, cancel: Any, load_config: dict[str, Any], data_dir: str,
               lifeline: Connection, parent_pid: int) -> None:
    """Entry point of the model process: load the pipeline once, then serve generations."""
    threading.Thread(target=_exit_with_parent, args=(lifeline, parent_pid),
                     name="openkling-parent-watch", daemon=True).start()
    # Ctrl-C reaches the whole process group; the parent decides when this process stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s model[%(process)d] %(message)s")
    try:
        missing = _missing_local_folder(str(load_config.get("model", "")))
        if missing:
            raise FileNotFoundError(missing)
        from openkling.providers.diffusers.pipeline import GenerationCancelled, PipelineRunner

        runner: Any
        if load_config.get("pipeline") == "Sam2VideoModel":  # multi-elements' segmenter
            from openkling.providers.diffusers.segment import SegmentRunner

            runner = SegmentRunner.load(load_config, Path(data_dir))
        else:
            runner = PipelineRunner.load(load_config, Path(data_dir))
    except Exception as exc:
        # The worker logs it once, in its own log format (with the cause and this traceback).
        conn.send(LoadFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        conn.close()
        return
    conn.send(Ready(runner.describe()))
    while True:
        try:
            message: ToChild = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if isinstance(message, Stop):
            return
        job_id = message.job_id

        def progress(step: int, total: int, job_id: str = job_id) -> None:
            conn.send(Progress(job_id, step, total))

        try:
            result = runner.generate(message.call, Path(message.out_path), progress,
                                     cancel.is_set)
        except GenerationCancelled:
            conn.send(Cancelled(job_id))
        except Exception as exc:
            oom = runner.is_out_of_memory(exc)
            if oom:
                runner.release_memory()
            log.exception("generation failed")
            full = _disk_full(exc)
            conn.send(Failed(job_id, oom, f"{type(exc).__name__}: {exc}",
                             full.errno if full else None,
                             str(full.filename) if full and full.filename else None))
        else:
            conn.send(Done(job_id, result))
