-- Per-record sync health (design.md §2: in sync / excluded and why / failing and why), replaced
-- after every completed round of a module, so it survives a restart and can be searched.
CREATE TABLE record_health (
    module      TEXT NOT NULL REFERENCES modules (module),
    side        TEXT NOT NULL CHECK (side IN ('crm', 'graph')),
    item_id     TEXT NOT NULL,
    label       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN
                  ('in_sync', 'pending', 'excluded', 'conflict', 'detached', 'attention', 'failing')),
    -- Why: an exclusion or note key (`not_owner`, `imported`, ...) or an error message.
    detail      TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (module, side, item_id)
);
CREATE INDEX record_health_status ON record_health (module, status);

-- Records that failed on their own in a run.
ALTER TABLE runs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

-- When a journalled delete was undone (the record re-created from its before-image).
ALTER TABLE journal ADD COLUMN restored_at TEXT;
ALTER TABLE journal ADD COLUMN restored_as TEXT;
