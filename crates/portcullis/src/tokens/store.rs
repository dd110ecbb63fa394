//! The tokens feature's SQL: the refresh-token generation of sessions.

use sqlx::{AssertSqlSafe, Row};

use crate::db::{Backend, Context, Db, DbError};
use crate::sessions::store::{session_from_row, SESSION_COLUMNS};
use crate::sessions::{self, Session};
use crate::users::store::{user_from_row, USER_COLUMNS};
use crate::users::User;

/// Compare-and-set of a live session's refresh generation: moves it from `from` to `from + 1`,
/// slides the idle expiry to `expires_at` (never past the absolute one), and answers the session
/// as updated and its user; `None` when the session is gone, has ended or is no longer at `from`.
/// Two instances (or two requests) racing on one generation: exactly one wins.
///
/// On PostgreSQL one statement (`UPDATE … FROM users … RETURNING`): one round trip and one
/// commit per rotation. SQLite cannot return the joined user's columns, so it reads them after
/// the update; in-process, that costs no round trip.
pub async fn advance_generation(
    db: &Db,
    session_id: &str,
    from: i64,
    now: i64,
    expires_at: i64,
) -> Result<Option<(Session, User)>, DbError> {
    const ROTATED: &str = "refresh_generation = $1, refresh_rotated_at = $2, \
         updated_at = $2, last_active_at = $2";
    let live_at_from = "s.id = $4 AND s.refresh_generation = $5 \
         AND s.expires_at > $2 AND s.absolute_expires_at > $2";
    let sql = match db.backend {
        Backend::Postgres => format!(
            "UPDATE sessions s SET {ROTATED}, expires_at = LEAST($3, s.absolute_expires_at)
             FROM users u WHERE u.id = s.user_id AND {live_at_from}
             RETURNING {SESSION_COLUMNS}, {USER_COLUMNS}"
        ),
        Backend::Sqlite => format!(
            "UPDATE sessions AS s SET {ROTATED}, expires_at = MIN($3, absolute_expires_at)
             WHERE {live_at_from}"
        ),
    };
    // AssertSqlSafe: only constant column lists and clauses are formatted into `sql`; the
    // values are bound.
    let query = sqlx::query(AssertSqlSafe(sql))
        .bind(from + 1)
        .bind(now)
        .bind(expires_at)
        .bind(session_id)
        .bind(from);
    if db.backend == Backend::Postgres {
        let row = query
            .fetch_optional(&db.pool)
            .await
            .context("refresh tokens: advance generation")?;
        return row
            .map(|row| Ok::<_, sqlx::Error>((session_from_row(&row)?, user_from_row(&row)?)))
            .transpose()
            .context("refresh tokens: advance generation");
    }
    let done = query
        .execute(&db.pool)
        .await
        .context("refresh tokens: advance generation")?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    sessions::store::find_by_id(db, session_id).await
}

/// The refresh state of a session: (generation, rotated_at).
pub async fn refresh_state(db: &Db, session_id: &str) -> Result<Option<(i64, i64)>, DbError> {
    let row =
        sqlx::query("SELECT refresh_generation, refresh_rotated_at FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(&db.pool)
            .await
            .context("refresh tokens: refresh state")?;
    row.map(|row| {
        Ok::<_, sqlx::Error>((
            row.try_get("refresh_generation")?,
            row.try_get("refresh_rotated_at")?,
        ))
    })
    .transpose()
    .context("refresh tokens: refresh state")
}
