"""The SQLite connection under the store: lifecycle, per-owner migrations, generic queries.

One aiosqlite connection in WAL mode serves the whole process. Writes are serialised by the
connection's own worker thread, and a lock keeps one coroutine's statements out of another's
transaction, so callers never hold locks across awaits. Each owner's tables are migrated
forward when the store opens (or, for an owner that registers later with :meth:`require`,
before the next query); a file newer than this code understands is refused rather than
silently damaged.

The connection, the dialect's transaction and migration mechanics sit here; the domain methods
(:mod:`.event_log`, :mod:`.sessions`) and the layers' own table modules speak only through
:meth:`execute`, :meth:`fetchone`, :meth:`fetchall`, :meth:`atomic` and :meth:`transaction`,
with ``?`` placeholders and SQL that SQLite and Postgres share (``ON CONFLICT`` upserts, plain
columns). The exceptions are the JSON look-ups (``json_extract`` in
:meth:`~.event_log.EventLog.find_event` and
:meth:`~.sessions.SessionTables.sessions_with_pending_batch`), which a second backend overrides.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite

from ..paths import default_db_path
from .schema import CORE, Schema, StoreError


def dumps(value: Any) -> str:
    """Compact JSON for a TEXT column (non-JSON values become strings rather than failing)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class Database:
    """Async facade over the SQLite file. Open with ``await Store.open(path)``; close always."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path
        # One connection is shared by every coroutine; without this lock a statement issued
        # by one coroutine could land inside (and be rolled back with) another's transaction.
        self._lock = asyncio.Lock()
        self._migrated: set[str] = set()
        self._required: dict[str, Schema] = {}

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(
        cls, path: str | os.PathLike[str] | None = None, *, schemas: Sequence[Schema] = ()
    ) -> Self:
        """Open (creating if needed) and migrate the engine's tables and ``schemas``."""
        resolved = str(path) if path else str(default_db_path())
        if resolved != ":memory:":
            try:
                Path(resolved).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory for the store {resolved}: {exc}"
                ) from exc
        try:
            db = await aiosqlite.connect(resolved, isolation_level=None)
        except Exception as exc:  # sqlite3.OperationalError and friends
            raise StoreError(f"cannot open the store at {resolved}: {exc}") from exc
        db.row_factory = aiosqlite.Row
        store = cls(db, resolved)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA foreign_keys=ON")
            await store._migrate(CORE)
            for schema in schemas:
                await store._migrate(schema)
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self.db.close()

    # ------------------------------------------------------------------ migrations
    def require(self, schema: Schema) -> None:
        """Make sure ``schema``'s tables exist before the next query (idempotent, cheap).

        A layer's table module calls this when it is constructed, so its tables are there
        whoever opened the store — the runtime, a test, a benchmark.
        """
        if schema.owner not in self._migrated:
            self._required.setdefault(schema.owner, schema)

    async def _ready(self) -> None:
        if not self._required:
            return
        async with self._lock:
            while self._required:
                _owner, schema = self._required.popitem()
                await self._migrate(schema)

    async def _version(self, owner: str) -> int:
        if owner == CORE.owner:
            async with self.db.execute("PRAGMA user_version") as cur:
                row = await cur.fetchone()
        else:
            async with self.db.execute(
                "SELECT version FROM schema_versions WHERE owner=?", (owner,)
            ) as cur:
                row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self, schema: Schema) -> None:
        if schema.owner in self._migrated:
            return
        version = await self._version(schema.owner)
        if version > schema.version:
            raise StoreError(
                f"the store at {self.path} has {schema.owner} schema v{version}, newer than this "
                f"build understands (v{schema.version}); upgrade ml-intern-slack or use another "
                "ML_INTERN_DB"
            )
        for target in range(version, schema.version):
            if schema.owner == CORE.owner:
                record = f"PRAGMA user_version={target + 1};"
            else:
                record = (
                    "INSERT INTO schema_versions (owner, version)"
                    f" VALUES ('{schema.owner}', {target + 1})"
                    " ON CONFLICT (owner) DO UPDATE SET version=excluded.version;"
                )
            try:
                await self.db.executescript(
                    f"BEGIN IMMEDIATE;\n{schema.migrations[target]}\n{record}\nCOMMIT;"
                )
            except BaseException:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                # Two processes opening one new file race to migrate it; the loser finds the
                # step done by the winner (it waited for the write lock) and carries on.
                if await self._version(schema.owner) > target:
                    continue
                raise
        self._migrated.add(schema.owner)

    # ------------------------------------------------------------------ generic queries
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns lastrowid (for inserts) or rowcount."""
        await self._ready()
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return cur.lastrowid if sql.lstrip()[:6].upper() == "INSERT" else cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._ready()
        async with self._lock:
            await self.db.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        await self._ready()
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return await cur.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        await self._ready()
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return list(await cur.fetchall())

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[aiosqlite.Connection]:
        """An exclusive write transaction. Inside, use the yielded connection directly."""
        await self._ready()
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Apply several statements atomically."""
        async with self.atomic() as db:
            for sql, params in statements:
                await db.execute(sql, params)
