//! Signing in: checking a password, the second-factor gate (challenges and trusted devices),
//! throttling of failed attempts, and the start of a session for a user who proved who they are.
//! Password sign-in (`/sign-in/email`) is the first way in; the token endpoint's grants and the
//! second-factor completions come through here too.

pub mod challenge;
pub mod credentials;
pub mod routes;
pub mod settings;
pub mod store;
pub mod throttle;
pub mod trusted_devices;

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::error::ApiResult;
use crate::state::AppState;
use crate::users::User;
use challenge::Channel;

pub use routes::router;

/// A session token and its user: the answer of sign-up and of a completed sign-in.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenAndUser {
    /// The session token, also usable as `Authorization: Bearer`.
    pub token: Option<String>,
    pub user: User,
}

/// What a correct password leads to at a cookie sign-in of a user with two-factor on.
pub enum AfterPassword {
    /// A trusted browser: sign in, and set this renewed trust cookie too.
    Trusted(HeaderValue),
    /// Answer this (a challenge) instead of a session.
    Challenge(Response),
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorRedirect {
    two_factor_redirect: bool,
    /// Always `["totp"]`; a backup code works whenever a TOTP code would.
    two_factor_methods: Vec<&'static str>,
}

pub async fn after_password(
    state: &AppState,
    user: &User,
    persistent: bool,
    headers: &HeaderMap,
) -> ApiResult<AfterPassword> {
    if let Some(cookie) = trusted_devices::renew_if_trusted(state, &user.id, headers).await? {
        return Ok(AfterPassword::Trusted(cookie));
    }
    let token = challenge::open(state, &user.id, Channel::Cookie, persistent).await?;
    let cookie = state
        .challenge_cookie
        .set(&token, Some(state.config.two_factor.challenge_lifetime));
    let answer = TwoFactorRedirect {
        two_factor_redirect: true,
        two_factor_methods: vec!["totp"],
    };
    let mut response = ([(SET_COOKIE, cookie)], Json(answer)).into_response();
    if state.trusted_device_cookie.read(headers).is_some() {
        // Not (or no longer) trusted for this user: the browser can forget it.
        response
            .headers_mut()
            .append(SET_COOKIE, state.trusted_device_cookie.clear());
    }
    Ok(AfterPassword::Challenge(response))
}
