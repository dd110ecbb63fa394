//! The outbox's SQL. A message is written in the same transaction as whatever it announces (the
//! token it carries), so a crash or an SMTP outage can delay it but never lose it.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::crypto::tokens::random_id;
use crate::db::{Context, Db, DbError};

pub struct Outgoing {
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

fn stored_from_row(row: &AnyRow) -> Result<Stored, sqlx::Error> {
    Ok(Stored {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        to: row.try_get("to_address")?,
        subject: row.try_get("subject")?,
        text: row.try_get("text_body")?,
        html: row.try_get("html_body")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

const COLUMNS: &str = "id, kind, to_address, subject, text_body, html_body, status, attempts, last_error, created_at, sent_at";

pub async fn insert(
    conn: &mut AnyConnection,
    message: &Outgoing,
    status: &str,
    now: i64,
) -> Result<String, DbError> {
    let id = random_id();
    sqlx::query(
        "INSERT INTO mail_outbox (id, kind, to_address, subject, text_body, html_body, status, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(message.kind)
    .bind(&message.to)
    .bind(&message.subject)
    .bind(&message.text)
    .bind(&message.html)
    .bind(status)
    .bind(now)
    .execute(&mut *conn)
    .await.context("outbox: insert")?;
    Ok(id)
}

/// Claims the next due message for `lease_ms` (one worker at a time, across instances).
pub async fn claim_due(db: &Db, now: i64, lease_ms: i64) -> Result<Option<Stored>, DbError> {
    let sql = format!(
        "UPDATE mail_outbox SET lease_until = $1, attempts = attempts + 1
         WHERE id = (SELECT id FROM mail_outbox
                     WHERE status = 'pending' AND next_attempt_at <= $2 AND lease_until < $2
                     ORDER BY next_attempt_at, created_at LIMIT 1)
           AND lease_until < $2
         RETURNING {COLUMNS}"
    );
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&db.pool)
        .await
        .context("outbox: claim due")?;
    row.as_ref()
        .map(stored_from_row)
        .transpose()
        .context("outbox: claim due")
}

pub async fn mark_sent(db: &Db, id: &str, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE mail_outbox SET status = 'sent', sent_at = $1, lease_until = 0, last_error = NULL WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await.context("outbox: mark sent")?;
    Ok(())
}

/// Records a failed attempt: retry at `next_attempt_at`, or give up (`failed`).
pub async fn mark_attempt_failed(
    db: &Db,
    id: &str,
    error: &str,
    next_attempt_at: Option<i64>,
) -> Result<(), DbError> {
    let (status, next) = match next_attempt_at {
        Some(at) => ("pending", at),
        None => ("failed", 0),
    };
    sqlx::query("UPDATE mail_outbox SET status = $1, next_attempt_at = $2, lease_until = 0, last_error = $3 WHERE id = $4")
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(id)
        .execute(&db.pool)
        .await.context("outbox: mark attempt failed")?;
    Ok(())
}

/// What waits: messages still to be sent (pending) with the oldest one's `created_at`, and
/// messages given up on (failed).
pub struct Backlog {
    pub pending: i64,
    pub oldest_pending_at: Option<i64>,
    pub failed: i64,
}

pub async fn backlog(db: &Db) -> Result<Backlog, DbError> {
    let row = sqlx::query(
        "SELECT COUNT(CASE WHEN status = 'pending' THEN 1 END) AS pending,
                MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest,
                COUNT(CASE WHEN status = 'failed' THEN 1 END) AS failed
         FROM mail_outbox WHERE status IN ('pending', 'failed')",
    )
    .fetch_one(&db.pool)
    .await
    .context("outbox: backlog")?;
    let read = || -> Result<Backlog, sqlx::Error> {
        Ok(Backlog {
            pending: row.try_get("pending")?,
            oldest_pending_at: row.try_get("oldest")?,
            failed: row.try_get("failed")?,
        })
    };
    read().context("outbox: backlog")
}

/// Newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<Stored>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM mail_outbox ORDER BY created_at DESC, id LIMIT $1");
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("outbox: list")?;
    rows.iter()
        .map(stored_from_row)
        .collect::<Result<_, sqlx::Error>>()
        .context("outbox: list")
}

pub async fn find(db: &Db, id: &str) -> Result<Option<Stored>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM mail_outbox WHERE id = $1");
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .context("outbox: find")?;
    row.as_ref()
        .map(stored_from_row)
        .transpose()
        .context("outbox: find")
}
