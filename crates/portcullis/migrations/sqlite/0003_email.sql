-- Emailed one-time links and the durable outbox that carries them.

CREATE TABLE email_tokens (
    -- SHA-256 of the 256-bit token; the token itself is only in the mail.
    token_hash TEXT PRIMARY KEY NOT NULL,
    -- verify_email | reset_password | change_email: a token works only for its purpose.
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address the link was sent to (verification is bound to it).
    email      TEXT NOT NULL,
    -- For change_email: the address to switch to.
    new_email  TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    -- pending (waiting for delivery) | sent | failed (gave up) | held (no SMTP configured)
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- A worker that claimed the message; others leave it alone until the lease ends.
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
