//! The sessions feature's SQL.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{Ending, Session};
use crate::db::{flag, Context, Db, DbError};
use crate::users::store::{user_from_row, USER_COLUMNS};
use crate::users::User;

/// The session columns of a query over `sessions s` (with `session_from_row`).
pub const SESSION_COLUMNS: &str = "s.id, s.user_id, s.persistent, s.ip_address, s.user_agent, \
     s.created_at, s.updated_at, s.last_active_at, s.expires_at, s.absolute_expires_at, \
     s.active_organization_id, s.active_team_id, s.impersonated_by";

pub fn session_from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        persistent: flag(row, "persistent")?,
        ip_address: row.try_get("ip_address")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_active_at: row.try_get("last_active_at")?,
        expires_at: row.try_get("expires_at")?,
        absolute_expires_at: row.try_get("absolute_expires_at")?,
        active_organization_id: row.try_get("active_organization_id")?,
        active_team_id: row.try_get("active_team_id")?,
        impersonated_by: row.try_get("impersonated_by")?,
    })
}

pub async fn insert(
    db: &Db,
    session: &Session,
    token_hash: &str,
    impersonation_reason: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, persistent, ip_address, user_agent,
             created_at, updated_at, last_active_at, expires_at, absolute_expires_at,
             impersonated_by, impersonation_reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&session.id)
    .bind(token_hash)
    .bind(&session.user_id)
    .bind(i64::from(session.persistent))
    .bind(session.ip_address.as_deref())
    .bind(session.user_agent.as_deref())
    .bind(session.created_at)
    .bind(session.updated_at)
    .bind(session.last_active_at)
    .bind(session.expires_at)
    .bind(session.absolute_expires_at)
    .bind(session.impersonated_by.as_deref())
    .bind(impersonation_reason)
    .execute(&db.pool)
    .await
    .context("sessions: insert")?;
    Ok(())
}

/// One indexed lookup for the hot path: the session and its user together.
pub async fn find_by_token_hash(
    db: &Db,
    token_hash: &str,
) -> Result<Option<(Session, User)>, DbError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS}, {USER_COLUMNS}
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await
        .context("sessions: find by token hash")?;
    row.map(|row| Ok::<_, sqlx::Error>((session_from_row(&row)?, user_from_row(&row)?)))
        .transpose()
        .context("sessions: find by token hash")
}

pub async fn extend(db: &Db, id: &str, expires_at: i64, now: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sessions SET expires_at = $1, updated_at = $2, last_active_at = $2 WHERE id = $3",
    )
    .bind(expires_at)
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await
    .context("sessions: extend")?;
    Ok(())
}

pub async fn touch(db: &Db, id: &str, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE sessions SET last_active_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await
        .context("sessions: touch")?;
    Ok(())
}

/// A user's live sessions, newest first.
pub async fn list_live(db: &Db, user_id: &str, now: i64) -> Result<Vec<Session>, DbError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s
         WHERE s.user_id = $1 AND s.expires_at > $2 AND s.absolute_expires_at > $2
         ORDER BY s.created_at DESC, s.id"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(user_id)
        .bind(now)
        .fetch_all(&db.pool)
        .await
        .context("sessions: list live")?;
    rows.iter()
        .map(session_from_row)
        .collect::<Result<_, sqlx::Error>>()
        .context("sessions: list live")
}

pub async fn delete(db: &Db, id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .context("sessions: delete")?;
    Ok(())
}

/// The session with this id and its user, live or not.
pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<(Session, User)>, DbError> {
    let mut conn = db.pool.acquire().await.context("sessions: find by id")?;
    find_by_id_on(&mut conn, id).await
}

/// [`find_by_id`] on a connection the caller holds (one checkout for several statements).
pub async fn find_by_id_on(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(Session, User)>, DbError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS}, {USER_COLUMNS}
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await
        .context("sessions: find by id")?;
    row.map(|row| Ok::<_, sqlx::Error>((session_from_row(&row)?, user_from_row(&row)?)))
        .transpose()
        .context("sessions: find by id")
}

/// Deletes the sessions `which` names and answers their ids. Every filter that names sessions by
/// something the caller supplied is scoped to a user, so nobody can end another user's session.
pub async fn delete_returning(
    conn: &mut AnyConnection,
    which: &Ending<'_>,
) -> Result<Vec<String>, DbError> {
    let query = match which {
        Ending::Id(id) => sqlx::query("DELETE FROM sessions WHERE id = $1 RETURNING id").bind(*id),
        Ending::TokenHash(hash) => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1 RETURNING id").bind(*hash)
        }
        Ending::Owned {
            user_id,
            id,
            token_hash,
        } => sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND (id = $2 OR token_hash = $3) RETURNING id",
        )
        .bind(*user_id)
        .bind(*id)
        .bind(*token_hash),
        Ending::AllOfUser(user_id) => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 RETURNING id").bind(*user_id)
        }
        Ending::OthersOfUser { user_id, keep } => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING id")
                .bind(*user_id)
                .bind(*keep)
        }
    };
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .context("sessions: delete returning")?;
    rows.iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, sqlx::Error>>()
        .context("sessions: delete returning")
}

/// Deletes up to `limit` expired sessions; answers how many went. `expires_at` alone decides:
/// it never exceeds `absolute_expires_at` (set at most equal at creation, capped at every slide),
/// and it is indexed, so each batch reads only the rows it deletes.
pub async fn delete_expired(db: &Db, now: i64, limit: i64) -> Result<u64, DbError> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE id IN \
         (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT $2)",
    )
    .bind(now)
    .bind(limit)
    .execute(&db.pool)
    .await
    .context("sessions: delete expired")?;
    Ok(done.rows_affected())
}

/// Sets a session's active organization and team (both may be none).
pub async fn set_active(
    conn: &mut AnyConnection,
    id: &str,
    organization_id: Option<&str>,
    team_id: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sessions SET active_organization_id = $1, active_team_id = $2 WHERE id = $3",
    )
    .bind(organization_id)
    .bind(team_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .context("sessions: set active organization")?;
    Ok(())
}

/// Sets a session's active team, keeping its organization.
pub async fn set_active_team(
    conn: &mut AnyConnection,
    id: &str,
    team_id: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE sessions SET active_team_id = $1 WHERE id = $2")
        .bind(team_id)
        .bind(id)
        .execute(&mut *conn)
        .await
        .context("sessions: set active team")?;
    Ok(())
}

/// Clears the active organization (and team) of a user's sessions that have `organization_id`
/// active (the user left or was removed); answers the ids of the sessions changed.
pub async fn clear_active_organization(
    conn: &mut AnyConnection,
    user_id: &str,
    organization_id: &str,
) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "UPDATE sessions SET active_organization_id = NULL, active_team_id = NULL
         WHERE user_id = $1 AND active_organization_id = $2 RETURNING id",
    )
    .bind(user_id)
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await
    .context("sessions: clear active organization")?;
    rows.iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, sqlx::Error>>()
        .context("sessions: clear active organization")
}
