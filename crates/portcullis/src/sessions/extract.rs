//! Extractors that resolve the request's session.
//!
//! The token comes from `Authorization: Bearer` when that header is present (and then only from
//! there, so a bad bearer never falls back to a cookie), otherwise from the session cookie.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{authenticate, Authenticated, Via};
use crate::access_tokens::jwt as access;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Longer than any credential we issue (access tokens included); longer values are not even hashed.
const MAX_TOKEN_LEN: usize = 4096;

/// The token a request presents, and how.
pub fn presented_token(parts: &Parts, state: &AppState) -> Option<(String, Via)> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > MAX_TOKEN_LEN
        {
            return None;
        }
        let via = if access::looks_like_jwt(token) {
            Via::AccessToken
        } else {
            Via::Bearer
        };
        return Some((token.to_owned(), via));
    }
    state
        .session_cookie
        .read(&parts.headers)
        .filter(|token| token.len() <= MAX_TOKEN_LEN)
        .map(|token| (token.to_owned(), Via::Cookie))
}

/// A live session, or 401.
pub struct CurrentSession(pub Authenticated);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some((token, via)) = presented_token(parts, state) else {
            return Err(ApiError::from(ErrorCode::Unauthorized));
        };
        authenticate(state, &token, via)
            .await?
            .map(Self)
            .ok_or_else(|| ErrorCode::Unauthorized.into())
    }
}

/// A live session the user started themselves, or 401; an administrator's impersonated session
/// is refused with 403 (credentials, email, two-factor and the account stay the user's own).
pub struct OwnSession(pub Authenticated);

impl FromRequestParts<AppState> for OwnSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CurrentSession(auth) = CurrentSession::from_request_parts(parts, state).await?;
        if auth.session.impersonated_by.is_some() {
            return Err(ApiError::from(ErrorCode::ImpersonationRestricted));
        }
        Ok(Self(auth))
    }
}

/// The session if there is a live one, plus whatever token was presented (live or not).
pub struct MaybeSession {
    pub auth: Option<Authenticated>,
    pub presented: Option<(String, Via)>,
}

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = presented_token(parts, state);
        let auth = match &presented {
            Some((token, via)) => authenticate(state, token, *via).await?,
            None => None,
        };
        Ok(Self { auth, presented })
    }
}
