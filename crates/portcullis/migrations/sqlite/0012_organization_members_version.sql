-- Each organization counts the changes to what its members pages show, so a server may keep a
-- page it rendered and answer it again while the count has not moved (organizations/pages.rs):
-- the count is read with the caller's membership, in the statement every page request runs
-- anyway. Triggers move it in the statement that makes the change, whichever way that happens:
-- a membership added or removed (with the member count), a membership's shown columns changed,
-- or a member's name, email or image changed.
ALTER TABLE organizations ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;

DROP TRIGGER organization_members_counted_in;
DROP TRIGGER organization_members_counted_out;

CREATE TRIGGER organization_members_counted_in AFTER INSERT ON organization_members
BEGIN
    UPDATE organizations SET member_count = member_count + 1, members_version = members_version + 1
    WHERE id = NEW.organization_id;
END;

CREATE TRIGGER organization_members_counted_out AFTER DELETE ON organization_members
BEGIN
    UPDATE organizations SET member_count = member_count - 1, members_version = members_version + 1
    WHERE id = OLD.organization_id;
END;

-- `last_active_at` is not shown on a page: changing it (the remembered active organization)
-- leaves the pages as they are.
CREATE TRIGGER organization_members_changed
AFTER UPDATE OF id, organization_id, user_id, role, created_at ON organization_members
BEGIN
    UPDATE organizations SET members_version = members_version + 1
    WHERE id IN (OLD.organization_id, NEW.organization_id);
END;

CREATE TRIGGER organization_member_users_changed AFTER UPDATE OF id, name, email, image ON users
WHEN OLD.id IS NOT NEW.id OR OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email
    OR OLD.image IS NOT NEW.image
BEGIN
    UPDATE organizations SET members_version = members_version + 1
    WHERE id IN (SELECT organization_id FROM organization_members WHERE user_id = OLD.id);
END;
