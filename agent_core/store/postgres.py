"""The shared backend: a Postgres database that several bot processes (replicas) can use at once.

Selected with ``ML_INTERN_DB=postgresql://user:password@host:port/db``. Statements run on a
small asyncpg pool; the store's ``?`` SQL is numbered for Postgres by
:func:`~.dialect.numbered_placeholders` (cached), and each migration runs the owner's Postgres
script (:meth:`~.schema.Schema.postgres_script`).

Guarantees kept from SQLite, across processes:

- :meth:`PostgresBackend.atomic` takes one transaction-scoped advisory lock (:data:`WRITE_LOCK`)
  before anything else, the equivalent of SQLite's ``BEGIN IMMEDIATE``: atomic blocks are
  serialised across every connection and replica, and each statement inside sees what the
  previous holder committed (READ COMMITTED). So a check-then-write inside ``atomic()`` — an
  approval claim, a Slack dedupe key — wins exactly once, whichever replica runs it.
- Migrations run under another advisory lock (:data:`MIGRATION_LOCK`), one transaction per
  owner, so replicas starting together migrate once; a database migrated by a newer build is
  refused, as with SQLite. Every owner's version, the engine's included, is in
  ``schema_versions``.
- The connection string's password never appears in an error or in :attr:`location`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from .cursor import PrefetchedCursor
from .dialect import POSTGRES, numbered_placeholders
from .pg_listener import PgListener
from .schema import Schema, StoreError
from .stats import StoreStats
from .wakeups import Callback, check_channel

# Advisory lock keys (arbitrary, fixed: every replica must use the same ones).
WRITE_LOCK = 0x6D6C_7701  # atomic() blocks
MIGRATION_LOCK = 0x6D6C_7702  # schema migrations

POOL_SIZE = 8
CONNECT_TIMEOUT_S = 10.0

_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES|SHOW)\b|\bRETURNING\b", re.IGNORECASE)

_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_versions (
    owner         TEXT PRIMARY KEY,
    version       BIGINT NOT NULL
)
"""


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def redacted(url: str) -> str:
    """The URL without its password (for messages and ``Store.path``)."""
    if _password(url) is None:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _count(status: str) -> int:
    """Rows touched, from a command tag such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgCursor(PrefetchedCursor):
    """One statement's result inside :meth:`PostgresBackend.atomic` (see :mod:`.cursor`)."""

    def __init__(
        self, conn: asyncpg.Connection, sql: str, params: Sequence[Any], stats: StoreStats
    ) -> None:
        super().__init__()
        self._conn, self._sql, self._params = conn, sql, params
        stats.count(sql, autocommit=False)

    async def _fetch(self) -> None:
        sql = numbered_placeholders(self._sql)
        if _ROWS.search(self._sql):
            self._rows = list(await self._conn.fetch(sql, *self._params))
            self.rowcount = len(self._rows)
        else:
            self.rowcount = _count(await self._conn.execute(sql, *self._params))


class PgTransaction:
    """The handle :meth:`PostgresBackend.atomic` yields (aiosqlite-shaped, see :class:`PgCursor`)."""

    def __init__(self, conn: asyncpg.Connection, stats: StoreStats) -> None:
        self.conn = conn
        self._stats = stats

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        return PgCursor(self.conn, sql, params, self._stats)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        self._stats.statements += len(rows)
        self._stats.writes += len(rows)
        self._stats.round_trips += 1
        await self.conn.executemany(numbered_placeholders(sql), rows)


class PostgresBackend:
    """Statements, transactions and migrations on a Postgres database."""

    dialect = POSTGRES
    conflict_errors: tuple[type[BaseException], ...] = (asyncpg.UniqueViolationError,)

    def __init__(self, pool: asyncpg.Pool, location: str, url: str) -> None:
        self.pool = pool
        self.location = location
        self._wakeups = PgListener(url, CONNECT_TIMEOUT_S)  # the URL keeps its password there
        self.stats = StoreStats()

    @classmethod
    async def connect(cls, url: str) -> Self:
        location = redacted(url)
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=POOL_SIZE, timeout=CONNECT_TIMEOUT_S
            )
        except Exception as exc:  # refused, unknown database, bad password, bad URL, timeout
            message = str(exc).replace(url, location)
            password = _password(url)
            if password:
                message = message.replace(password, "***")
            # ``from None``: the driver's own exception (and whatever it quoted) stays out of
            # tracebacks that end up in logs.
            raise StoreError(
                f"cannot open the store at {location}: {type(exc).__name__}: {message}"
            ) from None
        return cls(pool, location, url)

    async def close(self) -> None:
        await self._wakeups.close()
        await self.pool.close()

    # ------------------------------------------------------------------ migrations
    async def version(self, owner: str) -> int:
        value = await self.pool.fetchval(
            "SELECT version FROM schema_versions WHERE owner=$1", owner
        )
        return int(value or 0)

    async def migrate(self, schema: Schema) -> None:
        """Bring ``schema``'s tables up to date in one transaction, once across replicas."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(_VERSIONS_TABLE)
            version = int(
                await conn.fetchval(
                    "SELECT version FROM schema_versions WHERE owner=$1", schema.owner
                )
                or 0
            )
            schema.refuse_newer(version, self.location)
            for target in range(version + 1, schema.version + 1):
                await conn.execute(schema.postgres_script(target))
            if schema.version > version:
                await conn.execute(
                    "INSERT INTO schema_versions (owner, version) VALUES ($1, $2)"
                    " ON CONFLICT (owner) DO UPDATE SET version=excluded.version",
                    schema.owner,
                    schema.version,
                )

    # ------------------------------------------------------------------ statements
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.stats.count(sql)
        return _count(await self.pool.execute(numbered_placeholders(sql), *params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        self.stats.count_batch(len(rows))
        await self.pool.executemany(numbered_placeholders(sql), rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> asyncpg.Record | None:
        self.stats.count(sql)
        return await self.pool.fetchrow(numbered_placeholders(sql), *params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        self.stats.count(sql)
        return list(await self.pool.fetch(numbered_placeholders(sql), *params))

    async def transaction(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[asyncpg.Record]]:
        """Apply ``statements`` atomically on one connection (no write lock: nothing in it
        reads before it writes, so there is nothing for another replica to race). Returns
        each statement's rows (``RETURNING``), empty for the others."""
        statements = list(statements)
        if not statements:
            return []
        results = []
        async with self.pool.acquire() as conn, conn.transaction():
            for sql, params in statements:
                self.stats.count(sql, autocommit=False)
                results.append(list(await conn.fetch(numbered_placeholders(sql), *params)))
        self.stats.round_trips += 2  # BEGIN, COMMIT
        self.stats.commits += 1
        return results

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[PgTransaction]:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            self.stats.round_trips += 2  # BEGIN + the lock, COMMIT
            yield PgTransaction(conn, self.stats)
        self.stats.commits += 1

    # ------------------------------------------------------------------ wake-ups (LISTEN/NOTIFY)
    async def listen(self, channel: str, callback: Callback) -> None:
        """Call ``callback(payload)`` for every wake-up on ``channel``, from any replica.

        Listening holds one connection of its own (outside the pool) for the store's life,
        reconnected if it drops (:mod:`.pg_listener`).
        """
        await self._wakeups.listen(channel, callback)

    async def unlisten(self, channel: str, callback: Callback) -> None:
        await self._wakeups.unlisten(channel, callback)

    async def notify(self, channel: str, payload: str) -> None:
        await self.pool.execute("SELECT pg_notify($1, $2)", check_channel(channel), payload)
