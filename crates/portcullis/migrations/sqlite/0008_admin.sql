-- User management (the admin feature): bans, impersonation, API keys, who did what.

-- A ban: refused at every sign-in, every session ended. `ban_expires` (unix ms) NULL is for ever.
ALTER TABLE users ADD COLUMN banned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN ban_reason TEXT;
ALTER TABLE users ADD COLUMN ban_expires BIGINT;

-- A session an administrator opened as another user: who, and why (required).
ALTER TABLE sessions ADD COLUMN impersonated_by TEXT;
ALTER TABLE sessions ADD COLUMN impersonation_reason TEXT;

-- Keys application backends use for the admin API. Only the SHA-256 of the key is stored.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    -- Granted statements, `resource:action` comma-separated.
    permissions  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- Who acted (an administrator's user id, `api-key:<id>` or `operator`) and a short, secret-free
-- note (the new role, a ban's reason); an index for time-range queries and the retention sweep.
ALTER TABLE audit_events ADD COLUMN actor TEXT;
ALTER TABLE audit_events ADD COLUMN detail TEXT;
CREATE INDEX audit_events_at ON audit_events (at);
