//! The two-factor feature's SQL. Every check-then-use here is one conditional statement, so
//! parallel requests cannot both use one code, one challenge attempt or one trusted-device token.

use sqlx::{AnyConnection, Row};

use super::challenge::Channel;
use crate::accounts::store::{user_from_row, USER_COLUMNS};
use crate::accounts::User;
use crate::db::{flag, Db};

pub struct StoredSecret {
    pub sealed_secret: String,
    pub confirmed: bool,
    pub last_used_step: i64,
}

pub async fn secret(db: &Db, user_id: &str) -> Result<Option<StoredSecret>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT sealed_secret, confirmed, last_used_step FROM totp_secrets WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(StoredSecret {
            sealed_secret: row.try_get("sealed_secret")?,
            confirmed: flag(&row, "confirmed")?,
            last_used_step: row.try_get("last_used_step")?,
        })
    })
    .transpose()
}

/// Stores a new pending secret, replacing a pending one; `false` if a confirmed one exists.
pub async fn put_pending_secret(
    conn: &mut AnyConnection,
    user_id: &str,
    sealed_secret: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO totp_secrets (user_id, sealed_secret, confirmed, last_used_step, created_at, updated_at)
         VALUES ($1, $2, 0, 0, $3, $3)
         ON CONFLICT (user_id) DO UPDATE SET
             sealed_secret = excluded.sealed_secret, last_used_step = 0,
             created_at = excluded.created_at, updated_at = excluded.updated_at
         WHERE totp_secrets.confirmed = 0",
    )
    .bind(user_id)
    .bind(sealed_secret)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records `step` as the last accepted one, if it is later than the last accepted one.
pub async fn accept_step(db: &Db, user_id: &str, step: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE totp_secrets SET last_used_step = $1 WHERE user_id = $2 AND last_used_step < $1",
    )
    .bind(step)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Confirms a pending secret and turns two-factor on; `false` if it was not pending.
pub async fn confirm(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE totp_secrets SET confirmed = 1, updated_at = $1 WHERE user_id = $2 AND confirmed = 0",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    set_enabled(conn, user_id, true, now).await?;
    Ok(done.rows_affected() == 1)
}

async fn set_enabled(
    conn: &mut AnyConnection,
    user_id: &str,
    enabled: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET two_factor_enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(enabled))
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Removes every trace of two-factor for a user and turns it off; `false` if there was none.
pub async fn remove(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for table in ["backup_codes", "two_factor_challenges", "trusted_devices"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    set_enabled(conn, user_id, false, now).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn replace_backup_codes(
    conn: &mut AnyConnection,
    user_id: &str,
    hashes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for hash in hashes {
        sqlx::query("INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One of the user's unused backup code hashes: it carries the salt and parameters of them all.
pub async fn any_backup_code(db: &Db, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT code_hash FROM backup_codes WHERE user_id = $1 LIMIT 1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| row.try_get("code_hash")).transpose()
}

/// Uses a backup code up: `true` for exactly one of any number of parallel uses.
pub async fn use_backup_code(db: &Db, user_id: &str, code_hash: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM backup_codes WHERE user_id = $1 AND code_hash = $2")
        .bind(user_id)
        .bind(code_hash)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

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

pub async fn delete_expired(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    for table in ["two_factor_challenges", "trusted_devices"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
            .bind(now)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}
