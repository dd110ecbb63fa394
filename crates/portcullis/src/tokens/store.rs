//! The tokens feature's SQL: the refresh-token generation of sessions.

use sqlx::{AssertSqlSafe, Row};

use crate::db::{Backend, Context, Db, DbError};
use crate::sessions::store::{session_from_row, SESSION_COLUMNS};
use crate::sessions::{self, Session};
use crate::users::store::{user_from_row, USER_COLUMNS};
use crate::users::User;

/// Compare-and-set of a live session's refresh generation: moves it from `from` to `from + 1`,
/// slides the idle expiry to `slide.to` (never past the absolute one) when it is at or before
/// `slide.due_by`, and answers the session as updated and its user; `None` when the session is
/// gone, has ended or is no longer at `from`. Two instances (or two requests) racing on one
/// generation: exactly one wins.
///
/// The expiry moves at most once per `session.update_age`, as for cookie sessions, because
/// `expires_at` is indexed (the sweep): a rotation that leaves it alone changes no indexed column,
/// so PostgreSQL updates the row in place (a HOT update) instead of adding an entry to each of
/// the table's five indexes.
///
/// On PostgreSQL one statement (`UPDATE … FROM users … RETURNING`): one round trip and one
/// commit per rotation. SQLite cannot return the joined user's columns, so it reads them after
/// the update, on the same connection.
pub async fn advance_generation(
    db: &Db,
    session_id: &str,
    from: i64,
    now: i64,
    slide: Slide,
) -> Result<Option<(Session, User)>, DbError> {
    const ROTATED: &str = "refresh_generation = $1, refresh_rotated_at = $2, \
         updated_at = $2, last_active_at = $2";
    const SLID: &str = "CASE WHEN s.expires_at <= $6";
    let live_at_from = "s.id = $4 AND s.refresh_generation = $5 \
         AND s.expires_at > $2 AND s.absolute_expires_at > $2";
    let sql = match db.backend {
        Backend::Postgres => format!(
            "UPDATE sessions s SET {ROTATED},
                 expires_at = {SLID} THEN LEAST($3, s.absolute_expires_at) ELSE s.expires_at END
             FROM users u WHERE u.id = s.user_id AND {live_at_from}
             RETURNING {SESSION_COLUMNS}, {USER_COLUMNS}"
        ),
        Backend::Sqlite => format!(
            "UPDATE sessions AS s SET {ROTATED},
                 expires_at = {SLID} THEN MIN($3, s.absolute_expires_at) ELSE s.expires_at END
             WHERE {live_at_from}"
        ),
    };
    // AssertSqlSafe: only constant column lists and clauses are formatted into `sql`; the
    // values are bound.
    let query = sqlx::query(AssertSqlSafe(sql))
        .bind(from + 1)
        .bind(now)
        .bind(slide.to)
        .bind(session_id)
        .bind(from)
        .bind(slide.due_by);
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
    // One checkout for both statements: sqlx pings a connection (a hand-off to its SQLite worker
    // thread and back) each time it returns to the pool.
    let mut conn = db
        .pool
        .acquire()
        .await
        .context("refresh tokens: advance generation")?;
    let done = query
        .execute(&mut *conn)
        .await
        .context("refresh tokens: advance generation")?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    sessions::store::find_by_id_on(&mut conn, session_id).await
}

/// Where a rotation moves the session's idle expiry, and from which expiry on it is due to move.
pub struct Slide {
    pub to: i64,
    pub due_by: i64,
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
