-- Each organization keeps its member count, so an unfiltered members page reads its total from
-- one row instead of counting every membership (10,000 index entries per page of a large
-- organization). Triggers keep it in the statement that adds or removes a membership, whichever
-- way that happens: through the API, by deleting a user (ON DELETE CASCADE) or by a direct write.
-- Deleting an organization cascades to its members after its own row is gone: their triggers
-- then update nothing.
ALTER TABLE organizations ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0;
UPDATE organizations SET member_count =
    (SELECT COUNT(*) FROM organization_members m WHERE m.organization_id = organizations.id);

CREATE TRIGGER organization_members_counted_in AFTER INSERT ON organization_members
BEGIN
    UPDATE organizations SET member_count = member_count + 1 WHERE id = NEW.organization_id;
END;

CREATE TRIGGER organization_members_counted_out AFTER DELETE ON organization_members
BEGIN
    UPDATE organizations SET member_count = member_count - 1 WHERE id = OLD.organization_id;
END;
