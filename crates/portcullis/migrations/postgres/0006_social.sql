-- Social sign-in: provider accounts and the sign-in transactions between redirect and callback.
-- (The credential account is the users row's password_hash; it has no row here.)

-- A provider account, keyed by (provider_id, account_id): the provider and its subject (`sub`),
-- never by email.
CREATE TABLE accounts (
    id                      TEXT PRIMARY KEY,
    user_id                 TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id             TEXT NOT NULL,
    account_id              TEXT NOT NULL,
    -- The address the provider gave at the last sign-in (informational).
    email                   TEXT,
    -- Granted scopes, comma-separated.
    scopes                  TEXT NOT NULL DEFAULT '',
    -- The provider's last profile (JSON), for account-info.
    profile                 TEXT,
    -- Only with social.store_provider_tokens: sealed with a key derived from the master secret,
    -- bound to the account id.
    sealed_access_token     TEXT,
    access_token_expires_at BIGINT,
    sealed_refresh_token    TEXT,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    UNIQUE (provider_id, account_id)
);
CREATE INDEX accounts_user_id ON accounts (user_id);

-- One redirect to a provider, until its callback (single use, 10 minutes).
CREATE TABLE social_transactions (
    -- SHA-256 of the `state` sent to the provider.
    state_hash            TEXT PRIMARY KEY,
    -- SHA-256 of the browser binding in the HttpOnly state cookie.
    browser_hash          TEXT NOT NULL,
    provider_id           TEXT NOT NULL,
    -- PKCE code_verifier and OIDC nonce, sealed (bound to state_hash).
    sealed_secrets        TEXT NOT NULL,
    -- The issuer the response must name (RFC 9207), when the provider has one.
    issuer                TEXT,
    callback_url          TEXT NOT NULL,
    new_user_callback_url TEXT,
    error_callback_url    TEXT,
    -- link-social: the signed-in user the provider account is added to.
    link_user_id          TEXT,
    request_sign_up       BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL
);
CREATE INDEX social_transactions_expires_at ON social_transactions (expires_at);
