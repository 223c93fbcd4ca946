"""The durable store: everything that must survive a restart, behind one interface.

:class:`Store` is the engine's view of it — sessions and history, queued operations, the event
log with its consumers' cursors, kv — over a backend connection (:mod:`.database`, SQLite
today). Layers above own their tables: they declare a :class:`Schema` beside their queries and
:meth:`Store.require` it (the job watcher's ``jobs``, the Slack gateway's ledger and threads,
the notification outbox), so each migrates its own history. The event log is read through
:class:`~.event_log.EventLog`'s methods, never with SQL elsewhere.
"""

from __future__ import annotations

from .database import dumps
from .event_log import Cursor, EventLog
from .leases import LEASES_SCHEMA, Lease, SessionLeases
from .schema import CORE, Schema, StoreError
from .sessions import SessionTables

SCHEMA_VERSION = CORE.version


class Store(EventLog, SessionTables):
    """The store. Open with ``await Store.open(path)``; close always."""


__all__ = [
    "CORE",
    "SCHEMA_VERSION",
    "Cursor",
    "LEASES_SCHEMA",
    "Lease",
    "Schema",
    "SessionLeases",
    "Store",
    "StoreError",
    "dumps",
]
