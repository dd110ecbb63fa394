-- Organizations, continued: audit events name the organization they happened in (filterable),
-- and the maintenance sweep finds expired invitations by their expiry.
ALTER TABLE audit_events ADD COLUMN organization_id TEXT;
CREATE INDEX audit_events_organization ON audit_events (organization_id, at);
CREATE INDEX organization_invitations_expires ON organization_invitations (expires_at);

-- Member pages read their ids from this index alone (sorted by join time, then id), so a deep
-- OFFSET skips index entries instead of joined rows.
DROP INDEX organization_members_page;
CREATE INDEX organization_members_page ON organization_members (organization_id, created_at, id);
