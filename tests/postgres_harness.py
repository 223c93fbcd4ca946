"""A real Postgres server for the tests, started by the test run itself.

One private cluster per test session (per xdist worker): ``initdb`` into a temp directory,
``pg_ctl start`` on a free loopback port with its socket in that directory, torn down at the
end. Root cannot run Postgres, so as root the cluster belongs to Debian's ``postgres`` user
(``runuser``). Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the
tests check behaviour, not crash safety of the disk; memory is small (16 MB shared buffers), as
each xdist worker starts its own cluster.

Each test gets a fresh, empty schema of its own (see :meth:`PostgresCluster.create_database`),
so tests never see each other's rows.

When no server can be started (no ``postgresql`` package, no ``postgres`` user) the Postgres
tests are skipped with the reason — unless ``ML_INTERN_TEST_POSTGRES=required`` (set by
``.ci/run``), which turns that into a failure so CI never silently skips them.

Store tests take the ``store_url`` fixture, parametrized over both backends: every guarantee
checked on SQLite is checked on Postgres too.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from agent_core.store import Store

REQUIRED_ENV = "ML_INTERN_TEST_POSTGRES"
SERVER_USER = "postgres"  # Debian's account for the server when the tests run as root


@dataclass
class PostgresCluster:
    """A running private cluster; ``url(db)`` connects to one of its databases."""

    root: Path
    port: int
    run_as: list[str]
    bindir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A new empty namespace; returns the URL that opens it.

        A schema (set as the connection's ``search_path`` through the URL, as a deployment
        could) rather than a database: ``CREATE DATABASE`` costs ~0.5 s, a schema a few ms.
        """
        name = f"t_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'CREATE SCHEMA "{name}"')
        finally:
            await conn.close()
        return f"{self.url()}?search_path={name}"

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data")]
            + ["-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


class NoServer(Exception):
    """Why no Postgres server could be started here."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise NoServer("initdb not found (install Debian's `postgresql` package)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise NoServer(f"{what} failed: {(done.stderr or done.stdout).strip()[-800:]}")


def start_cluster() -> PostgresCluster:
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="ml-intern-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(SERVER_USER)
        except KeyError as exc:
            raise NoServer(f"running as root and there is no {SERVER_USER!r} user") from exc
        if not shutil.which("runuser"):
            raise NoServer("running as root and `runuser` is missing")
        os.chown(root, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", SERVER_USER, "--"]
    root.chmod(0o700)
    try:
        _run(
            [*run_as, str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres"]
            + ["--auth=trust", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C"],
            "initdb",
        )
        last: NoServer | None = None
        for _attempt in range(3):  # another process may take the free port first
            port = free_port()
            options = (
                f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off"
                " -c full_page_writes=off -c max_connections=100 -c shared_buffers=16MB"
            )
            try:
                _run(
                    [*run_as, str(bindir / "pg_ctl"), "-D", str(root / "data")]
                    + ["-l", str(root / "server.log"), "-o", options, "-w", "-t", "60", "start"],
                    "pg_ctl start",
                )
                return PostgresCluster(root, port, run_as, bindir)
            except NoServer as exc:
                last = exc
        assert last is not None
        raise last
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    try:
        cluster = start_cluster()
    except NoServer as exc:
        message = f"no Postgres server could be started here: {exc}"
        if os.environ.get(REQUIRED_ENV) == "required":
            pytest.fail(f"{message} ({REQUIRED_ENV}=required)")
        pytest.skip(message)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def postgres_url(postgres_server: PostgresCluster) -> AsyncIterator[str]:
    """A fresh, empty schema on the session's cluster (its URL)."""
    yield await postgres_server.create_database()


@pytest.fixture
async def replicas(store_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, as two bot processes hold them."""
    first = await Store.open(store_url)
    second = await Store.open(store_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Where to open a store: a fresh SQLite file, or a fresh Postgres schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "state.db")
    else:
        cluster = request.getfixturevalue("postgres_server")
        yield await cluster.create_database()
