//! The sign-in feature's SQL: second-factor challenges and trusted devices. Every check-then-use
//! here is one conditional statement, so parallel requests cannot both use one challenge attempt
//! or one trusted-device token.

use sqlx::{AnyConnection, Row};

use super::Channel;
use crate::db::{flag, Db};
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
) -> Result<(), sqlx::Error> {
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
    .await?;
    Ok(())
}

/// The user of a live challenge, read with it, without spending an attempt.
pub async fn challenge_user(
    db: &Db,
    token_hash: &str,
    channel: Channel,
    now: i64,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM two_factor_challenges c JOIN users u ON u.id = c.user_id
         WHERE c.token_hash = $1 AND c.channel = $2 AND c.expires_at > $3"
    );
    let row = sqlx::query(&sql)
        .bind(token_hash)
        .bind(channel.as_str())
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Spends one of a live challenge's attempts before its code is checked. Answers the attempt's
/// number and the challenge's rememberMe, or `None` if the challenge is gone or used up.
pub async fn spend_attempt(
    db: &Db,
    token_hash: &str,
    channel: Channel,
    now: i64,
    max_attempts: i64,
) -> Result<Option<(i64, bool)>, sqlx::Error> {
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
    .await?;
    row.map(|row| Ok((row.try_get("attempts")?, flag(&row, "persistent")?)))
        .transpose()
}

/// Deletes a challenge: `true` for exactly one of any number of parallel calls.
pub async fn delete_challenge(db: &Db, token_hash: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM two_factor_challenges WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_trusted_device(
    db: &Db,
    token_hash: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO trusted_devices (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Takes (deletes) a live trusted-device token of this user; answers its expiry.
pub async fn take_trusted_device(
    db: &Db,
    token_hash: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "DELETE FROM trusted_devices WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3
         RETURNING expires_at",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| row.try_get("expires_at")).transpose()
}

/// Ends the trust of every device of a user (the password changed).
pub async fn forget_trusted_devices(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM trusted_devices WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Forgets every challenge and trusted device of a user (two-factor was turned off).
pub async fn forget_user(conn: &mut AnyConnection, user_id: &str) -> Result<(), sqlx::Error> {
    for table in ["two_factor_challenges", "trusted_devices"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn delete_expired(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    for table in ["two_factor_challenges", "trusted_devices"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
            .bind(now)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}
