"""The Slack gateway's tables and their migrations (the bot owns them, not the engine).

``slack_seen_events`` (dedupe keys, :mod:`bot.slack.seen_events`), ``slack_ledger`` (what was
posted for which event, :mod:`bot.slack.ledger`), ``slack_threads`` (where a session's
thread is, :mod:`bot.slack.threads`) and ``slack_inputs`` (which session a person's message
went to, :mod:`bot.conversation.edits`) and ``slack_rate_slots`` (post budgets shared by
replicas, :mod:`bot.slack.rate_budget`). Since v5 a ``slack_seen_events`` row can also be an
event's durable inbox row (:mod:`bot.slack.inbox`). How far each thread is rendered is the renderer's cursor
in the store's event log (consumer :data:`RENDER_CONSUMER`), not a column here.
"""

from __future__ import annotations

from agent_core.store import Schema

# The renderer's name for its event-log cursors (with the thread's render state).
RENDER_CONSUMER = "slack"

SLACK_SCHEMA = Schema(
    "slack",
    (
        # v1 — adopts the tables older builds created with the engine's own v1.
        """
        CREATE TABLE IF NOT EXISTS slack_seen_events (
            event_key     TEXT PRIMARY KEY,
            received_at   REAL NOT NULL
        );
        CREATE TABLE IF NOT EXISTS slack_ledger (
            session_id    TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            part          TEXT NOT NULL DEFAULT '',
            channel       TEXT NOT NULL,
            ts            TEXT,
            status        TEXT NOT NULL DEFAULT 'posted',
            created_at    REAL NOT NULL,
            PRIMARY KEY (session_id, seq, part)
        );
        CREATE TABLE IF NOT EXISTS slack_threads (
            session_id    TEXT PRIMARY KEY,
            team          TEXT,
            channel       TEXT NOT NULL,
            thread_ts     TEXT NOT NULL,
            rendered_seq  INTEGER NOT NULL DEFAULT 0,
            state         TEXT NOT NULL DEFAULT '{}',
            updated_at    REAL NOT NULL
        );
        """,
        # v2 — the render watermark and state become the renderer's event-log cursor.
        f"""
        INSERT INTO event_cursors (consumer, session_id, seq, state, updated_at)
            SELECT '{RENDER_CONSUMER}', session_id, rendered_seq, state, updated_at
            FROM slack_threads WHERE true  -- (an upsert after SELECT needs a WHERE)
            ON CONFLICT (consumer, session_id) DO NOTHING;
        ALTER TABLE slack_threads DROP COLUMN rendered_seq;
        ALTER TABLE slack_threads DROP COLUMN state;
        """,
        # v3 — which session each person's message was given to, so its edits and deletes
        # find it (bot.conversation.edits.InputIndex); pruned after INPUT_TTL_S.
        """
        CREATE TABLE IF NOT EXISTS slack_inputs (
            channel       TEXT NOT NULL,
            ts            TEXT NOT NULL,
            session_id    TEXT NOT NULL,
            received_at   REAL NOT NULL,
            PRIMARY KEY (channel, ts)
        );
        CREATE INDEX IF NOT EXISTS slack_inputs_by_session
            ON slack_inputs (session_id, received_at);
        """,
        # v4 — send budgets shared by replicas (bot.slack.rate_budget.SharedRateBudget): per
        # bucket (a channel's posts), the GCRA theoretical arrival time in wall-clock seconds.
        """
        CREATE TABLE IF NOT EXISTS slack_rate_slots (
            bucket        TEXT PRIMARY KEY,
            tat           REAL NOT NULL
        );
        """,
        # v5 — the durable inbox (bot.slack.inbox): the first dedupe key of a delivery that
        # leads to work carries the event's body until its work is durable ('received' →
        # 'done'; 'rejected' / 'failed' when a replay refuses it), and a claim for replicas.
        """
        ALTER TABLE slack_seen_events ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
        ALTER TABLE slack_seen_events ADD COLUMN body TEXT;
        ALTER TABLE slack_seen_events ADD COLUMN mac TEXT;
        ALTER TABLE slack_seen_events ADD COLUMN claimed_by TEXT;
        ALTER TABLE slack_seen_events ADD COLUMN claim_expires_at REAL;
        ALTER TABLE slack_seen_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX IF NOT EXISTS slack_inbox_received
            ON slack_seen_events (received_at) WHERE state = 'received';
        """,
    ),
)
