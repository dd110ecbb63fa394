//! The tokens feature's SQL: the refresh-token generation of sessions.

use sqlx::Row;

use crate::db::{Context, Db, DbError};

/// Compare-and-set of a session's refresh generation: true if this call moved it from `from`.
/// Two instances (or two requests) racing on one generation: exactly one wins.
pub async fn advance_generation(
    db: &Db,
    session_id: &str,
    from: i64,
    now: i64,
    expires_at: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE sessions SET refresh_generation = $1, refresh_rotated_at = $2, expires_at = $3,
             updated_at = $2, last_active_at = $2
         WHERE id = $4 AND refresh_generation = $5",
    )
    .bind(from + 1)
    .bind(now)
    .bind(expires_at)
    .bind(session_id)
    .bind(from)
    .execute(&db.pool)
    .await
    .context("refresh tokens: advance generation")?;
    Ok(done.rows_affected() == 1)
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
