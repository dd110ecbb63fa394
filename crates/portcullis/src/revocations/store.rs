//! The revocation feed's SQL.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::Entry;
use crate::db::{Backend, Context, Db, DbError};

const COLUMNS: &str = "cursor, at, session_id, user_id, not_before";
/// Most entries one feed request returns; clients page with `since`.
pub const PAGE: i64 = 1000;

fn entry_from_row(row: &AnyRow) -> Result<Entry, sqlx::Error> {
    Ok(Entry {
        cursor: row.try_get("cursor")?,
        at: row.try_get("at")?,
        sid: row.try_get("session_id")?,
        sub: row.try_get("user_id")?,
        not_before: row.try_get("not_before")?,
    })
}

/// PostgreSQL hands out sequence values before commit, so a later cursor could become visible
/// before an earlier one and a poller would skip the earlier for good. Serialising the (rare)
/// writers makes commit order equal cursor order. SQLite serialises writers already.
async fn serialise_writers(conn: &mut AnyConnection, backend: Backend) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE revocations IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn record_sessions(
    conn: &mut AnyConnection,
    backend: Backend,
    session_ids: &[String],
    now: i64,
) -> Result<(), DbError> {
    serialise_writers(conn, backend)
        .await
        .context("revocations: record sessions")?;
    for id in session_ids {
        sqlx::query("INSERT INTO revocations (at, session_id) VALUES ($1, $2)")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await
            .context("revocations: record sessions")?;
    }
    Ok(())
}

pub async fn record_user(
    conn: &mut AnyConnection,
    backend: Backend,
    user_id: &str,
    not_before_secs: i64,
    now: i64,
) -> Result<(), DbError> {
    serialise_writers(conn, backend)
        .await
        .context("revocations: record user")?;
    sqlx::query("INSERT INTO revocations (at, user_id, not_before) VALUES ($1, $2, $3)")
        .bind(now)
        .bind(user_id)
        .bind(not_before_secs)
        .execute(&mut *conn)
        .await
        .context("revocations: record user")?;
    Ok(())
}

/// Entries after `cursor`, oldest first.
pub async fn after_cursor(db: &Db, cursor: i64) -> Result<Vec<Entry>, DbError> {
    let sql =
        format!("SELECT {COLUMNS} FROM revocations WHERE cursor > $1 ORDER BY cursor LIMIT $2");
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(cursor)
        .bind(PAGE)
        .fetch_all(&db.pool)
        .await
        .context("revocations: after cursor")?;
    rows.iter()
        .map(entry_from_row)
        .collect::<Result<_, sqlx::Error>>()
        .context("revocations: after cursor")
}

/// Entries recorded after `at` (unix ms), oldest first.
pub async fn recorded_after(db: &Db, at: i64) -> Result<Vec<Entry>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM revocations WHERE at > $1 ORDER BY cursor LIMIT $2");
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(at)
        .bind(PAGE)
        .fetch_all(&db.pool)
        .await
        .context("revocations: recorded after")?;
    rows.iter()
        .map(entry_from_row)
        .collect::<Result<_, sqlx::Error>>()
        .context("revocations: recorded after")
}

pub async fn last_cursor(db: &Db) -> Result<i64, DbError> {
    let row = sqlx::query("SELECT COALESCE(MAX(cursor), 0) AS last FROM revocations")
        .fetch_one(&db.pool)
        .await
        .context("revocations: last cursor")?;
    row.try_get("last").context("revocations: last cursor")
}

/// Forgets entries no live token can be concerned by any more.
pub async fn delete_recorded_before(db: &Db, at: i64) -> Result<u64, DbError> {
    let done = sqlx::query("DELETE FROM revocations WHERE at < $1")
        .bind(at)
        .execute(&db.pool)
        .await
        .context("revocations: delete recorded before")?;
    Ok(done.rows_affected())
}
