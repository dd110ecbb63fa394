//! Social sign-in's SQL: provider accounts and sign-in transactions. Taking a transaction is one
//! `DELETE ... RETURNING`, so a state is used at most once even by parallel callbacks.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::db::{flag, Context, Db, DbError};

/// A sign-in transaction between the redirect and the callback.
pub struct Transaction {
    pub state_hash: String,
    pub browser_hash: String,
    pub provider_id: String,
    pub sealed_secrets: String,
    pub issuer: Option<String>,
    pub callback_url: String,
    pub new_user_callback_url: Option<String>,
    pub error_callback_url: Option<String>,
    pub link_user_id: Option<String>,
    pub request_sign_up: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a transaction, and drops expired ones while at it.
pub async fn insert_transaction(db: &Db, tx: &Transaction) -> Result<(), DbError> {
    sqlx::query("DELETE FROM social_transactions WHERE expires_at < $1")
        .bind(tx.created_at)
        .execute(&db.pool)
        .await
        .context("social: sweep transactions")?;
    sqlx::query(
        "INSERT INTO social_transactions (state_hash, browser_hash, provider_id, sealed_secrets,
             issuer, callback_url, new_user_callback_url, error_callback_url, link_user_id,
             request_sign_up, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&tx.state_hash)
    .bind(&tx.browser_hash)
    .bind(&tx.provider_id)
    .bind(&tx.sealed_secrets)
    .bind(tx.issuer.as_deref())
    .bind(&tx.callback_url)
    .bind(tx.new_user_callback_url.as_deref())
    .bind(tx.error_callback_url.as_deref())
    .bind(tx.link_user_id.as_deref())
    .bind(i64::from(tx.request_sign_up))
    .bind(tx.created_at)
    .bind(tx.expires_at)
    .execute(&db.pool)
    .await
    .context("social: insert transaction")?;
    Ok(())
}

/// Removes and answers the transaction of a state (used once, whatever happens next).
pub async fn take_transaction(db: &Db, state_hash: &str) -> Result<Option<Transaction>, DbError> {
    let row = sqlx::query(
        "DELETE FROM social_transactions WHERE state_hash = $1
         RETURNING state_hash, browser_hash, provider_id, sealed_secrets, issuer, callback_url,
             new_user_callback_url, error_callback_url, link_user_id, request_sign_up,
             created_at, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(&db.pool)
    .await
    .context("social: take transaction")?;
    row.map(|row| {
        Ok::<_, sqlx::Error>(Transaction {
            state_hash: row.try_get("state_hash")?,
            browser_hash: row.try_get("browser_hash")?,
            provider_id: row.try_get("provider_id")?,
            sealed_secrets: row.try_get("sealed_secrets")?,
            issuer: row.try_get("issuer")?,
            callback_url: row.try_get("callback_url")?,
            new_user_callback_url: row.try_get("new_user_callback_url")?,
            error_callback_url: row.try_get("error_callback_url")?,
            link_user_id: row.try_get("link_user_id")?,
            request_sign_up: flag(&row, "request_sign_up")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    })
    .transpose()
    .context("social: take transaction")
}

/// A provider account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub user_id: String,
    pub provider_id: String,
    pub account_id: String,
    pub email: Option<String>,
    pub scopes: String,
    pub profile: Option<String>,
    pub sealed_access_token: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub sealed_refresh_token: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const ACCOUNT_COLUMNS: &str = "id, user_id, provider_id, account_id, email, scopes, profile, \
     sealed_access_token, access_token_expires_at, sealed_refresh_token, created_at, updated_at";

fn account_from_row(row: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        provider_id: row.try_get("provider_id")?,
        account_id: row.try_get("account_id")?,
        email: row.try_get("email")?,
        scopes: row.try_get("scopes")?,
        profile: row.try_get("profile")?,
        sealed_access_token: row.try_get("sealed_access_token")?,
        access_token_expires_at: row.try_get("access_token_expires_at")?,
        sealed_refresh_token: row.try_get("sealed_refresh_token")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn find_account(
    db: &Db,
    provider_id: &str,
    account_id: &str,
) -> Result<Option<Account>, DbError> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE provider_id = $1 AND account_id = $2"
    );
    // AssertSqlSafe: only the constant column list is formatted in; values are bound.
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(provider_id)
        .bind(account_id)
        .fetch_optional(&db.pool)
        .await
        .context("social: find account")?;
    row.as_ref()
        .map(account_from_row)
        .transpose()
        .context("social: find account")
}

pub async fn accounts_of_user(db: &Db, user_id: &str) -> Result<Vec<Account>, DbError> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE user_id = $1 ORDER BY created_at, id"
    );
    // AssertSqlSafe: only the constant column list is formatted in; values are bound.
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(&db.pool)
        .await
        .context("social: accounts of user")?;
    rows.iter()
        .map(account_from_row)
        .collect::<Result<_, _>>()
        .context("social: accounts of user")
}

/// Inserts an account (a taken (provider, subject) fails with a unique violation).
pub async fn insert_account(conn: &mut AnyConnection, account: &Account) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO accounts (id, user_id, provider_id, account_id, email, scopes, profile,
             sealed_access_token, access_token_expires_at, sealed_refresh_token, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&account.id)
    .bind(&account.user_id)
    .bind(&account.provider_id)
    .bind(&account.account_id)
    .bind(account.email.as_deref())
    .bind(&account.scopes)
    .bind(account.profile.as_deref())
    .bind(account.sealed_access_token.as_deref())
    .bind(account.access_token_expires_at)
    .bind(account.sealed_refresh_token.as_deref())
    .bind(account.created_at)
    .bind(account.updated_at)
    .execute(&mut *conn)
    .await
    .context("social: insert account")?;
    Ok(())
}

/// What a sign-in refreshes on an existing account. Tokens are replaced only when given (a
/// provider that sends no new refresh token keeps the old one).
pub async fn refresh_account(db: &Db, account: &Account) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE accounts SET email = $1, scopes = $2, profile = $3,
             sealed_access_token = COALESCE($4, sealed_access_token),
             access_token_expires_at = COALESCE($5, access_token_expires_at),
             sealed_refresh_token = COALESCE($6, sealed_refresh_token),
             updated_at = $7
         WHERE id = $8",
    )
    .bind(account.email.as_deref())
    .bind(&account.scopes)
    .bind(account.profile.as_deref())
    .bind(account.sealed_access_token.as_deref())
    .bind(account.access_token_expires_at)
    .bind(account.sealed_refresh_token.as_deref())
    .bind(account.updated_at)
    .bind(&account.id)
    .execute(&db.pool)
    .await
    .context("social: refresh account")?;
    Ok(())
}

/// Removes one of the user's accounts, if the user keeps another way to sign in: another
/// account, or a password. One statement, so two parallel unlinks cannot remove the last two.
/// Answers whether a row went.
pub async fn delete_account_keeping_one(db: &Db, user_id: &str, id: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "DELETE FROM accounts WHERE id = $1 AND user_id = $2 AND (
             EXISTS (SELECT 1 FROM users WHERE users.id = $2 AND users.password_hash IS NOT NULL)
             OR (SELECT COUNT(*) FROM accounts other WHERE other.user_id = $2) > 1
         )",
    )
    .bind(id)
    .bind(user_id)
    .execute(&db.pool)
    .await
    .context("social: delete account")?;
    Ok(done.rows_affected() == 1)
}
