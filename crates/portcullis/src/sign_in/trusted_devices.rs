//! "Trust this device": after a sign-in completed with a second factor, the browser may get a
//! token (HttpOnly cookie, stored as SHA-256) that lets later password sign-ins of the same user
//! skip the second factor until it expires. Each use replaces the token, keeping the expiry, so a
//! copied cookie works at most once and trust never outlives the lifetime granted at the code.

use axum::http::HeaderValue;

use super::store;
use crate::crypto::tokens::{hash_secret, random_secret};
use crate::db::{duration_of, millis};
use crate::error::ApiResult;
use crate::state::AppState;

/// Trusts the requesting browser for the configured lifetime; answers the cookie to set.
pub async fn trust(state: &AppState, user_id: &str) -> ApiResult<HeaderValue> {
    let expires_at = state.clock.now_ms() + millis(state.config.two_factor.trust_device_lifetime);
    issue(state, user_id, expires_at).await
}

/// For a sign-in of `user_id` from a browser that sent the trust token `token`: if it is live
/// and this user's, it is used up and its replacement's cookie answered.
pub async fn renew_if_trusted(
    state: &AppState,
    user_id: &str,
    token: &str,
) -> ApiResult<Option<HeaderValue>> {
    let taken = store::take_trusted_device(
        &state.db,
        &hash_secret(token),
        user_id,
        state.clock.now_ms(),
    )
    .await?;
    match taken {
        Some(expires_at) => Ok(Some(issue(state, user_id, expires_at).await?)),
        None => Ok(None),
    }
}

async fn issue(state: &AppState, user_id: &str, expires_at: i64) -> ApiResult<HeaderValue> {
    let token = random_secret();
    let now = state.clock.now_ms();
    store::insert_trusted_device(&state.db, &hash_secret(&token), user_id, now, expires_at).await?;
    let max_age = duration_of(expires_at - now);
    Ok(state.trusted_device_cookie.set(&token, Some(max_age)))
}
