//! The organizations feature's SQL. Every query that names a member, invitation, team or role
//! by id is scoped by its organization, so an id from another organization finds nothing.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::model::{
    Invitation, InvitationStatus, Member, MemberUser, Organization, OrganizationRole, Team,
    TeamMember,
};
use crate::db::{Context, DbError};
use crate::http::timestamp::Timestamp;

type Conn = AnyConnection;

fn json_of(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn organization_from_row(row: &AnyRow) -> Result<Organization, sqlx::Error> {
    Ok(Organization {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        logo: row.try_get("logo")?,
        metadata: json_of(row.try_get("metadata")?),
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

const MEMBER_USER_COLUMNS: &str =
    "m.id, m.organization_id, m.user_id, m.role, m.created_at, u.name AS user_name, \
     u.email AS user_email, u.image AS user_image";

fn member_from_row(row: &AnyRow) -> Result<Member, sqlx::Error> {
    Ok(Member {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        user_id: row.try_get("user_id")?,
        role: row.try_get("role")?,
        created_at: Timestamp(row.try_get("created_at")?),
        user: None,
    })
}

fn member_with_user_from_row(row: &AnyRow) -> Result<Member, sqlx::Error> {
    let mut member = member_from_row(row)?;
    member.user = Some(MemberUser {
        id: member.user_id.clone(),
        name: row.try_get("user_name")?,
        email: row.try_get("user_email")?,
        image: row.try_get("user_image")?,
    });
    Ok(member)
}

const INVITATION_COLUMNS: &str = "i.id, i.organization_id, i.email, i.role, i.status, i.team_id, \
     i.inviter_id, i.expires_at, i.created_at";
/// For `RETURNING`, which names the modified table's columns unqualified.
const INVITATION_RETURNING: &str =
    "id, organization_id, email, role, status, team_id, inviter_id, expires_at, created_at";

fn invitation_from_row(row: &AnyRow) -> Result<Invitation, sqlx::Error> {
    Ok(Invitation {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        email: row.try_get("email")?,
        role: row.try_get("role")?,
        status: row.try_get("status")?,
        team_id: row.try_get("team_id")?,
        inviter_id: row.try_get("inviter_id")?,
        expires_at: Timestamp(row.try_get("expires_at")?),
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn team_from_row(row: &AnyRow) -> Result<Team, sqlx::Error> {
    Ok(Team {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        organization_id: row.try_get("organization_id")?,
        created_at: Timestamp(row.try_get("created_at")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
    })
}

fn team_member_from_row(row: &AnyRow) -> Result<TeamMember, sqlx::Error> {
    Ok(TeamMember {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        user_id: row.try_get("user_id")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn role_from_row(row: &AnyRow) -> Result<OrganizationRole, sqlx::Error> {
    let permission: String = row.try_get("permission")?;
    Ok(OrganizationRole {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        role: row.try_get("role")?,
        permission: serde_json::from_str(&permission).unwrap_or(serde_json::Value::Null),
        created_at: Timestamp(row.try_get("created_at")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
    })
}

fn all<T>(
    rows: &[AnyRow],
    f: fn(&AnyRow) -> Result<T, sqlx::Error>,
    step: &'static str,
) -> Result<Vec<T>, DbError> {
    rows.iter()
        .map(f)
        .collect::<Result<_, sqlx::Error>>()
        .context(step)
}

fn one<T>(
    row: Option<AnyRow>,
    f: fn(&AnyRow) -> Result<T, sqlx::Error>,
    step: &'static str,
) -> Result<Option<T>, DbError> {
    row.as_ref().map(f).transpose().context(step)
}

// ---- organizations

pub struct NewOrganization<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub slug: &'a str,
    pub logo: Option<&'a str>,
    pub metadata: Option<&'a str>,
    pub now: i64,
}

pub async fn insert_organization(
    conn: &mut Conn,
    org: &NewOrganization<'_>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO organizations (id, name, slug, logo, metadata, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(org.id)
    .bind(org.name)
    .bind(org.slug)
    .bind(org.logo)
    .bind(org.metadata)
    .bind(org.now)
    .execute(&mut *conn)
    .await
    .context("organizations: insert")?;
    Ok(())
}

const ORGANIZATION_COLUMNS: &str = "o.id, o.name, o.slug, o.logo, o.metadata, o.created_at";

pub async fn find_organization(conn: &mut Conn, id: &str) -> Result<Option<Organization>, DbError> {
    let sql = format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations o WHERE o.id = $1");
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: find")?;
    one(row, organization_from_row, "organizations: find")
}

pub async fn find_organization_by_slug(
    conn: &mut Conn,
    slug: &str,
) -> Result<Option<Organization>, DbError> {
    let sql = format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations o WHERE o.slug = $1");
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(slug)
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: find by slug")?;
    one(row, organization_from_row, "organizations: find by slug")
}

pub struct OrganizationUpdate<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub logo: Option<&'a str>,
    pub metadata: Option<&'a str>,
}

pub async fn update_organization(
    conn: &mut Conn,
    id: &str,
    update: &OrganizationUpdate<'_>,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE organizations SET name = $1, slug = $2, logo = $3, metadata = $4, updated_at = $5
         WHERE id = $6",
    )
    .bind(update.name)
    .bind(update.slug)
    .bind(update.logo)
    .bind(update.metadata)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await
    .context("organizations: update")?;
    Ok(())
}

/// Deletes an organization; its members, invitations, teams and roles go with it (cascade), and
/// sessions that had it active lose it.
pub async fn delete_organization(conn: &mut Conn, id: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .context("organizations: delete")?;
    Ok(done.rows_affected() == 1)
}

/// Takes the organization's row lock (PostgreSQL) or the write lock (SQLite) for the rest of the
/// transaction, so that rules counting owners or members see every concurrent change.
pub async fn lock_organization(conn: &mut Conn, id: &str) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE organizations SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .context("organizations: lock")?;
    Ok(done.rows_affected() == 1)
}

pub async fn list_organizations_of_user(
    conn: &mut Conn,
    user_id: &str,
) -> Result<Vec<Organization>, DbError> {
    let sql = format!(
        "SELECT {ORGANIZATION_COLUMNS} FROM organizations o
         JOIN organization_members m ON m.organization_id = o.id
         WHERE m.user_id = $1 ORDER BY o.created_at, o.id"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
        .context("organizations: list of user")?;
    all(&rows, organization_from_row, "organizations: list of user")
}

pub async fn count_memberships(conn: &mut Conn, user_id: &str) -> Result<i64, DbError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM organization_members WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await
        .context("organizations: count memberships")?;
    row.try_get("n").context("organizations: count memberships")
}

/// Every membership of a user, without the user, oldest first.
pub async fn list_memberships_of_user(
    conn: &mut Conn,
    user_id: &str,
) -> Result<Vec<Member>, DbError> {
    let rows = sqlx::query(
        "SELECT id, organization_id, user_id, role, created_at FROM organization_members
         WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await
    .context("organizations: memberships of user")?;
    all(&rows, member_from_row, "organizations: memberships of user")
}

// ---- members

pub struct NewMember<'a> {
    pub id: &'a str,
    pub organization_id: &'a str,
    pub user_id: &'a str,
    pub role: &'a str,
    pub now: i64,
}

/// Inserts a member; a unique violation means the user already is one.
pub async fn insert_member(conn: &mut Conn, member: &NewMember<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO organization_members (id, organization_id, user_id, role, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(member.id)
    .bind(member.organization_id)
    .bind(member.user_id)
    .bind(member.role)
    .bind(member.now)
    .execute(&mut *conn)
    .await
    .context("organizations: insert member")?;
    Ok(())
}

/// The organization's `members_version` if the user is one of its members (else `None`): what a
/// kept members page is checked against (`member_pages`), read with the membership.
pub async fn members_version_for_member(
    conn: &mut Conn,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<i64>, DbError> {
    let row = sqlx::query(
        "SELECT o.members_version FROM organization_members m
         JOIN organizations o ON o.id = m.organization_id
         WHERE m.organization_id = $1 AND m.user_id = $2",
    )
    .bind(organization_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await
    .context("organizations: membership and members version")?;
    row.map(|row| row.try_get("members_version"))
        .transpose()
        .context("organizations: membership and members version")
}

/// The user's membership of the organization, with the user.
pub async fn find_member(
    conn: &mut Conn,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<Member>, DbError> {
    let sql = format!(
        "SELECT {MEMBER_USER_COLUMNS} FROM organization_members m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND m.user_id = $2"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: find member")?;
    one(row, member_with_user_from_row, "organizations: find member")
}

/// A member of this organization by member id, or by the user's email.
pub async fn find_member_by_id_or_email(
    conn: &mut Conn,
    organization_id: &str,
    id_or_email: &str,
) -> Result<Option<Member>, DbError> {
    let sql = format!(
        "SELECT {MEMBER_USER_COLUMNS} FROM organization_members m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND (m.id = $2 OR u.email = $3)"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(id_or_email)
        .bind(id_or_email.trim().to_lowercase())
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: find member by id or email")?;
    one(
        row,
        member_with_user_from_row,
        "organizations: find member by id or email",
    )
}

pub async fn count_members(conn: &mut Conn, organization_id: &str) -> Result<i64, DbError> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM organization_members WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_one(&mut *conn)
            .await
            .context("organizations: count members")?;
    row.try_get("n").context("organizations: count members")
}

/// The role lists of the members that may hold the owner role (the caller parses them).
pub async fn owner_role_lists(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT role FROM organization_members WHERE organization_id = $1 AND role LIKE '%owner%'",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await
    .context("organizations: owners")?;
    rows.iter()
        .map(|row| row.try_get("role"))
        .collect::<Result<_, sqlx::Error>>()
        .context("organizations: owners")
}

pub async fn update_member_role(
    conn: &mut Conn,
    organization_id: &str,
    member_id: &str,
    role: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE organization_members SET role = $1 WHERE organization_id = $2 AND id = $3",
    )
    .bind(role)
    .bind(organization_id)
    .bind(member_id)
    .execute(&mut *conn)
    .await
    .context("organizations: update member role")?;
    Ok(done.rows_affected() == 1)
}

/// Removes a member and their team memberships in this organization.
pub async fn delete_member(
    conn: &mut Conn,
    organization_id: &str,
    member_id: &str,
    user_id: &str,
) -> Result<bool, DbError> {
    sqlx::query(
        "DELETE FROM organization_team_members WHERE user_id = $1
         AND team_id IN (SELECT id FROM organization_teams WHERE organization_id = $2)",
    )
    .bind(user_id)
    .bind(organization_id)
    .execute(&mut *conn)
    .await
    .context("organizations: delete member's teams")?;
    let done =
        sqlx::query("DELETE FROM organization_members WHERE organization_id = $1 AND id = $2")
            .bind(organization_id)
            .bind(member_id)
            .execute(&mut *conn)
            .await
            .context("organizations: delete member")?;
    Ok(done.rows_affected() == 1)
}

pub async fn touch_member(
    conn: &mut Conn,
    organization_id: &str,
    user_id: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE organization_members SET last_active_at = $1
         WHERE organization_id = $2 AND user_id = $3",
    )
    .bind(now)
    .bind(organization_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .context("organizations: touch member")?;
    Ok(())
}

/// The organization the user last made active, if any.
pub async fn last_active_organization(
    conn: &mut Conn,
    user_id: &str,
) -> Result<Option<String>, DbError> {
    let row = sqlx::query(
        "SELECT organization_id FROM organization_members
         WHERE user_id = $1 AND last_active_at IS NOT NULL
         ORDER BY last_active_at DESC LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await
    .context("organizations: last active")?;
    row.map(|r| r.try_get("organization_id"))
        .transpose()
        .context("organizations: last active")
}

/// Which member column a page is sorted or filtered by (a fixed list: nothing the client sends
/// is written into SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberField {
    Id,
    UserId,
    Role,
    CreatedAt,
    Email,
    Name,
}

impl MemberField {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "id" => Self::Id,
            "userId" => Self::UserId,
            "role" => Self::Role,
            "createdAt" => Self::CreatedAt,
            "email" => Self::Email,
            "name" => Self::Name,
            _ => return None,
        })
    }

    /// A column of the member's user rather than of the membership.
    fn is_user_field(self) -> bool {
        matches!(self, Self::Email | Self::Name)
    }

    fn column(self) -> &'static str {
        match self {
            Self::Id => "m.id",
            Self::UserId => "m.user_id",
            Self::Role => "m.role",
            Self::CreatedAt => "m.created_at",
            Self::Email => "u.email",
            Self::Name => "u.name",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOperator {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
}

impl FilterOperator {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "in" => Self::In,
            "not_in" => Self::NotIn,
            "contains" => Self::Contains,
            "starts_with" => Self::StartsWith,
            "ends_with" => Self::EndsWith,
            _ => return None,
        })
    }
}

pub struct MemberFilter {
    pub field: MemberField,
    pub operator: FilterOperator,
    /// Text values; `in`/`not_in` take several. For `createdAt`, unix milliseconds.
    pub values: Vec<String>,
}

pub struct MemberPage {
    pub limit: i64,
    pub offset: i64,
    pub sort: MemberField,
    pub descending: bool,
    pub filter: Option<MemberFilter>,
}

impl MemberPage {
    /// What names this page of `organization_id` among kept pages (`member_pages`): every part
    /// of the request that changes the answer; the filter's values (client text) each with its
    /// length first, so no two lists of values read alike.
    pub fn key(&self, organization_id: &str) -> String {
        let mut key = format!(
            "{organization_id}\0{}\0{}\0{:?}\0{}",
            self.limit, self.offset, self.sort, self.descending
        );
        if let Some(filter) = &self.filter {
            key.push_str(&format!("\0{:?}\0{:?}", filter.field, filter.operator));
            for value in &filter.values {
                key.push_str(&format!("\0{}:{value}", value.len()));
            }
        }
        key
    }
}

enum Bound {
    Text(String),
    Number(i64),
}

fn like_pattern(value: &str, prefix: bool, suffix: bool) -> String {
    let escaped = value
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!(
        "{}{escaped}{}",
        if prefix { "%" } else { "" },
        if suffix { "%" } else { "" }
    )
}

/// The condition a filter adds (with its values to bind from `$first` on), or `None` when a
/// value cannot apply (a non-number for `createdAt`): then nothing matches.
fn filter_sql(filter: &MemberFilter, first: usize) -> Option<(String, Vec<Bound>)> {
    let column = filter.field.column();
    let numeric = filter.field == MemberField::CreatedAt;
    let value = |v: &String| -> Option<Bound> {
        if numeric {
            v.trim().parse::<i64>().ok().map(Bound::Number)
        } else {
            Some(Bound::Text(v.clone()))
        }
    };
    let single = filter.values.first()?;
    let compare = |op: &str| -> Option<(String, Vec<Bound>)> {
        Some((format!("{column} {op} ${first}"), vec![value(single)?]))
    };
    let like = |prefix: bool, suffix: bool| -> Option<(String, Vec<Bound>)> {
        if numeric {
            return None;
        }
        Some((
            format!("LOWER({column}) LIKE ${first} ESCAPE '\\'"),
            vec![Bound::Text(like_pattern(single, prefix, suffix))],
        ))
    };
    match filter.operator {
        FilterOperator::Eq => compare("="),
        FilterOperator::Ne => compare("<>"),
        FilterOperator::Lt => compare("<"),
        FilterOperator::Lte => compare("<="),
        FilterOperator::Gt => compare(">"),
        FilterOperator::Gte => compare(">="),
        FilterOperator::Contains => like(true, true),
        FilterOperator::StartsWith => like(false, true),
        FilterOperator::EndsWith => like(true, false),
        FilterOperator::In | FilterOperator::NotIn => {
            let values: Vec<Bound> = filter.values.iter().map(value).collect::<Option<_>>()?;
            let placeholders: Vec<String> = (0..values.len())
                .map(|i| format!("${}", first + i))
                .collect();
            let not = if filter.operator == FilterOperator::NotIn {
                "NOT "
            } else {
                ""
            };
            Some((
                format!("{column} {not}IN ({})", placeholders.join(", ")),
                values,
            ))
        }
    }
}

/// The parts of a members page statement, for [`list_members`] and [`list_members_json`].
struct PageStatement {
    /// `FROM` the page's members joined to their users.
    from: String,
    /// The scalar query of how many match in all.
    total: String,
    /// `ORDER BY` of the page.
    order: String,
    /// Every value to bind, the page's LIMIT and OFFSET last.
    bounds: Vec<Bound>,
}

/// How a page is read: one statement. The total is a scalar subquery: the organization's
/// maintained `member_count` when nothing is filtered (counting 10,000 memberships per page was
/// most of a page's cost), else a COUNT. The page's member ids come from the index
/// (organization_id, created_at, id) in a derived table, so OFFSET skips index entries rather than
/// joined rows, and only the page's members are joined to their users. Placeholders are numbered
/// in the order they appear (SQLite numbers parameters by first use): the organization and the
/// filter's values are bound once for the total and once for the page. `None` when a filter
/// value cannot apply (a non-number for `createdAt`): nothing matches.
fn page_statement(organization_id: &str, page: &MemberPage) -> Option<PageStatement> {
    let uses_users = page.sort.is_user_field()
        || page
            .filter
            .as_ref()
            .is_some_and(|f| f.field.is_user_field());
    // `FROM ... WHERE ...` of the matching members, its values bound from `$first` on.
    let matching = |first: usize| -> Option<(String, Vec<Bound>)> {
        let join = if uses_users {
            " JOIN users u ON u.id = m.user_id"
        } else {
            ""
        };
        let mut sql =
            format!("FROM organization_members m{join} WHERE m.organization_id = ${first}");
        let mut bounds = vec![Bound::Text(organization_id.to_owned())];
        if let Some(filter) = &page.filter {
            let (condition, values) = filter_sql(filter, first + 1)?;
            sql.push_str(" AND ");
            sql.push_str(&condition);
            bounds.extend(values);
        }
        Some((sql, bounds))
    };
    let (count_from, mut bounds) = matching(1)?;
    let (page_from, page_bounds) = matching(1 + bounds.len())?;
    bounds.extend(page_bounds);
    // Both forms bind the organization as $1 (and only the COUNT the filter's values after it);
    // 0 when the organization was deleted since the caller's membership was read.
    let total = if page.filter.is_none() {
        "SELECT COALESCE((SELECT member_count FROM organizations WHERE id = $1), 0)".to_owned()
    } else {
        format!("SELECT COUNT(*) {count_from}")
    };
    let limit_at = bounds.len() + 1;
    let direction = if page.descending { "DESC" } else { "ASC" };
    let order = format!("{} {direction}, m.id {direction}", page.sort.column());
    let from = format!(
        "FROM (SELECT m.id {page_from} ORDER BY {order} LIMIT ${limit_at} OFFSET ${}) p
         JOIN organization_members m ON m.id = p.id JOIN users u ON u.id = m.user_id",
        limit_at + 1
    );
    bounds.push(Bound::Number(page.limit));
    bounds.push(Bound::Number(page.offset));
    Some(PageStatement {
        from,
        total,
        order,
        bounds,
    })
}

/// A page of members with their users, and how many match in all: one statement per page (see
/// [`page_statement`]).
pub async fn list_members(
    conn: &mut Conn,
    organization_id: &str,
    page: &MemberPage,
) -> Result<(Vec<Member>, i64), DbError> {
    let Some(statement) = page_statement(organization_id, page) else {
        return Ok((Vec::new(), 0));
    };
    let PageStatement {
        from,
        total,
        order,
        bounds,
    } = statement;
    let sql = format!("SELECT {MEMBER_USER_COLUMNS}, ({total}) AS total {from} ORDER BY {order}");
    // AssertSqlSafe: constant column names, operators and numbered placeholders; values bound.
    let rows = bind(sqlx::query(AssertSqlSafe(sql)), &bounds)
        .fetch_all(&mut *conn)
        .await
        .context("organizations: list members")?;
    let members = all(
        &rows,
        member_with_user_from_row,
        "organizations: list members",
    )?;
    let total = match rows.first() {
        Some(row) => row
            .try_get::<i64, _>("total")
            .context("organizations: list members")?,
        // A page past the end: the total alone. The total binds the organization and the
        // filter's values: the first half of the bounds before LIMIT and OFFSET.
        None => {
            let count_bounds = &bounds[..(bounds.len() - 2) / 2];
            let sql = format!("SELECT ({total}) AS n");
            // AssertSqlSafe: as above.
            let row = bind(sqlx::query(AssertSqlSafe(sql)), count_bounds)
                .fetch_one(&mut *conn)
                .await
                .context("organizations: count listed members")?;
            row.try_get("n")
                .context("organizations: count listed members")?
        }
    };
    Ok((members, total))
}

/// The same page as [`list_members`], as the JSON array of its members (each as [`Member`] with
/// its user serialises) built by the database, the total, and the organization's
/// `members_version` read in the same statement (what the page is kept under, `member_pages`). One row crosses from the database
/// instead of a hundred: on SQLite each row is a hand-over between the connection's thread and
/// the request's, and decoding 100 rows through sqlx's Any driver and serialising them again was
/// half a page's time (bench/README.md, "A page of members"). The test
/// `organizations::*::a_members_page_reads_as_the_members_of_the_full_organization` holds the two
/// shapes equal.
pub async fn list_members_json(
    conn: &mut Conn,
    organization_id: &str,
    page: &MemberPage,
) -> Result<(String, i64, i64), DbError> {
    let Some(PageStatement {
        from,
        total,
        order,
        bounds,
    }) = page_statement(organization_id, page)
    else {
        return Ok(("[]".to_owned(), 0, -1));
    };
    let postgres = conn.backend_name() == "PostgreSQL";
    // Times as `Timestamp` prints them, from whole milliseconds (no floating point).
    let (object, iso, array) = if postgres {
        (
            "json_build_object",
            "to_char(TIMESTAMP 'epoch' + m.created_at * INTERVAL '1 millisecond', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
            "COALESCE(json_agg",
        )
    } else {
        (
            "json_object",
            "strftime('%Y-%m-%dT%H:%M:%S', m.created_at / 1000, 'unixepoch') \
             || printf('.%03dZ', m.created_at % 1000)",
            "COALESCE(json_group_array",
        )
    };
    let empty = if postgres {
        "'[]'::json)::text"
    } else {
        "'[]')"
    };
    let sql = format!(
        "SELECT {array}({object}('id', m.id, 'organizationId', m.organization_id,
                 'userId', m.user_id, 'role', m.role, 'createdAt', {iso},
                 'user', {object}('id', u.id, 'name', u.name, 'email', u.email, 'image', u.image))
                 ORDER BY {order}), {empty} AS members,
             ({total}) AS total,
             (SELECT members_version FROM organizations WHERE id = $1) AS version
         {from}"
    );
    // AssertSqlSafe: constant column names, operators and numbered placeholders; values bound.
    let row = bind(sqlx::query(AssertSqlSafe(sql)), &bounds)
        .fetch_one(&mut *conn)
        .await
        .context("organizations: list members as JSON")?;
    let members: String = row
        .try_get("members")
        .context("organizations: list members as JSON")?;
    let total: i64 = row
        .try_get("total")
        .context("organizations: list members as JSON")?;
    // -1 (never a version) when the organization was deleted since the membership was read.
    let version: Option<i64> = row
        .try_get("version")
        .context("organizations: list members as JSON")?;
    Ok((members, total, version.unwrap_or(-1)))
}

/// Binds `bounds` (every value the client sent) in order.
fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    bounds: &[Bound],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for bound in bounds {
        query = match bound {
            Bound::Text(t) => query.bind(t.clone()),
            Bound::Number(n) => query.bind(*n),
        };
    }
    query
}

// ---- invitations

pub struct NewInvitation<'a> {
    pub id: &'a str,
    pub organization_id: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub team_id: Option<&'a str>,
    pub inviter_id: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert_invitation(conn: &mut Conn, inv: &NewInvitation<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO organization_invitations
             (id, organization_id, email, role, team_id, status, inviter_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)",
    )
    .bind(inv.id)
    .bind(inv.organization_id)
    .bind(inv.email)
    .bind(inv.role)
    .bind(inv.team_id)
    .bind(inv.inviter_id)
    .bind(inv.now)
    .bind(inv.expires_at)
    .execute(&mut *conn)
    .await
    .context("organizations: insert invitation")?;
    Ok(())
}

pub async fn find_invitation(conn: &mut Conn, id: &str) -> Result<Option<Invitation>, DbError> {
    let sql =
        format!("SELECT {INVITATION_COLUMNS} FROM organization_invitations i WHERE i.id = $1");
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: find invitation")?;
    one(row, invitation_from_row, "organizations: find invitation")
}

/// Live pending invitations of `email` to the organization.
pub async fn pending_invitations_for(
    conn: &mut Conn,
    organization_id: &str,
    email: &str,
    now: i64,
) -> Result<Vec<Invitation>, DbError> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM organization_invitations i
         WHERE i.organization_id = $1 AND i.email = $2 AND i.status = 'pending' AND i.expires_at > $3
         ORDER BY i.created_at"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(email)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .context("organizations: pending invitations for")?;
    all(
        &rows,
        invitation_from_row,
        "organizations: pending invitations for",
    )
}

pub async fn count_pending_invitations(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
) -> Result<i64, DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM organization_invitations
         WHERE organization_id = $1 AND status = 'pending' AND expires_at > $2",
    )
    .bind(organization_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .context("organizations: count pending invitations")?;
    row.try_get("n")
        .context("organizations: count pending invitations")
}

/// Moves a live pending invitation to `status`, atomically: of two concurrent answers exactly
/// one gets it.
pub async fn settle_invitation(
    conn: &mut Conn,
    id: &str,
    status: InvitationStatus,
    now: i64,
) -> Result<Option<Invitation>, DbError> {
    let sql = format!(
        "UPDATE organization_invitations SET status = $1
         WHERE id = $2 AND status = 'pending' AND expires_at > $3
         RETURNING {INVITATION_RETURNING}"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(status.as_str())
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: settle invitation")?;
    one(row, invitation_from_row, "organizations: settle invitation")
}

/// Cancels an invitation of this organization, expired or not, if it is still pending.
pub async fn cancel_invitation(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
) -> Result<Option<Invitation>, DbError> {
    let sql = format!(
        "UPDATE organization_invitations SET status = 'canceled'
         WHERE id = $1 AND organization_id = $2 AND status = 'pending'
         RETURNING {INVITATION_RETURNING}"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(organization_id)
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: cancel invitation")?;
    one(row, invitation_from_row, "organizations: cancel invitation")
}

pub async fn list_invitations(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<Invitation>, DbError> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM organization_invitations i
         WHERE i.organization_id = $1 ORDER BY i.created_at, i.id"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await
        .context("organizations: list invitations")?;
    all(
        &rows,
        invitation_from_row,
        "organizations: list invitations",
    )
}

/// Deletes up to `limit` invitations expired at `now` (whatever their status: an expired one can
/// no longer be used, and the audit trail keeps what happened to it). Answers how many.
pub async fn delete_expired_invitations(
    conn: &mut Conn,
    now: i64,
    limit: i64,
) -> Result<u64, DbError> {
    let done = sqlx::query(
        "DELETE FROM organization_invitations WHERE id IN
         (SELECT id FROM organization_invitations WHERE expires_at <= $1 LIMIT $2)",
    )
    .bind(now)
    .bind(limit)
    .execute(&mut *conn)
    .await
    .context("organizations: delete expired invitations")?;
    Ok(done.rows_affected())
}

/// Live pending invitations to `email`, each with its organization's name.
pub async fn pending_invitations_of_email(
    conn: &mut Conn,
    email: &str,
    now: i64,
) -> Result<Vec<(Invitation, String)>, DbError> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS}, o.name AS organization_name
         FROM organization_invitations i JOIN organizations o ON o.id = i.organization_id
         WHERE i.email = $1 AND i.status = 'pending' AND i.expires_at > $2
         ORDER BY i.created_at, i.id"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(email)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .context("organizations: invitations of email")?;
    rows.iter()
        .map(|row| Ok((invitation_from_row(row)?, row.try_get("organization_name")?)))
        .collect::<Result<_, sqlx::Error>>()
        .context("organizations: invitations of email")
}

// ---- teams

pub async fn insert_team(
    conn: &mut Conn,
    id: &str,
    organization_id: &str,
    name: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO organization_teams (id, organization_id, name, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await
    .context("organizations: insert team")?;
    Ok(())
}

const TEAM_COLUMNS: &str = "t.id, t.organization_id, t.name, t.created_at, t.updated_at";

pub async fn find_team(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
) -> Result<Option<Team>, DbError> {
    let sql = format!(
        "SELECT {TEAM_COLUMNS} FROM organization_teams t WHERE t.organization_id = $1 AND t.id = $2"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: find team")?;
    one(row, team_from_row, "organizations: find team")
}

/// A team by id alone (to learn its organization, which the caller then checks).
pub async fn find_team_anywhere(conn: &mut Conn, id: &str) -> Result<Option<Team>, DbError> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM organization_teams t WHERE t.id = $1");
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: find team anywhere")?;
    one(row, team_from_row, "organizations: find team anywhere")
}

pub async fn rename_team(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    name: &str,
    now: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE organization_teams SET name = $1, updated_at = $2
         WHERE organization_id = $3 AND id = $4",
    )
    .bind(name)
    .bind(now)
    .bind(organization_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .context("organizations: rename team")?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_team(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM organization_teams WHERE organization_id = $1 AND id = $2")
        .bind(organization_id)
        .bind(id)
        .execute(&mut *conn)
        .await
        .context("organizations: delete team")?;
    Ok(done.rows_affected() == 1)
}

pub async fn list_teams(conn: &mut Conn, organization_id: &str) -> Result<Vec<Team>, DbError> {
    let sql = format!(
        "SELECT {TEAM_COLUMNS} FROM organization_teams t WHERE t.organization_id = $1
         ORDER BY t.created_at, t.id"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await
        .context("organizations: list teams")?;
    all(&rows, team_from_row, "organizations: list teams")
}

pub async fn count_teams(conn: &mut Conn, organization_id: &str) -> Result<i64, DbError> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM organization_teams WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_one(&mut *conn)
            .await
            .context("organizations: count teams")?;
    row.try_get("n").context("organizations: count teams")
}

/// The teams the user belongs to, across organizations.
pub async fn list_user_teams(conn: &mut Conn, user_id: &str) -> Result<Vec<Team>, DbError> {
    let sql = format!(
        "SELECT {TEAM_COLUMNS} FROM organization_teams t
         JOIN organization_team_members tm ON tm.team_id = t.id
         WHERE tm.user_id = $1 ORDER BY t.created_at, t.id"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
        .context("organizations: list user teams")?;
    all(&rows, team_from_row, "organizations: list user teams")
}

/// Adds a user to a team; answers the membership (the existing one if already there).
pub async fn add_team_member(
    conn: &mut Conn,
    id: &str,
    team_id: &str,
    user_id: &str,
    now: i64,
) -> Result<TeamMember, DbError> {
    sqlx::query(
        "INSERT INTO organization_team_members (id, team_id, user_id, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (team_id, user_id) DO NOTHING",
    )
    .bind(id)
    .bind(team_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .context("organizations: add team member")?;
    let row = sqlx::query(
        "SELECT id, team_id, user_id, created_at FROM organization_team_members
         WHERE team_id = $1 AND user_id = $2",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await
    .context("organizations: add team member")?;
    team_member_from_row(&row).context("organizations: add team member")
}

pub async fn remove_team_member(
    conn: &mut Conn,
    team_id: &str,
    user_id: &str,
) -> Result<bool, DbError> {
    let done =
        sqlx::query("DELETE FROM organization_team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .context("organizations: remove team member")?;
    Ok(done.rows_affected() == 1)
}

pub async fn is_team_member(
    conn: &mut Conn,
    team_id: &str,
    user_id: &str,
) -> Result<bool, DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM organization_team_members WHERE team_id = $1 AND user_id = $2",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await
    .context("organizations: is team member")?;
    Ok(row
        .try_get::<i64, _>("n")
        .context("organizations: is team member")?
        > 0)
}

pub async fn list_team_members(conn: &mut Conn, team_id: &str) -> Result<Vec<TeamMember>, DbError> {
    let rows = sqlx::query(
        "SELECT id, team_id, user_id, created_at FROM organization_team_members
         WHERE team_id = $1 ORDER BY created_at, id",
    )
    .bind(team_id)
    .fetch_all(&mut *conn)
    .await
    .context("organizations: list team members")?;
    all(
        &rows,
        team_member_from_row,
        "organizations: list team members",
    )
}

// ---- roles defined by organizations

const ROLE_COLUMNS: &str =
    "r.id, r.organization_id, r.role, r.permission, r.created_at, r.updated_at";

pub async fn list_roles(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<OrganizationRole>, DbError> {
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM organization_roles r WHERE r.organization_id = $1
         ORDER BY r.created_at, r.id"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await
        .context("organizations: list roles")?;
    all(&rows, role_from_row, "organizations: list roles")
}

/// A role of this organization, by id or by name.
pub async fn find_role(
    conn: &mut Conn,
    organization_id: &str,
    id: Option<&str>,
    name: Option<&str>,
) -> Result<Option<OrganizationRole>, DbError> {
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM organization_roles r
         WHERE r.organization_id = $1 AND (r.id = $2 OR r.role = $3)"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`.
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(id.unwrap_or(""))
        .bind(name.unwrap_or(""))
        .fetch_optional(&mut *conn)
        .await
        .context("organizations: find role")?;
    one(row, role_from_row, "organizations: find role")
}

pub async fn insert_role(
    conn: &mut Conn,
    id: &str,
    organization_id: &str,
    role: &str,
    permission: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO organization_roles (id, organization_id, role, permission, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id)
    .bind(organization_id)
    .bind(role)
    .bind(permission)
    .bind(now)
    .execute(&mut *conn)
    .await
    .context("organizations: insert role")?;
    Ok(())
}

pub async fn update_role(
    conn: &mut Conn,
    organization_id: &str,
    id: &str,
    role: &str,
    permission: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE organization_roles SET role = $1, permission = $2, updated_at = $3
         WHERE organization_id = $4 AND id = $5",
    )
    .bind(role)
    .bind(permission)
    .bind(now)
    .bind(organization_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .context("organizations: update role")?;
    Ok(())
}

pub async fn delete_role(conn: &mut Conn, organization_id: &str, id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM organization_roles WHERE organization_id = $1 AND id = $2")
        .bind(organization_id)
        .bind(id)
        .execute(&mut *conn)
        .await
        .context("organizations: delete role")?;
    Ok(())
}

pub async fn count_roles(conn: &mut Conn, organization_id: &str) -> Result<i64, DbError> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM organization_roles WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_one(&mut *conn)
            .await
            .context("organizations: count roles")?;
    row.try_get("n").context("organizations: count roles")
}

/// The role lists of members that may hold `role` (the caller parses them).
pub async fn role_lists_mentioning(
    conn: &mut Conn,
    organization_id: &str,
    role: &str,
) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT role FROM organization_members
         WHERE organization_id = $1 AND LOWER(role) LIKE $2 ESCAPE '\\'",
    )
    .bind(organization_id)
    .bind(like_pattern(role, true, true))
    .fetch_all(&mut *conn)
    .await
    .context("organizations: members with role")?;
    rows.iter()
        .map(|row| row.try_get("role"))
        .collect::<Result<_, sqlx::Error>>()
        .context("organizations: members with role")
}
