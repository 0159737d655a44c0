-- Sync state of each module: settings, links, the observation mirror of both sides, cursors,
-- write-ahead intents, the journal of every change the sync made, and run history.

-- Per-module settings beyond `modules` (which already holds enabled/status/delete propagation).
CREATE TABLE module_settings (
    module           TEXT PRIMARY KEY REFERENCES modules (module),
    -- The Microsoft container (contact folder, calendar, To Do list) id, once created/found.
    container_id     TEXT,
    -- The field mapping as JSON (NULL: the module's default mapping).
    field_mapping    TEXT,
    conflict_policy  TEXT NOT NULL DEFAULT 'newest'
                     CHECK (conflict_policy IN ('newest', 'crm_wins', 'graph_wins', 'ask')),
    -- When the first sync of the current enablement ran (first-sync cap rules).
    first_sync_at    TEXT
);

INSERT INTO module_settings (module) VALUES ('events'), ('contacts'), ('tasks');

-- A CRM record linked to a Microsoft item, with the canonical record both last agreed on.
CREATE TABLE links (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    module         TEXT NOT NULL REFERENCES modules (module),
    crm_id         TEXT,
    graph_id       TEXT,
    crm_version    TEXT,
    graph_version  TEXT,
    base_hash      TEXT NOT NULL,
    -- The canonical record (JSON) at the last agreement.
    base           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('active', 'conflict', 'detached')),
    updated_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX links_crm_id ON links (module, crm_id) WHERE crm_id IS NOT NULL;
CREATE UNIQUE INDEX links_graph_id ON links (module, graph_id) WHERE graph_id IS NOT NULL;

-- The latest observation of each item on each side (a mirror fed by listings and delta feeds).
CREATE TABLE observations (
    module    TEXT NOT NULL REFERENCES modules (module),
    side      TEXT NOT NULL CHECK (side IN ('crm', 'graph')),
    item_id   TEXT NOT NULL,
    deleted   INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    version   TEXT,
    modified  TEXT,
    -- The observation as JSON (crmsync_core::planner::Observation).
    body      TEXT NOT NULL,
    PRIMARY KEY (module, side, item_id)
);

-- Feed positions (Graph deltaLink; Zoho modified + deleted watermarks, one opaque token),
-- advanced in the same transaction as the observations they produced.
CREATE TABLE cursors (
    module      TEXT NOT NULL REFERENCES modules (module),
    side        TEXT NOT NULL CHECK (side IN ('crm', 'graph')),
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (module, side)
);

-- Write-ahead rows: written before a remote call, removed in the transaction that records its
-- result. A row left behind means the outcome of that call is unknown (crash or timeout).
CREATE TABLE intents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    module      TEXT NOT NULL REFERENCES modules (module),
    -- The planned action as JSON (crmsync_core::planner::Action).
    action      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Run history.
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    module       TEXT NOT NULL REFERENCES modules (module),
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    -- NULL while running; then completed | paused | disabled | throttled | failed | interrupted
    outcome      TEXT,
    detail       TEXT,
    actions      INTEGER NOT NULL DEFAULT 0,
    writes       INTEGER NOT NULL DEFAULT 0
);

-- Every change the sync made on either side, with the before-image (for undo and audit).
CREATE TABLE journal (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          INTEGER REFERENCES runs (id),
    module          TEXT NOT NULL REFERENCES modules (module),
    side            TEXT NOT NULL CHECK (side IN ('crm', 'graph')),
    op              TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    item_id         TEXT NOT NULL,
    label           TEXT NOT NULL,
    changed_fields  TEXT NOT NULL,
    -- Canonical record JSON before the change (NULL for a create) and after (NULL for a delete).
    before          TEXT,
    after           TEXT,
    at              TEXT NOT NULL
);
CREATE INDEX journal_module ON journal (module, id);
