//! The admin feature's SQL: searching users, roles, bans.

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use super::query::{Filter, ListQuery, Search, Value};
use crate::db::{Context, Db, DbError};
use crate::http::timestamp::Timestamp;
use crate::users::store::{user_from_row, USER_COLUMNS};
use crate::users::User;

/// One page of users and how many match in all.
pub async fn list_users(db: &Db, query: &ListQuery) -> Result<(Vec<User>, i64), DbError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(Search { field, how, value }) = &query.search {
        values.push(Value::Text(how.pattern(&value.to_lowercase())));
        conditions.push(format!(
            "LOWER({}) LIKE ${} ESCAPE '\\'",
            field.column(),
            values.len()
        ));
    }
    if let Some(Filter { field, op, value }) = &query.filter {
        values.push(op.bound(value));
        conditions.push(match op.pattern() {
            Some(_) => format!(
                "LOWER({}) LIKE ${} ESCAPE '\\'",
                field.column(),
                values.len()
            ),
            None => format!("{} {} ${}", field.column(), op.sql(), values.len()),
        });
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let (column, direction) = query.sort;
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u {filter} ORDER BY {} {}, u.id {} LIMIT {} OFFSET {}",
        column.column(),
        direction.sql(),
        direction.sql(),
        query.limit,
        query.offset
    );
    // AssertSqlSafe: `sql` is made of constant column lists, columns and operators chosen from
    // fixed lists, and integers; every value the caller gave is bound.
    let mut select = sqlx::query(AssertSqlSafe(sql));
    for value in &values {
        select = match value {
            Value::Text(text) => select.bind(text.clone()),
            Value::Int(n) => select.bind(*n),
        };
    }
    let rows = select
        .fetch_all(&db.pool)
        .await
        .context("admin: list users")?;
    let users = rows
        .iter()
        .map(user_from_row)
        .collect::<Result<Vec<_>, _>>()
        .context("admin: list users")?;
    // AssertSqlSafe: as above.
    let mut count = sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM users u {filter}"
    )));
    for value in values {
        count = match value {
            Value::Text(text) => count.bind(text),
            Value::Int(n) => count.bind(n),
        };
    }
    let total: i64 = count
        .fetch_one(&db.pool)
        .await
        .and_then(|row| row.try_get("n"))
        .context("admin: count users")?;
    Ok((users, total))
}

/// The role lists of every user who is not banned and holds more than the default role: where
/// the administrators are.
pub async fn privileged_role_lists(db: &Db) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query("SELECT role FROM users WHERE banned = 0 AND role <> 'user'")
        .fetch_all(&db.pool)
        .await
        .context("admin: privileged roles")?;
    rows.iter()
        .map(|row| row.try_get("role"))
        .collect::<Result<_, _>>()
        .context("admin: privileged roles")
}

pub async fn set_role(db: &Db, user_id: &str, role: &str, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role)
        .bind(now)
        .bind(user_id)
        .execute(&db.pool)
        .await
        .context("admin: set role")?;
    Ok(())
}

pub async fn ban(
    db: &Db,
    user_id: &str,
    reason: &str,
    expires: Option<i64>,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE users SET banned = 1, ban_reason = $1, ban_expires = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(reason)
    .bind(expires)
    .bind(now)
    .bind(user_id)
    .execute(&db.pool)
    .await
    .context("admin: ban")?;
    Ok(())
}

pub async fn unban(db: &Db, user_id: &str, now: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE users SET banned = 0, ban_reason = NULL, ban_expires = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(user_id)
    .execute(&db.pool)
    .await
    .context("admin: unban")?;
    Ok(())
}

/// Sets the email address and whether it is verified. A taken address fails with a unique
/// violation.
pub async fn set_email(
    db: &Db,
    user_id: &str,
    email: &str,
    verified: bool,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET email = $1, email_verified = $2, updated_at = $3 WHERE id = $4")
        .bind(email)
        .bind(i64::from(verified))
        .bind(now)
        .bind(user_id)
        .execute(&db.pool)
        .await
        .context("admin: set email")?;
    Ok(())
}

/// Which events (all optional).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub actor: Option<String>,
    pub kind: Option<String>,
    /// Events in this organization.
    pub organization_id: Option<String>,
    /// From this time (unix ms, inclusive).
    pub since: Option<i64>,
    /// Until this time (unix ms, exclusive).
    pub until: Option<i64>,
    /// Older than this event (a page's `nextCursor`).
    pub before: Option<(i64, String)>,
}

/// An event as the API and the command line show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    pub at: Timestamp,
    /// `sign_in`, `user_banned`, `impersonation_started`, ...
    pub kind: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// Who acted on the user: an administrator's id, `operator` (the command line); `null`: the
    /// user themselves.
    pub actor: Option<String>,
    /// A role given, a ban's or an impersonation's reason; in an organization, the member,
    /// invitation, team or role concerned (`member <id> role admin -> member`).
    pub detail: Option<String>,
    /// The organization an organization event happened in.
    pub organization_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Audit events, newest first, after the cursor `(at, id)` (exclusive), matching the filters.
pub async fn audit_events(
    db: &Db,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditEvent>, DbError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut push = |condition: &str, value: Value| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("${}", values.len())));
    };
    if let Some(user) = &filter.user_id {
        push("user_id = ?", Value::Text(user.clone()));
    }
    if let Some(actor) = &filter.actor {
        push("actor = ?", Value::Text(actor.clone()));
    }
    if let Some(kind) = &filter.kind {
        push("kind = ?", Value::Text(kind.clone()));
    }
    if let Some(organization) = &filter.organization_id {
        push("organization_id = ?", Value::Text(organization.clone()));
    }
    if let Some(since) = filter.since {
        push("at >= ?", Value::Int(since));
    }
    if let Some(until) = filter.until {
        push("at < ?", Value::Int(until));
    }
    if let Some((at, id)) = &filter.before {
        // Each placeholder once (SQLite numbers parameters by first use).
        values.push(Value::Int(*at));
        values.push(Value::Int(*at));
        values.push(Value::Text(id.clone()));
        let n = values.len();
        conditions.push(format!(
            "(at < ${} OR (at = ${} AND id < ${n}))",
            n - 2,
            n - 1
        ));
    }
    let filter_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, at, kind, user_id, session_id, actor, detail, organization_id, ip_address,
                user_agent
         FROM audit_events {filter_sql} ORDER BY at DESC, id DESC LIMIT {limit}"
    );
    // AssertSqlSafe: fixed conditions and an integer; every value the caller gave is bound.
    let mut select = sqlx::query(AssertSqlSafe(sql));
    for value in values {
        select = match value {
            Value::Text(text) => select.bind(text),
            Value::Int(n) => select.bind(n),
        };
    }
    let rows = select
        .fetch_all(&db.pool)
        .await
        .context("admin: audit events")?;
    rows.iter()
        .map(|row| {
            Ok(AuditEvent {
                id: row.try_get("id")?,
                at: Timestamp(row.try_get("at")?),
                kind: row.try_get("kind")?,
                user_id: row.try_get("user_id")?,
                session_id: row.try_get("session_id")?,
                actor: row.try_get("actor")?,
                detail: row.try_get("detail")?,
                organization_id: row.try_get("organization_id")?,
                ip_address: row.try_get("ip_address")?,
                user_agent: row.try_get("user_agent")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .context("admin: audit events")
}

/// Forgets audit events older than `before` (the retention sweep).
pub async fn delete_audit_events_before(db: &Db, before: i64) -> Result<u64, DbError> {
    let done = sqlx::query("DELETE FROM audit_events WHERE at < $1")
        .bind(before)
        .execute(&db.pool)
        .await
        .context("admin: audit retention")?;
    Ok(done.rows_affected())
}

/// An API key as stored (its hash aside).
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub permissions: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const API_KEY_COLUMNS: &str =
    "id, name, permissions, created_at, expires_at, last_used_at, revoked_at";

fn api_key_from_row(row: &sqlx::any::AnyRow) -> Result<ApiKeyRow, sqlx::Error> {
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        permissions: row.try_get("permissions")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

pub async fn insert_api_key(db: &Db, key: &ApiKeyRow, key_hash: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO api_keys (id, name, key_hash, permissions, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(key_hash)
    .bind(&key.permissions)
    .bind(key.created_at)
    .bind(key.expires_at)
    .execute(&db.pool)
    .await
    .context("admin: insert api key")?;
    Ok(())
}

pub async fn api_key_by_hash(db: &Db, key_hash: &str) -> Result<Option<ApiKeyRow>, DbError> {
    // AssertSqlSafe: a constant column list.
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"
    )))
    .bind(key_hash)
    .fetch_optional(&db.pool)
    .await
    .context("admin: api key by hash")?;
    row.as_ref()
        .map(api_key_from_row)
        .transpose()
        .context("admin: api key by hash")
}

pub async fn api_keys(db: &Db) -> Result<Vec<ApiKeyRow>, DbError> {
    // AssertSqlSafe: a constant column list.
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
    )))
    .fetch_all(&db.pool)
    .await
    .context("admin: api keys")?;
    rows.iter()
        .map(api_key_from_row)
        .collect::<Result<_, _>>()
        .context("admin: api keys")
}

pub async fn touch_api_key(db: &Db, id: &str, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await
        .context("admin: touch api key")?;
    Ok(())
}

pub async fn revoke_api_key(db: &Db, id: &str, now: i64) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&db.pool)
            .await
            .context("admin: revoke api key")?;
    Ok(done.rows_affected() == 1)
}
