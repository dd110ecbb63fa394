CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    -- Stored trimmed and lower-cased, so the unique constraint is case-insensitive.
    email          TEXT NOT NULL UNIQUE,
    email_verified BIGINT NOT NULL DEFAULT 0, -- 0 or 1: booleans are integers on both backends
    image          TEXT,
    -- Argon2id PHC string; NULL for accounts without a password.
    password_hash  TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    -- SHA-256 of the session token; the token itself is never stored.
    token_hash          TEXT NOT NULL UNIQUE,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- FALSE for rememberMe: false (browser-session cookie, short server lifetime).
    persistent          BIGINT NOT NULL,
    ip_address          TEXT,
    user_agent          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    last_active_at      BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip_address TEXT,
    user_agent TEXT
);
CREATE INDEX audit_events_user_id ON audit_events (user_id, at);
