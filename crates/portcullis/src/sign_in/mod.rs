//! Signing in: checking a password, the second-factor gate (challenges and trusted devices),
//! throttling of failed attempts, and the start of a session for a user who proved who they are.
//! Password sign-in (`/sign-in/email`) is the first way in; the token endpoint's grants and the
//! second-factor completions come through here too.

pub mod challenge;
pub mod credentials;
pub mod routes;
pub mod settings;
pub mod start;
pub mod store;
pub mod throttle;
pub mod trusted_devices;

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::http::cookies::CredentialCookie;
use crate::sessions;
use crate::state::AppState;
use crate::users::User;

pub use routes::router;

/// Where a sign-in's answer goes: a browser (cookies) or a token-mode client (`mfa_token`,
/// refresh tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Cookie,
    Token,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cookie => "cookie",
            Channel::Token => "token",
        }
    }
}

/// A session token and its user: the answer of sign-up and of a completed sign-in.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenAndUser {
    /// The session token, also usable as `Authorization: Bearer`.
    pub token: Option<String>,
    pub user: User,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorRedirect {
    two_factor_redirect: bool,
    /// Always `["totp"]`; a backup code works whenever a TOTP code would.
    two_factor_methods: Vec<&'static str>,
}

/// A browser's answer when its sign-in needs the second factor: better-auth's
/// `{twoFactorRedirect: true}` and the challenge cookie (and the end of a trust that did not hold).
pub fn challenge_response(state: &AppState, required: &start::Required) -> Response {
    let answer = TwoFactorRedirect {
        two_factor_redirect: true,
        two_factor_methods: vec!["totp"],
    };
    let mut response = Json(answer).into_response();
    let cookies = challenge_cookies(
        state,
        required,
        &state.challenge_cookie,
        &state.trusted_device_cookie,
    );
    for cookie in cookies {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// The cookies that carry a browser to its second step: the challenge in `challenge`, and the
/// clearing of `trusted_device` when the device is no longer trusted. The API and the hosted
/// pages each pass their own pair (the API's are scoped to its paths).
pub fn challenge_cookies(
    state: &AppState,
    required: &start::Required,
    challenge: &CredentialCookie,
    trusted_device: &CredentialCookie,
) -> Vec<HeaderValue> {
    let mut cookies = vec![challenge.set(
        &required.challenge_token,
        Some(state.config.two_factor.challenge_lifetime),
    )];
    if required.forget_trusted_device {
        cookies.push(trusted_device.clear());
    }
    cookies
}

impl start::Started {
    /// The cookies a browser gets with its new session: the session's, and the trusted device's
    /// if one was renewed or granted.
    pub fn set_cookies(&self, state: &AppState, headers: &mut HeaderMap) {
        headers.append(
            SET_COOKIE,
            sessions::cookie_for(state, &self.token, &self.session),
        );
        if let Some(trust) = &self.trusted_device_cookie {
            headers.append(SET_COOKIE, trust.clone());
        }
    }
}
