"""The embedded backend: one SQLite file, one aiosqlite connection per process.

The connection runs in WAL mode. Writes are serialised by the connection's own worker thread,
and a lock keeps one coroutine's statements out of another's transaction, so callers never
hold locks across awaits. :meth:`SqliteBackend.atomic` is ``BEGIN IMMEDIATE``: the write lock
on the file is taken up front, so a check-then-write inside it is atomic even against another
process on the same file. The engine's own schema version is ``PRAGMA user_version`` (as in
every build so far); the other owners' versions live in ``schema_versions``.
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
from .dialect import SQLITE
from .schema import CORE, Schema, StoreError
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


class SqliteBackend:
    """Statements, transactions and migrations on one SQLite file."""

    dialect = SQLITE
    # A unique-key collision (the caller may retry, e.g. a concurrent event-log append).
    conflict_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, db: aiosqlite.Connection, location: str) -> None:
        self.db = db
        self.location = location
        # One connection is shared by every coroutine; without this lock a statement issued
        # by one coroutine could land inside (and be rolled back with) another's transaction.
        self._lock = asyncio.Lock()
        self._listeners = Listeners()

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
        async with self._lock:
            while True:
                await self.db.execute("BEGIN IMMEDIATE")
                try:
                    version = await self.version(schema.owner)
                    schema.refuse_newer(version, self.location)
                    if version >= schema.version:
                        await self.db.execute("COMMIT")
                        return
                    for statement in split_statements(schema.migrations[version]):
                        await self.db.execute(statement)
                    await self.db.execute(*_version_record(schema.owner, version + 1))
                except BaseException:
                    await self.db.execute("ROLLBACK")
                    raise
                await self.db.execute("COMMIT")

    # ------------------------------------------------------------------ statements
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return cur.lastrowid if sql.lstrip()[:6].upper() == "INSERT" else cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._lock:
            await self.db.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return await cur.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return list(await cur.fetchall())

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    # ------------------------------------------------------------------ wake-ups (one process)
    async def listen(self, channel: str, callback: Callback) -> None:
        self._listeners.add(channel, callback)

    async def unlisten(self, channel: str, callback: Callback) -> None:
        self._listeners.remove(channel, callback)

    async def notify(self, channel: str, payload: str) -> None:
        self._listeners.deliver(check_channel(channel), payload)
