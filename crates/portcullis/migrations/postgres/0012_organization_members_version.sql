-- Each organization counts the changes to what its members pages show, so a server may keep a
-- page it rendered and answer it again while the count has not moved (organizations/pages.rs):
-- the count is read with the caller's membership, in the statement every page request runs
-- anyway. Triggers move it in the statement that makes the change, whichever way that happens:
-- a membership added or removed (with the member count), a membership's shown columns changed,
-- or a member's name, email or image changed.
ALTER TABLE organizations ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION organization_members_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE organizations
        SET member_count = member_count + 1, members_version = members_version + 1
        WHERE id = NEW.organization_id;
    ELSE
        UPDATE organizations
        SET member_count = member_count - 1, members_version = members_version + 1
        WHERE id = OLD.organization_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION organization_members_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organizations SET members_version = members_version + 1
    WHERE id IN (OLD.organization_id, NEW.organization_id);
    RETURN NULL;
END;
$$;

-- `last_active_at` is not shown on a page: changing it (the remembered active organization)
-- leaves the pages as they are.
CREATE TRIGGER organization_members_changed
    AFTER UPDATE OF id, organization_id, user_id, role, created_at ON organization_members
    FOR EACH ROW EXECUTE FUNCTION organization_members_change();

CREATE FUNCTION organization_member_users_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organizations SET members_version = members_version + 1
    WHERE id IN (SELECT organization_id FROM organization_members WHERE user_id = OLD.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER organization_member_users_changed AFTER UPDATE OF id, name, email, image ON users
    FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.name IS DISTINCT FROM NEW.name
        OR OLD.email IS DISTINCT FROM NEW.email OR OLD.image IS DISTINCT FROM NEW.image)
    EXECUTE FUNCTION organization_member_users_change();
