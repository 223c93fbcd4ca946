"""The cursor an ``atomic()`` block's statements return, the same on both backends.

``await tx.execute(...)`` and ``async with tx.execute(...) as cur`` both work, with
``cur.fetchone()``, ``cur.fetchall()``, ``cur.rowcount`` and ``cur.lastrowid``, so a layer's
atomic block reads the same on SQLite and Postgres. The statement runs once, on first use, and
its rows are read in the same round trip: a block holds other statements off, so every round
trip it saves is time nobody else waits.
"""

from __future__ import annotations

from typing import Any, Self


class PrefetchedCursor:
    """One statement's result; a backend implements :meth:`_fetch`."""

    def __init__(self) -> None:
        self._rows: list[Any] = []
        self._ran = False
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def _fetch(self) -> None:
        """Run the statement: set ``_rows``, ``rowcount`` (and ``lastrowid`` if known)."""
        raise NotImplementedError

    async def _run(self) -> Self:
        if not self._ran:
            self._ran = True
            await self._fetch()
        return self

    def __await__(self) -> Any:
        return self._run().__await__()

    async def __aenter__(self) -> Self:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows
