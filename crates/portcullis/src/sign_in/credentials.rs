//! Passwords as credentials: checking an email and password (shared by cookie sign-in and the
//! token endpoint's password grant, so both answer alike and cost alike), re-authentication, and
//! the one way a new password is stored.

use sqlx::AnyConnection;

use crate::db::DbError;

use super::throttle;
use crate::audit::{self, Event};
use crate::crypto::passwords::Verified;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::rate_limit::{Class, Subject};
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::password_policy::Password;
use crate::users::{store, User};

pub fn invalid_credentials() -> ApiError {
    ApiError::from(ErrorCode::InvalidEmailOrPassword)
}

/// The user, if the password is theirs. An unknown email is checked against a decoy hash and gets
/// the same refusal, after the same work.
pub async fn check(
    state: &AppState,
    raw_email: &str,
    raw_password: &str,
    client: &ClientInfo,
) -> ApiResult<User> {
    let email = Email::parse(raw_email)?;
    let password = Password::candidate(raw_password, &state.config.password)?;
    state
        .limits
        .check(Class::SignIn, Subject::Account(email.as_str()))
        .await?;
    throttle::begin_attempt(state, email.as_str()).await?;
    let found = store::find_by_email(&state.db, email.as_str()).await?;
    let (verified, found) = match found {
        Some((user, Some(hash))) => (
            state.passwords.verify(password.as_str(), &hash).await?,
            Some((user, hash)),
        ),
        _ => (state.passwords.verify_decoy(password.as_str()).await?, None),
    };
    let Some((user, stored_hash)) = found.filter(|_| verified != Verified::No) else {
        audit::record(state, Event::SignInFailed, None, None, client).await;
        metrics::counter!("sign_in_failures_total").increment(1);
        return Err(invalid_credentials());
    };
    throttle::clear(&state.db, email.as_str()).await?;
    if verified == Verified::YesRehash {
        upgrade_hash_in_background(state, &user.id, stored_hash, password.as_str());
    }
    // Said only to someone who knows the password, so it reveals nothing about who has an account.
    if state.config.email.require_verification && !user.email_verified {
        return Err(ApiError::from(ErrorCode::EmailNotVerified));
    }
    Ok(user)
}

/// Checks the user's current password (re-authentication for sensitive changes).
pub async fn confirm_password(state: &AppState, user_id: &str, raw: &str) -> ApiResult<()> {
    let invalid = || ApiError::from(ErrorCode::InvalidPassword);
    let candidate = Password::candidate(raw, &state.config.password)?;
    let Some(hash) = store::password_hash(&state.db, user_id).await? else {
        return Err(ApiError::from(ErrorCode::CredentialAccountNotFound));
    };
    if raw.is_empty() {
        return Err(invalid());
    }
    match state.passwords.verify(candidate.as_str(), &hash).await? {
        Verified::No => Err(invalid()),
        Verified::Yes | Verified::YesRehash => Ok(()),
    }
}

/// Stores a new password hash (on a pooled connection or inside the caller's transaction). Every
/// way of setting a password comes here, because a new password also ends the trust of every
/// device that skipped two-factor.
pub async fn set_password(
    conn: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    now: i64,
) -> Result<(), DbError> {
    store::set_password_hash(conn, user_id, hash, now).await?;
    super::store::forget_trusted_devices(conn, user_id).await
}

/// Re-hashes a password whose hash used older parameters; the sign-in does not wait for it.
fn upgrade_hash_in_background(state: &AppState, user_id: &str, old_hash: String, password: &str) {
    let state = state.clone();
    let user_id = user_id.to_owned();
    let password = password.to_owned();
    tokio::spawn(async move {
        let result = match state.passwords.hash(&password).await {
            Ok(new_hash) => store::upgrade_password_hash(&state.db, &user_id, &old_hash, &new_hash)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not upgrade a password hash");
        }
    });
}
