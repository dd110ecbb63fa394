-- Two-factor authentication: TOTP secrets, backup codes, sign-in challenges, trusted devices.

-- True once the user's TOTP secret is confirmed by a first correct code; sign-ins then need it.
ALTER TABLE users ADD COLUMN two_factor_enabled BIGINT NOT NULL DEFAULT 0;

CREATE TABLE totp_secrets (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The 160-bit secret, sealed with a key derived from the master secret and bound to user_id.
    sealed_secret  TEXT NOT NULL,
    -- 0 while pending (enable called, no correct code yet), 1 once confirmed.
    confirmed      BIGINT NOT NULL DEFAULT 0,
    -- The time step of the last accepted code: only later steps are accepted (no replay).
    last_used_step BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE backup_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Argon2id PHC string; one user's codes share salt and parameters, so a typed code is hashed
    -- once and looked up by equality (and used up by deleting that row).
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- A password step that still needs its second factor.
CREATE TABLE two_factor_challenges (
    -- SHA-256 of the challenge token (in the challenge cookie, or the token endpoint's mfa_token).
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- cookie | token: where the token was handed out, and the only place it is accepted.
    channel    TEXT NOT NULL,
    -- rememberMe of the password step, for the session the challenge ends in.
    persistent BIGINT NOT NULL,
    -- Codes checked so far (reserved before checking, so parallel guesses cannot exceed the limit).
    attempts   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX two_factor_challenges_expiry ON two_factor_challenges (expires_at);

-- Browsers whose password sign-ins skip the second factor for a while.
CREATE TABLE trusted_devices (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX trusted_devices_user ON trusted_devices (user_id);
