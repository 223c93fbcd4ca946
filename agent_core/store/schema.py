"""Table ownership and migrations: each layer declares its tables, the store migrates them.

A :class:`Schema` is one owner's migration history — a list of SQL scripts, each upgrading
that owner's tables by one version. The engine's own tables (sessions, history, the event log
and its cursors, queued operations, approvals, kv) are :data:`CORE`; the job watcher, the Slack
gateway and the notification gateways declare theirs beside their queries. Versions are kept
per owner, so a layer can add a migration without touching anyone else's history.

Rules for an entry: never edit a released one, append. Owner scripts start with ``CREATE TABLE
IF NOT EXISTS``: their first version adopts tables that older builds created as part of the
engine's v1 (one file, one history then), so existing databases upgrade cleanly.

The scripts are SQLite. On Postgres the same versions run, each script translated by
:func:`~.dialect.postgres_ddl` (column types only); a version whose SQL does not translate gets a
hand-written Postgres script in ``Schema.postgres`` (keyed by version number). Owners keep their
SQL to what both understand (``ON CONFLICT``, plain columns) wherever that costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .dialect import postgres_ddl


class StoreError(RuntimeError):
    """The store cannot be opened or used (bad path, newer schema, corrupt file)."""


@dataclass(frozen=True)
class Schema:
    """One owner's tables, as the ordered migrations that build them."""

    owner: str
    migrations: tuple[str, ...]
    # version number → that version's script on Postgres, where the SQLite one does not
    # translate (see the module docs); the other versions are translated.
    postgres: Mapping[int, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def version(self) -> int:
        return len(self.migrations)

    def postgres_script(self, version: int) -> str:
        """The script that brings this owner's tables to ``version`` on Postgres."""
        if version in self.postgres:
            return self.postgres[version]
        return postgres_ddl(self.migrations[version - 1])

    def refuse_newer(self, found: int, location: str) -> None:
        """A store migrated by a newer build is never touched: raise if ``found`` is newer."""
        if found > self.version:
            raise StoreError(
                f"the store at {location} has {self.owner} schema v{found}, newer than this "
                f"build understands (v{self.version}); upgrade ml-intern-slack or use another "
                "ML_INTERN_DB"
            )


# The engine's tables as SQLite runs them (Postgres: :data:`CORE` below).
_CORE_SQLITE = Schema(
    "core",
    (
        # v1 — the initial schema. Older builds also created the jobs, Slack and outbox tables
        # here; their owners now declare them (and adopt existing ones), see the module docs.
        """
        CREATE TABLE sessions (
            id            TEXT PRIMARY KEY,
            origin        TEXT NOT NULL DEFAULT '{}',
            model         TEXT,
            state         TEXT NOT NULL DEFAULT '{}',
            status        TEXT NOT NULL DEFAULT 'active',
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL
        );
        CREATE TABLE messages (
            session_id    TEXT NOT NULL,
            idx           INTEGER NOT NULL,
            message       TEXT NOT NULL,
            PRIMARY KEY (session_id, idx)
        );
        CREATE TABLE events (
            session_id    TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            type          TEXT NOT NULL,
            data          TEXT NOT NULL,
            ts            REAL NOT NULL,
            PRIMARY KEY (session_id, seq)
        );
        CREATE INDEX events_by_type ON events (type, ts);
        CREATE TABLE ops (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id    TEXT NOT NULL,
            kind          TEXT NOT NULL,
            data          TEXT NOT NULL,
            status        TEXT NOT NULL DEFAULT 'queued',
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL
        );
        CREATE INDEX ops_pending ON ops (status, session_id, id);
        CREATE TABLE approvals (
            session_id    TEXT NOT NULL,
            tool_call_id  TEXT NOT NULL,
            batch_id      TEXT NOT NULL,
            tool          TEXT NOT NULL,
            arguments     TEXT NOT NULL,
            args_hash     TEXT NOT NULL,
            approval_class TEXT,
            status        TEXT NOT NULL DEFAULT 'pending',
            requester     TEXT,
            decided_by    TEXT,
            feedback      TEXT,
            overrides     TEXT NOT NULL DEFAULT '{}',
            reason        TEXT,
            estimated_cost_usd REAL,
            created_at    REAL NOT NULL,
            expires_at    REAL,
            decided_at    REAL,
            PRIMARY KEY (session_id, tool_call_id)
        );
        CREATE INDEX approvals_pending ON approvals (status, expires_at);
        CREATE TABLE kv (
            namespace     TEXT NOT NULL,
            key           TEXT NOT NULL,
            value         TEXT NOT NULL,
            updated_at    REAL NOT NULL,
            PRIMARY KEY (namespace, key)
        );
        """,
        # v2 — per-owner schema versions; durable event-log cursors for consumers (the Slack
        # renderer, the notification gateways); an index for finding one event by type.
        """
        CREATE TABLE schema_versions (
            owner         TEXT PRIMARY KEY,
            version       INTEGER NOT NULL
        );
        CREATE TABLE event_consumers (
            consumer      TEXT PRIMARY KEY,
            started_at    REAL NOT NULL
        );
        CREATE TABLE event_cursors (
            consumer      TEXT NOT NULL,
            session_id    TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            state         TEXT NOT NULL DEFAULT '{}',
            updated_at    REAL NOT NULL,
            PRIMARY KEY (consumer, session_id)
        );
        CREATE INDEX events_by_session_type ON events (session_id, type, seq);
        """,
        # v3 — nothing reads events by type across sessions any more (the notifications follow
        # per-session cursors), so that index only cost a write per event.
        """
        DROP INDEX IF EXISTS events_by_type;
        """,
    ),
)

# The engine's tables. On SQLite their version is ``PRAGMA user_version`` (as in every build so
# far); every other version — and, on Postgres, core's too — lives in ``schema_versions``.
CORE = Schema(
    "core",
    _CORE_SQLITE.migrations,
    postgres={
        # Postgres has no implicit rowid; the approvals are listed in insertion order by it.
        1: postgres_ddl(_CORE_SQLITE.migrations[0])
        + "\nALTER TABLE approvals ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;\n",
        # Postgres keeps core's version in schema_versions too, so the backend creates the
        # table before the first migration.
        2: postgres_ddl(_CORE_SQLITE.migrations[1]).replace(
            "CREATE TABLE schema_versions", "CREATE TABLE IF NOT EXISTS schema_versions"
        ),
    },
)
