-- Failed sign-ins per email address (whether or not it has an account, so throttling says
-- nothing about which addresses exist).
CREATE TABLE sign_in_failures (
    email           TEXT PRIMARY KEY NOT NULL,
    -- Attempts counted since the last success; an attempt counts before its password is checked.
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    -- No attempt before this (progressive delay).
    locked_until    BIGINT NOT NULL
);
