//! SQL of emailed one-time links.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{LinkToken, Purpose};
use crate::db::{Context, Db, DbError};

fn token_from_row(row: &AnyRow) -> Result<LinkToken, sqlx::Error> {
    Ok(LinkToken {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        new_email: row.try_get("new_email")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
    })
}

pub struct NewLink<'a> {
    pub token_hash: &'a str,
    pub purpose: Purpose,
    pub user_id: &'a str,
    pub email: &'a str,
    pub new_email: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
}

/// Stores a link and retires the user's earlier unused links of the same purpose: only the
/// newest mail works.
pub async fn insert(conn: &mut AnyConnection, link: &NewLink<'_>) -> Result<(), DbError> {
    sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
        .bind(link.now)
        .bind(link.user_id)
        .bind(link.purpose.as_str())
        .execute(&mut *conn)
        .await.context("links: insert")?;
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, email, new_email, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(link.token_hash)
    .bind(link.purpose.as_str())
    .bind(link.user_id)
    .bind(link.email)
    .bind(link.new_email)
    .bind(link.now)
    .bind(link.expires_at)
    .execute(&mut *conn)
    .await.context("links: insert")?;
    Ok(())
}

/// A link of this purpose, used or not, expired or not (to tell the user which).
pub async fn find(
    db: &Db,
    token_hash: &str,
    purpose: Purpose,
) -> Result<Option<LinkToken>, DbError> {
    let row = sqlx::query(
        "SELECT user_id, email, new_email, expires_at, used_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(&db.pool)
    .await.context("links: find")?;
    row.as_ref()
        .map(token_from_row)
        .transpose()
        .context("links: find")
}

/// Marks a live link used, atomically: of two concurrent uses exactly one gets it.
pub async fn consume(
    conn: &mut AnyConnection,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<LinkToken>, DbError> {
    let row = sqlx::query(
        "UPDATE email_tokens SET used_at = $1
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
         RETURNING user_id, email, new_email, expires_at, used_at",
    )
    .bind(now)
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(&mut *conn)
    .await
    .context("links: consume")?;
    row.as_ref()
        .map(token_from_row)
        .transpose()
        .context("links: consume")
}

pub async fn delete_expired(db: &Db, now: i64) -> Result<u64, DbError> {
    let done = sqlx::query("DELETE FROM email_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await
        .context("links: delete expired")?;
    Ok(done.rows_affected())
}
