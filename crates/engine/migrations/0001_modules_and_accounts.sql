-- Sync modules and their user-facing state. One row per module, always present.
CREATE TABLE modules (
    module              TEXT PRIMARY KEY CHECK (module IN ('events', 'contacts', 'tasks')),
    enabled             INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    -- inactive | active | paused | needs_sign_in | error
    status              TEXT NOT NULL DEFAULT 'inactive'
                        CHECK (status IN ('inactive', 'active', 'paused', 'needs_sign_in', 'error')),
    status_reason       TEXT,
    -- Delete the CRM record when it is deleted in Microsoft 365 (off by default).
    delete_propagation  INTEGER NOT NULL DEFAULT 0 CHECK (delete_propagation IN (0, 1)),
    last_sync_at        TEXT,
    updated_at          TEXT NOT NULL
);

INSERT INTO modules (module, updated_at) VALUES
    ('events',   '1970-01-01T00:00:00Z'),
    ('contacts', '1970-01-01T00:00:00Z'),
    ('tasks',    '1970-01-01T00:00:00Z');

-- Connected accounts: identity only. Tokens live in the OS keychain, never here.
CREATE TABLE accounts (
    service       TEXT PRIMARY KEY CHECK (service IN ('zoho', 'microsoft')),
    user_id       TEXT NOT NULL,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    -- Zoho: the org name; Microsoft 365: the tenant id.
    organisation  TEXT NOT NULL,
    -- Zoho data centre (us, eu, in, au, jp, ca); NULL for Microsoft 365.
    data_centre   TEXT,
    connected_at  TEXT NOT NULL
);
