"""What the store costs: statements, writes, commits and round trips, counted by the backend.

Counted always (an integer increment per statement), so a benchmark or a test can read
``store.stats`` around a turn and say how many statements, writes and commits it took — the
figures issue 18 asks to cut. A *round trip* is one hop to SQLite's worker thread or one
request to the Postgres server; a *commit* is a write transaction (a single write outside a
transaction commits by itself).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

_READS = ("SELECT", "WITH", "PRAGMA", "VALUES", "SHOW")


def is_write(sql: str) -> bool:
    """True for a statement that changes the database (an assignment PRAGMA counts)."""
    head = sql.lstrip()[:7].upper()
    if head.startswith("PRAGMA"):
        return "=" in sql
    return not head.startswith(_READS)


@dataclass
class StoreStats:
    statements: int = 0
    writes: int = 0
    commits: int = 0
    round_trips: int = 0

    def count(self, sql: str, *, round_trip: bool = True, autocommit: bool = True) -> None:
        """One statement; a write outside a transaction (``autocommit``) is also a commit."""
        self.statements += 1
        if is_write(sql):
            self.writes += 1
            self.commits += autocommit
        self.round_trips += round_trip

    def count_batch(self, rows: int) -> None:
        """One write statement run for ``rows`` parameter rows: one commit, one round trip."""
        self.statements += rows
        self.writes += rows
        self.commits += 1
        self.round_trips += 1

    def snapshot(self) -> dict[str, int]:
        return asdict(self)

    def since(self, before: dict[str, int]) -> dict[str, int]:
        """The counts added since ``before`` (a :meth:`snapshot`)."""
        return {name: value - before.get(name, 0) for name, value in asdict(self).items()}
