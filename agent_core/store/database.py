"""The connection under the store: choosing a backend, per-owner migrations, generic queries.

Two backends sit behind one interface: :class:`~.sqlite.SqliteBackend` (the embedded default,
one file) and :class:`~.postgres.PostgresBackend` (``ML_INTERN_DB=postgresql://…``, shared by
several replicas). Each owner's tables are migrated forward when the store opens (or, for an
owner that registers later with :meth:`Database.require`, before the next query); a store newer
than this code understands is refused rather than silently damaged.

The domain methods (:mod:`.event_log`, :mod:`.sessions`) and the layers' own table modules speak
only through :meth:`~Database.execute`, :meth:`~Database.fetchone`, :meth:`~Database.fetchall`,
:meth:`~Database.atomic` and :meth:`~Database.transaction`, with ``?`` placeholders and SQL both
backends share (``ON CONFLICT`` upserts, ``RETURNING``, plain columns). What differs (JSON
look-ups) comes from :attr:`Database.dialect`; see :mod:`.dialect`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, Self

from ..paths import default_db_path
from .dialect import Dialect
from .postgres import PostgresBackend, is_postgres_url
from .schema import CORE, Schema
from .sqlite import SqliteBackend
from .stats import StoreStats
from .wakeups import Callback


def dumps(value: Any) -> str:
    """Compact JSON for a TEXT column (non-JSON values become strings rather than failing)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class Backend(Protocol):
    """What :class:`Database` needs from a backend (see :mod:`.sqlite`, :mod:`.postgres`)."""

    dialect: Dialect
    location: str
    conflict_errors: tuple[type[BaseException], ...]
    stats: StoreStats

    async def close(self) -> None: ...
    async def version(self, owner: str) -> int: ...
    async def migrate(self, schema: Schema) -> None: ...
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
    def atomic(self) -> Any: ...
    async def transaction(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[Any]]: ...
    async def listen(self, channel: str, callback: Callback) -> None: ...
    async def unlisten(self, channel: str, callback: Callback) -> None: ...
    async def notify(self, channel: str, payload: str) -> None: ...


def store_location(path: str | os.PathLike[str] | None) -> str:
    """``path``, else ``ML_INTERN_DB`` (a file path or a ``postgresql://`` URL), else the
    default file in the state directory."""
    if path:
        return str(path)
    explicit = os.environ.get("ML_INTERN_DB", "").strip()
    if is_postgres_url(explicit):
        return explicit  # a URL is not a path: no expanduser, no Path() normalisation
    return str(default_db_path())


class Database:
    """Async facade over the backend. Open with ``await Store.open(location)``; close always."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.dialect = backend.dialect
        # Where the store is (a file path, or the Postgres URL without its password).
        self.path = backend.location
        self._migrated: set[str] = set()
        self._required: dict[str, Schema] = {}
        self._migrating = asyncio.Lock()
        # Statements, writes, commits and round trips so far (see :mod:`.stats`).
        self.stats = backend.stats

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(
        cls, path: str | os.PathLike[str] | None = None, *, schemas: Sequence[Schema] = ()
    ) -> Self:
        """Open (creating if needed) and migrate the engine's tables and ``schemas``.

        ``path`` is a SQLite file or a ``postgresql://`` URL (default: :func:`store_location`).
        """
        location = store_location(path)
        backend: Backend
        if is_postgres_url(location):
            backend = await PostgresBackend.connect(location)
        else:
            backend = await SqliteBackend.connect(location)
        store = cls(backend)
        try:
            for schema in (CORE, *schemas):
                await store._migrate(schema)
        except BaseException:
            await backend.close()
            raise
        return store

    async def close(self) -> None:
        await self.backend.close()

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
        async with self._migrating:
            # Dropped from _required only once migrated: a concurrent query waits here
            # instead of running against tables that are not there yet.
            while self._required:
                owner, schema = next(iter(self._required.items()))
                await self._migrate(schema)
                del self._required[owner]

    async def _version(self, owner: str) -> int:
        return await self.backend.version(owner)

    async def _migrate(self, schema: Schema) -> None:
        if schema.owner in self._migrated:
            return
        await self.backend.migrate(schema)
        self._migrated.add(schema.owner)

    # ------------------------------------------------------------------ generic queries
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it touched.

        (SQLite, for an INSERT: its lastrowid. Both backends support ``RETURNING``; use it with
        :meth:`fetchone` for a generated id.)
        """
        await self._ready()
        return await self.backend.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._ready()
        await self.backend.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row (indexable by column name and position), or None."""
        await self._ready()
        return await self.backend.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        await self._ready()
        return await self.backend.fetchall(sql, params)

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Any]:
        """An exclusive write transaction, across processes on either backend.

        Inside, use the yielded handle: ``await tx.execute(sql, params)``, ``async with
        tx.execute(sql, params) as cur: row = await cur.fetchone()``, ``cur.rowcount``,
        ``await tx.executemany(sql, rows)``.
        """
        await self._ready()
        async with self.backend.atomic() as tx:
            yield tx

    async def transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Apply several writes atomically, in one round trip on SQLite; returns each
        statement's rows (those with ``RETURNING``), empty lists for the others.

        For writes that do not depend on what they read; a check-then-write belongs in
        :meth:`atomic`.
        """
        await self._ready()
        return await self.backend.transaction(statements)

    # ------------------------------------------------------------------ wake-ups
    async def listen(self, channel: str, callback: Callback) -> None:
        """Call ``callback(payload)`` on every wake-up sent on ``channel`` (see :mod:`.wakeups`)."""
        await self.backend.listen(channel, callback)

    async def unlisten(self, channel: str, callback: Callback) -> None:
        await self.backend.unlisten(channel, callback)

    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of ``channel`` (on Postgres: every replica's, at commit)."""
        await self._ready()
        await self.backend.notify(channel, payload)
