"""The embedded backend: one SQLite file, one aiosqlite connection per process.

The connection runs in WAL mode, and aiosqlite's single worker thread runs its calls one at a
time, in the order they were queued. That order is what serialises statements here — no
asyncio lock is held across a thread round trip (in a 200-mention burst such a lock became a
queue: thousands of contended acquisitions, seconds of waiting). Each single statement, and
each :meth:`SqliteBackend.transaction` (BEGIN IMMEDIATE … COMMIT), is *one* function run on
that thread, so nothing can interleave with it.

Only :meth:`SqliteBackend.atomic` spans several round trips (its caller reads, decides, then
writes). While one is open, a statement from another coroutine must not land inside it (it
would be rolled back with it), so statements issued meanwhile wait for it to close; statements
queued before it opened run before its ``BEGIN``. Blocks have priority: while one waits for
another, single statements wait too (see :meth:`SqliteBackend._block`). ``atomic`` is ``BEGIN IMMEDIATE``: the write
lock on the file is taken up front, so a check-then-write inside it is atomic even against
another process on the same file. The engine's own schema version is ``PRAGMA user_version``
(as in every build so far); the other owners' versions live in ``schema_versions``.

aiosqlite has no public "run this function on the connection's thread"; ``Connection._execute``
(there since 0.17, pinned in pyproject) is the one private name used, in :meth:`_on_thread`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite

from ..retry import backoff_delay
from .cursor import PrefetchedCursor
from .dialect import SQLITE
from .schema import CORE, Schema, StoreError
from .stats import StoreStats, is_write
from .wakeups import Callback, Listeners, check_channel

_WAL_ATTEMPTS = 40


def split_statements(script: str) -> list[str]:
    """A migration script as single statements (``executescript`` would commit the caller's
    transaction first, so a step could not share one with its version check)."""
    statements, start = [], 0
    for end, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : end + 1]):
            statements.append(script[start : end + 1].strip())
            start = end + 1
    if script[start:].strip():
        statements.append(script[start:].strip())
    return statements


def _version_record(owner: str, version: int) -> tuple[str, tuple[Any, ...]]:
    if owner == CORE.owner:
        return f"PRAGMA user_version={int(version)}", ()
    return (
        "INSERT INTO schema_versions (owner, version) VALUES (?, ?)"
        " ON CONFLICT (owner) DO UPDATE SET version=excluded.version",
        (owner, version),
    )


def _run_statement(conn: sqlite3.Connection, sql: str, params: Sequence[Any], want: str) -> Any:
    """One statement on the worker thread: ``want`` is "rows", "row" or "count"."""
    cur = conn.execute(sql, params)
    try:
        if want == "rows":
            return cur.fetchall()
        if want == "row":
            return cur.fetchone()
        return cur.lastrowid if sql.lstrip()[:6].upper() == "INSERT" else cur.rowcount
    finally:
        cur.close()


def _run_many(conn: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    conn.executemany(sql, rows).close()


def _run_transaction(
    conn: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]
) -> list[list[Any]]:
    """BEGIN IMMEDIATE, the statements, COMMIT — on the worker thread, as one call. Returns
    each statement's rows (``RETURNING``), empty for the others."""
    conn.execute("BEGIN IMMEDIATE")
    results = []
    try:
        for sql, params in statements:
            cur = conn.execute(sql, params)
            results.append(cur.fetchall())
            cur.close()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return results


async def _switch_to_wal(db: aiosqlite.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, waiting out other processes opening the same new file.

    The switch needs the file to itself and SQLite reports "database is locked" at once rather
    than waiting the busy timeout, so it is retried here (the mode sticks to the file: only the
    first open of a new store ever has to).
    """
    for attempt in range(_WAL_ATTEMPTS):
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            await asyncio.sleep(backoff_delay(attempt, base=0.01, cap=0.25))


def _run_cursor(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> tuple[Any, ...]:
    """One statement inside an atomic block: (rows, rowcount, lastrowid), in one call."""
    cur = conn.execute(sql, params)
    try:
        return cur.fetchall(), cur.rowcount, cur.lastrowid
    finally:
        cur.close()


class _BlockCursor(PrefetchedCursor):
    """One statement inside :meth:`SqliteBackend.atomic`: run and read in one round trip."""

    def __init__(self, db: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> None:
        super().__init__()
        self._db, self._sql, self._params = db, sql, params

    async def _fetch(self) -> None:
        rows, self.rowcount, self.lastrowid = await self._db._execute(
            _run_cursor, self._db._conn, self._sql, self._params
        )
        self._rows = list(rows)


class _BlockConnection:
    """The handle inside an atomic block: statements counted, each one round trip."""

    def __init__(self, db: aiosqlite.Connection, stats: StoreStats) -> None:
        self._db, self._stats = db, stats

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _BlockCursor:
        self._stats.count(sql, autocommit=False)
        return _BlockCursor(self._db, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        self._stats.statements += len(rows)
        self._stats.writes += len(rows) if is_write(sql) else 0
        self._stats.round_trips += 1
        await self._db._execute(_run_many, self._db._conn, sql, rows)


class SqliteBackend:
    """Statements, transactions and migrations on one SQLite file."""

    dialect = SQLITE
    # A unique-key collision (the caller may retry, e.g. a concurrent event-log append).
    conflict_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, db: aiosqlite.Connection, location: str) -> None:
        self.db = db
        self.location = location
        # atomic() blocks and migrations, one at a time (they span several round trips).
        self._exclusive = asyncio.Lock()
        # Set while no atomic block is open or waiting: single statements wait on it, never
        # on a lock.
        self._blocks = 0
        self._no_block_open = asyncio.Event()
        self._no_block_open.set()
        self._listeners = Listeners()
        self.stats = StoreStats()

    @classmethod
    async def connect(cls, location: str) -> Self:
        if location != ":memory:":
            try:
                Path(location).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory for the store {location}: {exc}"
                ) from exc
        try:
            db = await aiosqlite.connect(location, isolation_level=None)
        except Exception as exc:  # sqlite3.OperationalError and friends
            raise StoreError(f"cannot open the store at {location}: {exc}") from exc
        db.row_factory = aiosqlite.Row
        try:
            await db.execute("PRAGMA busy_timeout=5000")
            await _switch_to_wal(db)
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            await db.close()
            raise
        return cls(db, location)

    async def close(self) -> None:
        await self.db.close()

    # ------------------------------------------------------------------ migrations
    async def version(self, owner: str) -> int:
        if owner == CORE.owner:
            sql, params = "PRAGMA user_version", ()
        else:
            sql, params = "SELECT version FROM schema_versions WHERE owner=?", (owner,)
        async with self.db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, schema: Schema) -> None:
        """Bring ``schema``'s tables up to date, one version per ``BEGIN IMMEDIATE`` transaction.

        The version is read inside the write lock, so processes opening one file together
        each apply a step only if nobody did it first (never re-running or downgrading one).
        """
        while True:
            async with self._block() as db:
                version = await self.version(schema.owner)
                schema.refuse_newer(version, self.location)
                if version >= schema.version:
                    return
                for statement in split_statements(schema.migrations[version]):
                    await db.execute(statement)
                await db.execute(*_version_record(schema.owner, version + 1))

    # ------------------------------------------------------------------ statements
    async def _on_thread(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(sqlite3_connection, *args)`` on aiosqlite's worker thread, once no atomic
        block is open or waiting (statements queued before a block opened run before its
        BEGIN)."""
        while not self._no_block_open.is_set():
            await self._no_block_open.wait()
        return await self.db._execute(fn, self.db._conn, *args)

    @asynccontextmanager
    async def _ahead(self) -> AsyncIterator[None]:
        """Hold new single statements off, then take the exclusive turn."""
        self._blocks += 1
        self._no_block_open.clear()
        try:
            async with self._exclusive:
                yield
        finally:
            self._blocks -= 1
            if not self._blocks:
                self._no_block_open.set()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.stats.count(sql)
        return await self._on_thread(_run_statement, sql, params, "count")

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        self.stats.count_batch(len(rows))
        await self._on_thread(_run_many, sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        self.stats.count(sql)
        return await self._on_thread(_run_statement, sql, params, "row")

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        self.stats.count(sql)
        return await self._on_thread(_run_statement, sql, params, "rows")

    async def transaction(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[aiosqlite.Row]]:
        """Apply ``statements`` atomically in one round trip (BEGIN IMMEDIATE … COMMIT)."""
        statements = list(statements)
        if not statements:
            return []
        for sql, _ in statements:
            self.stats.count(sql, round_trip=False, autocommit=False)
        self.stats.round_trips += 1
        self.stats.commits += 1
        return await self._on_thread(_run_transaction, statements)

    async def _raw(self, sql: str) -> None:
        """A transaction statement of the open block's own (the gate is closed by then)."""
        await self.db._execute(_run_statement, self.db._conn, sql, (), "count")

    @asynccontextmanager
    async def _block(self) -> AsyncIterator[_BlockConnection]:
        """A BEGIN IMMEDIATE … COMMIT spanning round trips, other statements held off.

        Blocks go first: from the moment one is *waiting*, new single statements wait too, so
        a burst of short blocks (Slack dedupe keys, approval claims — what an envelope's ack
        waits for) runs back to back instead of each queueing behind the turns' statements.
        """
        async with self._ahead():
            try:
                await self._raw("BEGIN IMMEDIATE")
                self.stats.round_trips += 1
                yield _BlockConnection(self.db, self.stats)
            except BaseException:
                # Also after a cancelled BEGIN: the ROLLBACK is queued behind it.
                await self._rollback()
                raise
            await self._raw("COMMIT")
            self.stats.commits += 1
            self.stats.round_trips += 1

    async def _rollback(self) -> None:
        try:
            await self._raw("ROLLBACK")
        except sqlite3.OperationalError as exc:  # BEGIN itself failed: nothing to roll back
            if "no transaction" not in str(exc):
                raise

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[_BlockConnection]:
        async with self._block() as db:
            yield db

    # ------------------------------------------------------------------ wake-ups (one process)
    async def listen(self, channel: str, callback: Callback) -> None:
        self._listeners.add(channel, callback)

    async def unlisten(self, channel: str, callback: Callback) -> None:
        self._listeners.remove(channel, callback)

    async def notify(self, channel: str, payload: str) -> None:
        self._listeners.deliver(check_channel(channel), payload)
