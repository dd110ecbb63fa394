-- The admin list-users search by the start of an email address (`searchOperator=starts_with`,
-- `LOWER(u.email) LIKE 'ab%'`) reads this index instead of every user. PostgreSQL uses an index
-- for a LIKE prefix only under the C collation or with the pattern operator class.
-- (`contains` and `ends_with` still read every user: no B-tree serves a pattern that starts
-- with a wildcard.)
CREATE INDEX users_email_lower ON users (LOWER(email) text_pattern_ops);
