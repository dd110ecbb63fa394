-- Token mode: signing keys, refresh-token state on sessions, the revocation feed.

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY NOT NULL,
    alg           TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    -- PKCS#8 private key sealed with a key derived from the master secret (ChaCha20-Poly1305).
    sealed_key    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Set when a newer key takes over: the key is published until every token it signed expired.
    superseded_at BIGINT,
    retire_after  BIGINT
);

-- Refresh tokens are HMAC(server key, session id . generation): nothing secret is stored. A
-- refresh moves the generation forward by compare-and-set; `refresh_rotated_at` bounds the grace
-- in which the previous generation still converges on the current one.
ALTER TABLE sessions ADD COLUMN refresh_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN refresh_rotated_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE revocations (
    cursor     INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    -- Either one session ...
    session_id TEXT,
    -- ... or every token of a user issued before not_before (unix seconds).
    user_id    TEXT,
    not_before BIGINT
);
CREATE INDEX revocations_at ON revocations (at);

-- The `role` claim of access tokens (the admin API will manage it).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
