"""`openkling serve`, `openkling worker`, `openkling migrate`."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from openkling.cli.server_options import (
    DatabaseUrl,
    DataDir,
    Devices,
    settings_from,
    setup_logging,
    with_diffusers_options,
)
from openkling.config import Settings


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.command()(migrate)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env: OPENKLING_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: OPENKLING_PORT]")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    provider: Annotated[
        str | None,
        typer.Option(help="Provider for the Kling model names: diffusers, kling, or "
                     "module:factory [env: OPENKLING_PROVIDER]"),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="diffusers provider: model id, local folder or tiny-random-wan "
                     "[env: OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL]"),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="diffusers provider: auto, cuda, cuda:N or cpu "
                     "[env: OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE]"),
    ] = None,
    devices: Devices = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="URL clients reach this server at [env: OPENKLING_PUBLIC_URL]"),
    ] = None,
    worker: Annotated[
        bool | None,
        typer.Option("--worker/--no-worker",
                     help="Run a worker in this process [env: OPENKLING_EMBEDDED_WORKER]"),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="[env: OPENKLING_LOG_LEVEL]")] = None,
    tls_certfile: Annotated[
        Path | None,
        typer.Option(help="PEM certificate chain: serve HTTPS [env: OPENKLING_TLS_CERTFILE]"),
    ] = None,
    tls_keyfile: Annotated[
        Path | None,
        typer.Option(help="PEM key, when not in the certificate file "
                     "[env: OPENKLING_TLS_KEYFILE]"),
    ] = None,
) -> None:
    """Serve the Kling API (and, by default, run a worker in the same process)."""
    import uvicorn

    from openkling.api.app import create_app
    from openkling.api.http_protocol import bounded_http_protocol, connection_cap, tls_context

    settings = settings_from(
        host=host, port=port, data_dir=data_dir, database_url=database_url, provider=provider,
        public_url=public_url, embedded_worker=worker, log_level=log_level,
        tls_certfile=tls_certfile, tls_keyfile=tls_keyfile,
    )
    settings = with_diffusers_options(settings, model=model, device=device, devices=devices)
    setup_logging(settings)
    # TLS is the protocol's, not uvicorn's (whose handshakes escape the deadlines and the cap:
    # api/http_protocol.py); a bad certificate or key stops the start here.
    tls = None
    if settings.tls_certfile is not None:
        tls = tls_context(str(settings.tls_certfile),
                          str(settings.tls_keyfile) if settings.tls_keyfile else None)
        logging.getLogger("openkling").info("serving HTTPS (TLS) on port %d", settings.port)
    fatal: list[str] = []
    app = create_app(settings, on_fatal=_exit_on_fatal(fatal))
    # What the imports built lives as long as the process: out of the collector's sight, a
    # full collection no longer walks all of it (~100 ms with the event loop stopped, once in
    # a while under load: the p99 of polls).
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep setup_logging's handler (and its redaction filter)
        access_log=False,  # ours (api/middleware.py) has the request id, account and latency
        http=bounded_http_protocol(
            settings.max_header_bytes, head_timeout=settings.request_head_timeout_seconds,
            body_timeout=settings.request_body_timeout_seconds,
            max_connections=connection_cap(settings.max_connections), tls=tls),
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 15,
        # Under TLS, asyncio's loop: the protocol pauses a new connection's reading until
        # start_tls takes it over, which uvloop ignores (it starts reading after
        # connection_made whatever the protocol asked), so the ClientHello would reach the
        # HTTP parser. Plain HTTP keeps uvloop ("auto").
        loop="asyncio" if tls is not None else "auto",
    )
    if fatal:
        typer.echo(f"openkling serve stopped: {fatal[0]}", err=True)
        raise typer.Exit(1)


def _exit_on_fatal(fatal: list[str]) -> Callable[[str], None]:
    """Record why, then stop the server the way a supervisor would (SIGTERM: graceful)."""

    def on_fatal(reason: str) -> None:
        fatal.append(reason)
        os.kill(os.getpid(), signal.SIGTERM)

    return on_fatal


def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    provider: Annotated[str | None, typer.Option(help="[env: OPENKLING_PROVIDER]")] = None,
    devices: Devices = None,
    log_level: Annotated[str | None, typer.Option(help="[env: OPENKLING_LOG_LEVEL]")] = None,
) -> None:
    """Run a standalone worker (scale-out: any number, on any host, sharing the database)."""
    settings = settings_from(data_dir=data_dir, database_url=database_url, provider=provider,
                             log_level=log_level)
    settings = with_diffusers_options(settings, devices=devices)
    setup_logging(settings)
    fatal: list[str] = []
    asyncio.run(_run_worker(settings, fatal))
    if fatal:
        typer.echo(f"openkling worker stopped: {fatal[0]}", err=True)
        raise typer.Exit(1)


async def _run_worker(settings: Settings, fatal: list[str]) -> None:
    from openkling.assembly import worker_process

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def on_fatal(reason: str) -> None:
        fatal.append(reason)
        stop.set()

    async with worker_process(settings, on_fatal=on_fatal):
        await stop.wait()


def migrate(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply database migrations (serve and worker also do this at start-up)."""
    from openkling.assembly import Resources

    settings = settings_from(data_dir=data_dir, database_url=database_url)

    async def run() -> None:
        resources = Resources.open(settings)
        try:
            await resources.migrate()
        finally:
            await resources.close()

    asyncio.run(run())
    typer.echo("database is at the latest schema")
