//! The axum extractor (feature `axum`).

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{Claims, Verifier, VerifyError};

/// The verified claims of the request's `Authorization: Bearer` access token.
///
/// Works in any router whose state `S` gives a [`Verifier`] through
/// [`FromRef`] (a `Router<Verifier>`, or your own `AppState` with
/// `#[derive(FromRef)]` or a manual `impl FromRef<AppState> for Verifier`).
///
/// ```no_run
/// use axum::{routing::get, Json, Router};
/// use portcullis_verify::{AccessToken, Claims, Verifier};
///
/// async fn me(AccessToken(claims): AccessToken) -> Json<Claims> {
///     Json(claims)
/// }
///
/// fn app(verifier: Verifier) -> Router {
///     Router::new().route("/me", get(me)).with_state(verifier)
/// }
/// ```
///
/// On failure the request is answered with [`AccessTokenRejection`]: `401`
/// with `WWW-Authenticate: Bearer error="invalid_token"` and a JSON body
/// `{"message": …, "code": …}`. `Option<AccessToken>` yields `None` when the
/// request carries no `Authorization` header, and still rejects a bad token.
#[derive(Debug, Clone)]
pub struct AccessToken(pub Claims);

/// Why [`AccessToken`] refused a request.
#[derive(Debug)]
pub enum AccessTokenRejection {
    /// No `Authorization: Bearer` credentials: `401`, `WWW-Authenticate: Bearer`
    /// (no error code, RFC 6750 §3.1), code `UNAUTHORIZED`.
    Missing,
    /// A token was presented and refused.
    Invalid(VerifyError),
}

impl AccessTokenRejection {
    /// The `code` member of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            AccessTokenRejection::Missing => "UNAUTHORIZED",
            AccessTokenRejection::Invalid(e) => e.code(),
        }
    }
}

impl IntoResponse for AccessTokenRejection {
    fn into_response(self) -> Response {
        let (status, challenge, message) = match &self {
            AccessTokenRejection::Missing => {
                (StatusCode::UNAUTHORIZED, "Bearer", "Missing access token")
            }
            AccessTokenRejection::Invalid(e) if e.is_unavailable() => {
                // The verifier's problem, not the token's: do not make the
                // client throw its token away.
                tracing::warn!(error = %e, "access token could not be verified");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "",
                    "Access token verification unavailable",
                )
            }
            AccessTokenRejection::Invalid(e) => {
                tracing::debug!(error = %e, "access token refused");
                let message = match e {
                    VerifyError::Expired => "Access token expired",
                    VerifyError::Revoked => "Access token revoked",
                    _ => "Invalid access token",
                };
                (
                    StatusCode::UNAUTHORIZED,
                    "Bearer error=\"invalid_token\"",
                    message,
                )
            }
        };
        let body = serde_json::json!({ "message": message, "code": self.code() }).to_string();
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if !challenge.is_empty() {
            h.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        res
    }
}

/// The bearer token of the request: `None` without `Authorization`, an error
/// for another scheme or an empty token.
fn bearer(parts: &Parts) -> Result<Option<&str>, AccessTokenRejection> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AccessTokenRejection::Invalid(VerifyError::Malformed(
            "several Authorization headers".into(),
        )));
    }
    let value = value.to_str().map_err(|_| AccessTokenRejection::Missing)?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(AccessTokenRejection::Missing);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AccessTokenRejection::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AccessTokenRejection::Missing);
    }
    Ok(Some(token))
}

impl<S> FromRequestParts<S> for AccessToken
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AccessTokenRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or(AccessTokenRejection::Missing)?;
        let verifier = Verifier::from_ref(state);
        verifier
            .verify(token)
            .await
            .map(AccessToken)
            .map_err(AccessTokenRejection::Invalid)
    }
}

impl<S> OptionalFromRequestParts<S> for AccessToken
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AccessTokenRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(token) = bearer(parts)? else {
            return Ok(None);
        };
        let verifier = Verifier::from_ref(state);
        verifier
            .verify(token)
            .await
            .map(|c| Some(AccessToken(c)))
            .map_err(AccessTokenRejection::Invalid)
    }
}
