//! The sign-in feature's SQL: failure counts (throttling), second-factor challenges and trusted
//! devices. Every check-then-use here is one conditional statement, so parallel requests cannot
//! both slip past a throttle or use one challenge attempt or one trusted-device token.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::Channel;
use crate::db::{flag, Context, Db, DbError};
use crate::users::store::{user_from_row, USER_COLUMNS};
use crate::users::User;

pub async fn insert_challenge(
    db: &Db,
    token_hash: &str,
    user_id: &str,
    channel: Channel,
    persistent: bool,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO two_factor_challenges (token_hash, user_id, channel, persistent, attempts, created_at, expires_at)
         VALUES ($1, $2, $3, $4, 0, $5, $6)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(channel.as_str())
    .bind(i64::from(persistent))
    .bind(now)
    .bind(expires_at)
    .execute(&db.pool)
    .await.context("sign-in: insert challenge")?;
    Ok(())
}

/// The user of a live challenge, read with it, without spending an attempt.
pub async fn challenge_user(
    db: &Db,
    token_hash: &str,
    channel: Channel,
    now: i64,
) -> Result<Option<User>, DbError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM two_factor_challenges c JOIN users u ON u.id = c.user_id
         WHERE c.token_hash = $1 AND c.channel = $2 AND c.expires_at > $3"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(channel.as_str())
        .bind(now)
        .fetch_optional(&db.pool)
        .await
        .context("sign-in: challenge user")?;
    row.as_ref()
        .map(user_from_row)
        .transpose()
        .context("sign-in: challenge user")
}

/// Spends one of a live challenge's attempts before its code is checked. Answers the attempt's
/// number and the challenge's rememberMe, or `None` if the challenge is gone or used up.
pub async fn spend_attempt(
    db: &Db,
    token_hash: &str,
    channel: Channel,
    now: i64,
    max_attempts: i64,
) -> Result<Option<(i64, bool)>, DbError> {
    let row = sqlx::query(
        "UPDATE two_factor_challenges SET attempts = attempts + 1
         WHERE token_hash = $1 AND channel = $2 AND expires_at > $3 AND attempts < $4
         RETURNING attempts, persistent",
    )
    .bind(token_hash)
    .bind(channel.as_str())
    .bind(now)
    .bind(max_attempts)
    .fetch_optional(&db.pool)
    .await
    .context("sign-in: spend attempt")?;
    row.map(|row| Ok::<_, sqlx::Error>((row.try_get("attempts")?, flag(&row, "persistent")?)))
        .transpose()
        .context("sign-in: spend attempt")
}

/// Deletes a challenge: `true` for exactly one of any number of parallel calls.
pub async fn delete_challenge(db: &Db, token_hash: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM two_factor_challenges WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&db.pool)
        .await
        .context("sign-in: delete challenge")?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_trusted_device(
    db: &Db,
    token_hash: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO trusted_devices (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(&db.pool)
    .await.context("sign-in: insert trusted device")?;
    Ok(())
}

/// Takes (deletes) a live trusted-device token of this user; answers its expiry.
pub async fn take_trusted_device(
    db: &Db,
    token_hash: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<i64>, DbError> {
    let row = sqlx::query(
        "DELETE FROM trusted_devices WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3
         RETURNING expires_at",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .fetch_optional(&db.pool)
    .await
    .context("sign-in: take trusted device")?;
    row.map(|row| row.try_get("expires_at"))
        .transpose()
        .context("sign-in: take trusted device")
}

/// Ends the trust of every device of a user (the password changed).
pub async fn forget_trusted_devices(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM trusted_devices WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("sign-in: forget trusted devices")?;
    Ok(())
}

/// Forgets every challenge and trusted device of a user (two-factor was turned off).
pub async fn forget_user(conn: &mut AnyConnection, user_id: &str) -> Result<(), DbError> {
    for table in ["two_factor_challenges", "trusted_devices"] {
        // AssertSqlSafe: `table` is one of the two constant names above; no user input is
        // ever formatted into SQL (values are bound).
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE user_id = $1"
        )))
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("sign-in: forget user")?;
    }
    Ok(())
}

pub async fn delete_expired(db: &Db, now: i64) -> Result<(), DbError> {
    for table in ["two_factor_challenges", "trusted_devices"] {
        // AssertSqlSafe: `table` is one of the two constant names above; no user input is
        // ever formatted into SQL (values are bound).
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE expires_at <= $1"
        )))
        .bind(now)
        .execute(&db.pool)
        .await
        .context("sign-in: delete expired")?;
    }
    Ok(())
}

/// A key's failure count.
pub struct Failures {
    pub failures: i64,
    pub last_failure_at: i64,
    pub locked_until: i64,
}

pub async fn failures(db: &Db, key: &str) -> Result<Option<Failures>, DbError> {
    let row = sqlx::query(
        "SELECT failures, last_failure_at, locked_until FROM sign_in_failures WHERE email = $1",
    )
    .bind(key)
    .fetch_optional(&db.pool)
    .await
    .context("sign-in: failures")?;
    row.map(|r| {
        Ok::<_, sqlx::Error>(Failures {
            failures: r.try_get("failures")?,
            last_failure_at: r.try_get("last_failure_at")?,
            locked_until: r.try_get("locked_until")?,
        })
    })
    .transpose()
    .context("sign-in: failures")
}

/// Counts one more failure of `key` (restarting the count if the last one is older than
/// `window_start`), in one atomic statement; answers the count.
pub async fn count_failure(
    db: &Db,
    key: &str,
    now: i64,
    window_start: i64,
) -> Result<i64, DbError> {
    let row = sqlx::query(
        "INSERT INTO sign_in_failures (email, failures, last_failure_at, locked_until) VALUES ($1, 1, $2, 0)
         ON CONFLICT (email) DO UPDATE SET
             failures = CASE WHEN sign_in_failures.last_failure_at < $3 THEN 1 ELSE sign_in_failures.failures + 1 END,
             last_failure_at = $2
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(window_start)
    .fetch_one(&db.pool)
    .await.context("sign-in: count failure")?;
    row.try_get("failures").context("sign-in: count failure")
}

pub async fn lock_until(db: &Db, key: &str, until: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE sign_in_failures SET locked_until = $1 WHERE email = $2")
        .bind(until)
        .bind(key)
        .execute(&db.pool)
        .await
        .context("sign-in: lock until")?;
    Ok(())
}

pub async fn clear_failures(db: &Db, key: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
        .bind(key)
        .execute(&db.pool)
        .await
        .context("sign-in: clear failures")?;
    Ok(())
}

pub async fn forget_failures_before(db: &Db, at: i64) -> Result<u64, DbError> {
    let done = sqlx::query("DELETE FROM sign_in_failures WHERE last_failure_at < $1")
        .bind(at)
        .execute(&db.pool)
        .await
        .context("sign-in: forget failures before")?;
    Ok(done.rows_affected())
}
