"""How the client commands turn SDK errors and Ctrl-C into one line and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from openkling.cli.client_families import Family, task_command
from openkling.cli.connection import Connection
from openkling.cli.exits import ExitCode, fail
from openkling.client import (
    AccountError,
    APIConnectionError,
    AuthenticationError,
    InvalidParameterError,
    KlingClientError,
    NotFoundError,
    PolicyError,
    RateLimitError,
    ServerError,
    TaskFailedError,
    WaitTimeoutError,
)


@contextmanager
def sdk_errors(conn: Connection, *, family: Family = Family.TEXT2VIDEO,
               logging_in: bool = False) -> Iterator[None]:
    """Turn every SDK error into one clear line on stderr and its exit code."""
    try:
        yield
    except TaskFailedError as exc:
        fail(ExitCode.TASK_FAILED, f"task {exc.task.task_id} failed: {exc.message}")
    except WaitTimeoutError as exc:
        fail(ExitCode.TIMEOUT,
             f"{exc.message}; resume with `{task_command('wait', family, exc.task.task_id)}`")
    except AuthenticationError as exc:
        where = ("the key given to `openkling login`" if logging_in else
                 "the key (--api-key, or --access-key and --secret-key), or run "
                 "`openkling login` to save a working one")
        fail(ExitCode.AUTHENTICATION, f"authentication failed: {exc}. Check {where}.")
    except AccountError as exc:
        fail(ExitCode.ACCOUNT, f"account problem: {exc}")
    except NotFoundError as exc:
        hint = ""
        if exc.code == 1202:
            hint = f". Is --prefix right (now {conn.prefix or 'none'}; gateways use /kling)?"
        fail(ExitCode.NOT_FOUND, f"not found: {exc}{hint}")
    except (InvalidParameterError, PolicyError) as exc:
        fail(ExitCode.INVALID, f"rejected: {exc}")
    except RateLimitError as exc:
        hint = f"; retry after {exc.retry_after:g} s" if exc.retry_after is not None else ""
        fail(ExitCode.RATE_LIMITED, f"rate limited: {exc}{hint}")
    except ServerError as exc:
        fail(ExitCode.SERVER, f"server error: {exc}")
    except APIConnectionError as exc:
        fail(ExitCode.UNREACHABLE,
             f"{exc.message}. Is the server running, and are --base-url "
             f"({conn.base_url}) and --prefix ({conn.prefix or 'none'}) right?")
    except KlingClientError as exc:
        fail(ExitCode.ERROR, str(exc))


@contextmanager
def interruptible(family: Family, task_id: str) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        fail(ExitCode.INTERRUPTED,
             f"stopped waiting; task {task_id} keeps running. Resume with "
             f"`{task_command('wait', family, task_id)}`.")
