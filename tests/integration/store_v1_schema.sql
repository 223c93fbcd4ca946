-- The store schema v1 exactly as released (agent_core/store.py before tables moved to their
-- owners): the upgrade tests open a file built with it.
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
CREATE TABLE jobs (
    job_id        TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL,
    namespace     TEXT NOT NULL,
    tool_call_id  TEXT,
    flavor        TEXT,
    url           TEXT,
    origin        TEXT NOT NULL DEFAULT '{}',
    stage         TEXT NOT NULL DEFAULT 'SCHEDULING',
    info          TEXT NOT NULL DEFAULT '{}',
    submitted_at  REAL NOT NULL,
    finished_at   REAL,
    finished_emitted INTEGER NOT NULL DEFAULT 0,
    updated_at    REAL NOT NULL
);
CREATE INDEX jobs_open ON jobs (finished_emitted, session_id);
CREATE TABLE slack_seen_events (
    event_key     TEXT PRIMARY KEY,
    received_at   REAL NOT NULL
);
CREATE TABLE slack_ledger (
    session_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    part          TEXT NOT NULL DEFAULT '',
    channel       TEXT NOT NULL,
    ts            TEXT,
    status        TEXT NOT NULL DEFAULT 'posted',
    created_at    REAL NOT NULL,
    PRIMARY KEY (session_id, seq, part)
);
CREATE TABLE slack_threads (
    session_id    TEXT PRIMARY KEY,
    team          TEXT,
    channel       TEXT NOT NULL,
    thread_ts     TEXT NOT NULL,
    rendered_seq  INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL DEFAULT '{}',
    updated_at    REAL NOT NULL
);
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    destination   TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    session_id    TEXT,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error    TEXT,
    external_id   TEXT,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE TABLE kv (
    namespace     TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
