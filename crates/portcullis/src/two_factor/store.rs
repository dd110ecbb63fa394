//! The two-factor feature's SQL: TOTP secrets and backup codes. Every check-then-use here is one
//! conditional statement, so parallel requests cannot both use one code.

use sqlx::{AnyConnection, Row};

use crate::db::{flag, Context, Db, DbError};

pub struct StoredSecret {
    pub sealed_secret: String,
    pub confirmed: bool,
    pub last_used_step: i64,
}

pub async fn secret(db: &Db, user_id: &str) -> Result<Option<StoredSecret>, DbError> {
    let row = sqlx::query(
        "SELECT sealed_secret, confirmed, last_used_step FROM totp_secrets WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await
    .context("two-factor: secret")?;
    row.map(|row| {
        Ok::<_, sqlx::Error>(StoredSecret {
            sealed_secret: row.try_get("sealed_secret")?,
            confirmed: flag(&row, "confirmed")?,
            last_used_step: row.try_get("last_used_step")?,
        })
    })
    .transpose()
    .context("two-factor: secret")
}

/// Stores a new pending secret, replacing a pending one; `false` if a confirmed one exists.
pub async fn put_pending_secret(
    conn: &mut AnyConnection,
    user_id: &str,
    sealed_secret: &str,
    now: i64,
) -> Result<bool, DbError> {
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
    .await.context("two-factor: put pending secret")?;
    Ok(done.rows_affected() == 1)
}

/// Records `step` as the last accepted one, if it is later than the last accepted one.
pub async fn accept_step(db: &Db, user_id: &str, step: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE totp_secrets SET last_used_step = $1 WHERE user_id = $2 AND last_used_step < $1",
    )
    .bind(step)
    .bind(user_id)
    .execute(&db.pool)
    .await
    .context("two-factor: accept step")?;
    Ok(done.rows_affected() == 1)
}

/// Confirms a pending secret and turns two-factor on; `false` if it was not pending.
pub async fn confirm(conn: &mut AnyConnection, user_id: &str, now: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE totp_secrets SET confirmed = 1, updated_at = $1 WHERE user_id = $2 AND confirmed = 0",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await.context("two-factor: confirm")?;
    set_enabled(conn, user_id, true, now).await?;
    Ok(done.rows_affected() == 1)
}

async fn set_enabled(
    conn: &mut AnyConnection,
    user_id: &str,
    enabled: bool,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET two_factor_enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(enabled))
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("two-factor: set enabled")?;
    Ok(())
}

/// Removes the user's TOTP secret and backup codes and turns two-factor off; `false` if there was
/// none. The caller also forgets the user's sign-in challenges and trusted devices.
pub async fn remove(conn: &mut AnyConnection, user_id: &str, now: i64) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("two-factor: remove")?;
    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("two-factor: remove")?;
    set_enabled(conn, user_id, false, now).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn replace_backup_codes(
    conn: &mut AnyConnection,
    user_id: &str,
    hashes: &[String],
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("two-factor: replace backup codes")?;
    for hash in hashes {
        sqlx::query("INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await
            .context("two-factor: replace backup codes")?;
    }
    Ok(())
}

/// One of the user's unused backup code hashes: it carries the salt and parameters of them all.
pub async fn any_backup_code(db: &Db, user_id: &str) -> Result<Option<String>, DbError> {
    let row = sqlx::query("SELECT code_hash FROM backup_codes WHERE user_id = $1 LIMIT 1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await
        .context("two-factor: any backup code")?;
    row.map(|row| row.try_get("code_hash"))
        .transpose()
        .context("two-factor: any backup code")
}

/// Uses a backup code up: `true` for exactly one of any number of parallel uses.
pub async fn use_backup_code(db: &Db, user_id: &str, code_hash: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM backup_codes WHERE user_id = $1 AND code_hash = $2")
        .bind(user_id)
        .bind(code_hash)
        .execute(&db.pool)
        .await
        .context("two-factor: use backup code")?;
    Ok(done.rows_affected() == 1)
}
