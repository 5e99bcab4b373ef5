"""Shared fixtures: real servers on loopback ports, real databases (SQLite and PostgreSQL).

Nothing here mocks openkling's own code: `server_factory` runs `openkling serve` as a
subprocess; the only stand-in is the provider double in tests/doubles/provider.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import pgcluster

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_DOUBLE = "tests.doubles.provider:ProviderDouble"
POSTGRES_ADMIN_URL = os.environ.get(
    "OPENKLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


# ----- markers ---------------------------------------------------------------------------

_KINDS = ("unit", "integration", "acceptance", "deploy")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its directory (unit / integration / acceptance / deploy) and by its
    database.

    `pytest -m unit` is the fast inner loop (in-process, no server processes); tests that run on
    PostgreSQL are marked `postgres` so `-m "not postgres"` runs without a server.
    """
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in _KINDS:
            item.add_marker(parts[0])
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "postgresql" in params.values():
            item.add_marker("postgres")


# ----- databases -------------------------------------------------------------------------


def _postgres_reason() -> str | None:
    """None when a PostgreSQL server answers, else why the PostgreSQL half is skipped."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed"

    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=2)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"no PostgreSQL server at {POSTGRES_ADMIN_URL} ({type(exc).__name__}: {exc})"
    return None


_PG_REASON: str | None = None
_PG_CHECKED = False


def postgres_skip_reason() -> str | None:
    global _PG_REASON, _PG_CHECKED
    if not _PG_CHECKED:
        _PG_REASON, _PG_CHECKED = _postgres_reason(), True
    return _PG_REASON


def create_postgres_database() -> str:
    """A fresh, empty database for one test; returns its SQLAlchemy async URL."""
    import asyncpg

    name = f"openkling_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on SQLite and on PostgreSQL (skipped with a reason)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'openkling.db'}"
        return
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


# ----- servers ---------------------------------------------------------------------------


@dataclass
class Credentials:
    account: str
    api_key: str
    access_key: str
    secret_key: str
    callback_secret: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerHandle:
    """A real `openkling serve` process on a loopback port."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.env.get("OPENKLING_TLS_CERTFILE") else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client passes as `verify=` to trust this server (a self-signed
        certificate, under TLS)."""
        certfile = self.env.get("OPENKLING_TLS_CERTFILE")
        return ssl.create_default_context(cafile=certfile) if certfile else True

    def start(self, timeout: float = 300, *, ready: bool = True) -> ServerHandle:
        """Start and wait for /readyz 200 (`ready=False`: for /healthz, a server that is up
        but, by design of the test, not ready).

        It waits for what readiness reports, not for a guess of how long start-up takes: on
        a loaded machine importing torch and loading a model can take minutes. It stops
        waiting at once when the process exits or a provider reports `failed`; `timeout`
        only bounds a server that hangs."""
        self.log_path = self.data_dir / f"server-{int(time.time() * 1000)}.log"
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "openkling.cli.main", "serve", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"openkling serve exited early:\n{self.log()}")
            try:
                answer = httpx.get(f"{self.base_url}{'/readyz' if ready else '/healthz'}",
                                   timeout=5, verify=self.verify)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code == 200:
                return self
            if answer is not None and ready and answer.status_code == 503:
                failed = {name: state for name, state in
                          answer.json().get("checks", {}).get("providers", {}).items()
                          if str(state).startswith("failed")}
                if failed:
                    raise RuntimeError(f"openkling serve cannot become ready: {failed}\n"
                                       f"{self.log()}")
            time.sleep(0.1)
        raise RuntimeError(f"openkling serve did not become ready in {timeout:.0f} s:\n"
                           f"{self.log()}")

    def create_key(self, name: str = "tester") -> Credentials:
        out = subprocess.run(
            [sys.executable, "-m", "openkling.cli.main", "keys", "create", "--name", name,
             "--json"],
            env=self.env, capture_output=True, check=True, cwd=ROOT,
        )
        data = json.loads(out.stdout)
        return Credentials(
            account=data["account"], api_key=data["api_key"], access_key=data["access_key"],
            secret_key=data["secret_key"], callback_secret=data.get("callback_secret"),
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `openkling <args>` against this server's data (same environment)."""
        return subprocess.run(
            [sys.executable, "-m", "openkling.cli.main", *args],
            env=self.env, capture_output=True, text=True, cwd=ROOT,
        )

    def stop(self, timeout: float = 60) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> ServerHandle:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def server_env(data_dir: Path, provider: str, extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        HF_HUB_OFFLINE="1",
        OPENKLING_DATA_DIR=str(data_dir),
        OPENKLING_PROVIDER=provider,
        OPENKLING_ALLOW_PRIVATE_CALLBACKS="true",
        OPENKLING_POLL_INTERVAL="0.2",
        OPENKLING_LOG_LEVEL="info",
        OPENKLING_SHUTDOWN_GRACE_SECONDS="2",
    )
    env.update(extra or {})
    return env


#: `--model tiny-random-wan` on the CPU: tiny random pipelines for every local family.
TINY_WAN_ENV = {
    "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL": "tiny-random-wan",
    "OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__DEVICE": "cpu",
}


@contextmanager
def running_server(data_dir: Path, provider: str,
                   extra: dict[str, str] | None = None) -> Iterator[ServerHandle]:
    """A started server, stopped on exit: what a module-scoped server fixture yields."""
    handle = ServerHandle(data_dir=data_dir, env=server_env(data_dir, provider, extra))
    try:  # a server that never became ready is stopped too, not left running
        yield handle.start()
    finally:
        handle.stop(timeout=30)


ServerFactory = Callable[..., ServerHandle]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    started: list[ServerHandle] = []

    def start(
        env: dict[str, str] | None = None, provider: str = PROVIDER_DOUBLE, *,
        name: str | None = None, ready: bool = True,
    ) -> ServerHandle:
        data_dir = tmp_path / (name or f"server{len(started)}")
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = ServerHandle(data_dir=data_dir, env=server_env(data_dir, provider, env))
        started.append(handle)
        return handle.start(ready=ready)

    yield start
    for handle in started:
        handle.stop(timeout=30)


#: Servers shared by a whole module must not throttle the module's many requests.
SHARED_ENV = {
    "OPENKLING_RATE_LIMIT_PER_SECOND": "1000",
    "OPENKLING_RATE_LIMIT_BURST": "1000",
    "OPENKLING_MAX_UNFINISHED_TASKS": "1000",
}


def _module_server(
    tmp_path_factory: pytest.TempPathFactory, database: str
) -> Iterator[ServerHandle]:
    env = dict(SHARED_ENV)
    db_url = None
    if database == "postgresql":
        reason = postgres_skip_reason()
        if reason:
            pytest.skip(reason)
        db_url = create_postgres_database()
        env["OPENKLING_DATABASE_URL"] = db_url
    data_dir = tmp_path_factory.mktemp(f"shared-{database}")
    handle = ServerHandle(data_dir=data_dir, env=server_env(data_dir, PROVIDER_DOUBLE, env))
    handle.start()
    try:
        yield handle
    finally:
        handle.stop(timeout=30)
        if db_url:
            drop_postgres_database(db_url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerHandle]:
    """One server per test module and database kind, for tests that can share it."""
    yield from _module_server(tmp_path_factory, request.param)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """One SQLite server per test module (client and CLI tests share it)."""
    yield from _module_server(tmp_path_factory, "sqlite")


@pytest.fixture
def live_server(server_factory: ServerFactory) -> ServerHandle:
    return server_factory()


@pytest.fixture
def credentials(live_server: ServerHandle) -> Credentials:
    return live_server.create_key("tester")


@pytest.fixture
async def http(live_server: ServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as client:
        yield client


async def wait_for_status(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], statuses: set[str],
    timeout: float = 30,
) -> dict[str, object]:
    """Poll a task until its status is in `statuses`; returns the task object."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(path, headers=headers)
        data = response.json()["data"]
        if data["task_status"] in statuses:
            return dict(data)
        if time.monotonic() > deadline:
            raise AssertionError(f"task stuck in {data['task_status']}: {data}")
        await asyncio.sleep(0.1)


@pytest.fixture
def cluster() -> Iterator[pgcluster.PgCluster]:
    """A throw-away PostgreSQL cluster of the test's own (initdb in a temp dir, its own
    port), for tests that stop and start the database (tests/support/pgcluster.py)."""
    reason = pgcluster.skip_reason()
    if reason:
        pytest.skip(reason)
    pg = pgcluster.PgCluster.create()
    pg.start()
    pg.wait_ready()
    yield pg
    pg.destroy()
