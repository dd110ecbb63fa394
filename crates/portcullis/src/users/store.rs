//! The users table's SQL.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::User;
use crate::db::{flag, Context, Db, DbError};
use crate::http::timestamp::Timestamp;

/// The user columns, aliased so they can sit beside another table's in a join (`users AS u`).
pub const USER_COLUMNS: &str = "u.id AS u_id, u.name AS u_name, u.email AS u_email, \
     u.email_verified AS u_email_verified, u.image AS u_image, u.role AS u_role, \
     u.two_factor_enabled AS u_two_factor_enabled, u.created_at AS u_created_at, u.updated_at AS u_updated_at, \
     u.banned AS u_banned, u.ban_reason AS u_ban_reason, u.ban_expires AS u_ban_expires";

pub fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("u_id")?,
        name: row.try_get("u_name")?,
        email: row.try_get("u_email")?,
        email_verified: flag(row, "u_email_verified")?,
        image: row.try_get("u_image")?,
        role: row.try_get("u_role")?,
        two_factor_enabled: flag(row, "u_two_factor_enabled")?,
        created_at: Timestamp(row.try_get("u_created_at")?),
        updated_at: Timestamp(row.try_get("u_updated_at")?),
        banned: flag(row, "u_banned")?,
        ban_reason: row.try_get("u_ban_reason")?,
        ban_expires: row
            .try_get::<Option<i64>, _>("u_ban_expires")?
            .map(Timestamp),
    })
}

/// Inserts a user. A duplicate email fails with a unique violation (see `db::is_unique_violation`).
/// `password_hash` is `None` for an account without a password (made by an administrator).
pub async fn insert(db: &Db, user: &User, password_hash: Option<&str>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO users (id, name, email, email_verified, image, role, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&user.id)
    .bind(&user.name)
    .bind(&user.email)
    .bind(i64::from(user.email_verified))
    .bind(user.image.as_deref())
    .bind(&user.role)
    .bind(password_hash)
    .bind(user.created_at.0)
    .bind(user.updated_at.0)
    .execute(&db.pool)
    .await.context("users: insert")?;
    Ok(())
}

/// Inserts a user without a password (made by a social sign-in), inside the caller's
/// transaction. A duplicate email fails with a unique violation.
pub async fn insert_without_password(conn: &mut AnyConnection, user: &User) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO users (id, name, email, email_verified, image, role, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&user.id)
    .bind(&user.name)
    .bind(&user.email)
    .bind(i64::from(user.email_verified))
    .bind(user.image.as_deref())
    .bind(&user.role)
    .bind(user.created_at.0)
    .bind(user.updated_at.0)
    .execute(&mut *conn)
    .await
    .context("users: insert without password")?;
    Ok(())
}

/// A user and their password hash, by normalised email.
pub async fn find_by_email(
    db: &Db,
    email: &str,
) -> Result<Option<(User, Option<String>)>, DbError> {
    let sql = format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = $1");
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(&db.pool)
        .await
        .context("users: find by email")?;
    row.map(|row| Ok::<_, sqlx::Error>((user_from_row(&row)?, row.try_get("password_hash")?)))
        .transpose()
        .context("users: find by email")
}

pub async fn password_hash(db: &Db, user_id: &str) -> Result<Option<String>, DbError> {
    let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await
        .context("users: password hash")?;
    Ok(row.and_then(|row| row.try_get("password_hash").ok().flatten()))
}

/// Replaces a hash only if it is still the one that was verified, so a rehash on sign-in can never
/// overwrite a password changed in the meantime.
pub async fn upgrade_password_hash(
    db: &Db,
    user_id: &str,
    old: &str,
    new: &str,
) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
        .bind(new)
        .bind(user_id)
        .bind(old)
        .execute(&db.pool)
        .await
        .context("users: upgrade password hash")?;
    Ok(())
}

pub async fn update_profile(
    db: &Db,
    user_id: &str,
    name: Option<&str>,
    image: Option<Option<&str>>,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE users SET
             name = CASE WHEN $1 = 1 THEN $2 ELSE name END,
             image = CASE WHEN $3 = 1 THEN $4 ELSE image END,
             updated_at = $5
         WHERE id = $6",
    )
    .bind(i64::from(name.is_some()))
    .bind(name.unwrap_or_default())
    .bind(i64::from(image.is_some()))
    .bind(image.flatten())
    .bind(now)
    .bind(user_id)
    .execute(&db.pool)
    .await
    .context("users: update profile")?;
    Ok(())
}

/// Deletes a user; their sessions go with them (foreign key cascade).
pub async fn delete(db: &Db, user_id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&db.pool)
        .await
        .context("users: delete")?;
    Ok(())
}

pub async fn find_by_id(db: &Db, user_id: &str) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
    // AssertSqlSafe: only constant column lists are formatted into `sql`; no user input
    // is ever formatted into SQL (values are bound).
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await
        .context("users: find by id")?;
    row.as_ref()
        .map(user_from_row)
        .transpose()
        .context("users: find by id")
}

/// Sets a password hash (on a pooled connection or inside a caller's transaction). Call it through
/// `sign_in::credentials::set_password`, which also ends what a new password must end.
pub async fn set_password_hash(
    conn: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("users: set password hash")?;
    Ok(())
}

/// Marks the address verified if it is still the user's address; false otherwise.
pub async fn mark_email_verified(
    conn: &mut AnyConnection,
    user_id: &str,
    email: &str,
    now: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE users SET email_verified = 1, updated_at = $1 WHERE id = $2 AND email = $3",
    )
    .bind(now)
    .bind(user_id)
    .bind(email)
    .execute(&mut *conn)
    .await
    .context("users: mark email verified")?;
    Ok(done.rows_affected() == 1)
}

/// Switches to a confirmed new address (verified, since its owner opened the link), if the
/// account still has the old one. A taken address fails with a unique violation.
pub async fn switch_email(
    conn: &mut AnyConnection,
    user_id: &str,
    old: &str,
    new: &str,
    now: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE users SET email = $1, email_verified = 1, updated_at = $2 WHERE id = $3 AND email = $4")
        .bind(new)
        .bind(now)
        .bind(user_id)
        .bind(old)
        .execute(&mut *conn)
        .await.context("users: switch email")?;
    Ok(done.rows_affected() == 1)
}

/// Lifts a ban whose expiry has passed (the next sign-in finds it over), if it is still that ban.
pub async fn lift_expired_ban(db: &Db, user_id: &str, now: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE users SET banned = 0, ban_reason = NULL, ban_expires = NULL, updated_at = $1
         WHERE id = $2 AND banned = 1 AND ban_expires IS NOT NULL AND ban_expires <= $1",
    )
    .bind(now)
    .bind(user_id)
    .execute(&db.pool)
    .await
    .context("users: lift expired ban")?;
    Ok(())
}
