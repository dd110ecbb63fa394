-- Organizations (better-auth's organization plugin): organizations, their members and roles,
-- email invitations, teams, roles defined per organization, and each session's active
-- organization and team.

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    -- Unique across the deployment: organizations are found by slug.
    slug       TEXT NOT NULL UNIQUE,
    logo       TEXT,
    -- A JSON object, as the client sent it.
    metadata   TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE organization_members (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- One role or several, comma-separated ("admin,billing"), as better-auth stores them.
    role            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- When a session of this user last made this organization active (organization.remember_active).
    last_active_at  BIGINT,
    UNIQUE (organization_id, user_id)
);
CREATE INDEX organization_members_user ON organization_members (user_id);
CREATE INDEX organization_members_page ON organization_members (organization_id, created_at);

CREATE TABLE organization_teams (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX organization_teams_organization ON organization_teams (organization_id);

CREATE TABLE organization_team_members (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES organization_teams (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    UNIQUE (team_id, user_id)
);
CREATE INDEX organization_team_members_user ON organization_team_members (user_id);

CREATE TABLE organization_invitations (
    -- Random, about 143 bits. Not a bearer secret on its own: accepting or reading an invitation
    -- also needs a signed-in user whose verified email is the invited one.
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Lower-cased, like users.email.
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    team_id         TEXT,
    -- pending | accepted | rejected | canceled
    status          TEXT NOT NULL,
    inviter_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX organization_invitations_organization ON organization_invitations (organization_id, status);
CREATE INDEX organization_invitations_email ON organization_invitations (email, status);

-- Roles an organization defines for itself (dynamic access control).
CREATE TABLE organization_roles (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    -- JSON: {"resource": ["action", ...]}
    permission      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (organization_id, role)
);

-- Each session has its own active organization and team (two tabs or devices may differ).
ALTER TABLE sessions ADD COLUMN active_organization_id TEXT REFERENCES organizations (id) ON DELETE SET NULL;
ALTER TABLE sessions ADD COLUMN active_team_id TEXT REFERENCES organization_teams (id) ON DELETE SET NULL;
CREATE INDEX sessions_active_organization ON sessions (active_organization_id);
