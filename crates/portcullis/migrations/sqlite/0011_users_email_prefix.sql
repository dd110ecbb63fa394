-- The admin list-users search by the start of an email address (`searchOperator=starts_with`,
-- `LOWER(u.email) LIKE 'ab%'`) reads this index instead of every user. SQLite's LIKE is
-- case-insensitive for ASCII, so it uses an index for it only under the NOCASE collation.
-- (`contains` and `ends_with` still read every user: no B-tree serves a pattern that starts
-- with a wildcard.)
CREATE INDEX users_email_lower ON users (LOWER(email) COLLATE NOCASE);
