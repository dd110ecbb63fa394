//! The signing keys' SQL.

use sqlx::Row;

use crate::db::{Context, Db, DbError};

/// A key as stored.
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub sealed_key: String,
    pub created_at: i64,
}

pub async fn insert_key(db: &Db, key: &StoredKey) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, public_jwk, sealed_key, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.public_jwk)
    .bind(&key.sealed_key)
    .bind(key.created_at)
    .execute(&db.pool)
    .await.context("signing keys: insert key")?;
    Ok(())
}

/// Keys still published at `now`, newest first.
pub async fn published_keys(db: &Db, now: i64) -> Result<Vec<StoredKey>, DbError> {
    let rows = sqlx::query(
        "SELECT kid, alg, public_jwk, sealed_key, created_at FROM signing_keys
         WHERE retire_after IS NULL OR retire_after > $1
         ORDER BY created_at DESC, kid",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await
    .context("signing keys: published keys")?;
    rows.iter()
        .map(|row| {
            Ok(StoredKey {
                kid: row.try_get("kid")?,
                alg: row.try_get("alg")?,
                public_jwk: row.try_get("public_jwk")?,
                sealed_key: row.try_get("sealed_key")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .context("signing keys: published keys")
}

/// Marks every key but `kid` as superseded, to be unpublished after `retire_after`.
pub async fn supersede_all_but(
    db: &Db,
    kid: &str,
    now: i64,
    retire_after: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE signing_keys SET superseded_at = $1, retire_after = $2
         WHERE kid <> $3 AND superseded_at IS NULL",
    )
    .bind(now)
    .bind(retire_after)
    .bind(kid)
    .execute(&db.pool)
    .await
    .context("signing keys: supersede all but")?;
    Ok(())
}

/// When the newest key was created, if there is one.
pub async fn newest_key_created_at(db: &Db) -> Result<Option<i64>, DbError> {
    let row = sqlx::query("SELECT MAX(created_at) AS newest FROM signing_keys")
        .fetch_one(&db.pool)
        .await
        .context("signing keys: newest key created at")?;
    row.try_get("newest")
        .context("signing keys: newest key created at")
}
