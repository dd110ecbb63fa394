//! Cross-site request forgery defence (ASVS 3.5.1–3.5.3).
//!
//! A state-changing request (anything but GET, HEAD, OPTIONS) that a browser could have been
//! tricked into sending must come from a trusted origin:
//! - if it names an `Origin`, that origin must be the base URL's or a configured trusted origin;
//! - if it carries a credential cookie (session, refresh, two-factor) but no `Origin`, its `Referer` must be trusted, or it must
//!   say `Sec-Fetch-Site: same-origin`.
//!
//! Requests authenticated with `Authorization: Bearer` are exempt: browsers never attach that
//! header on their own. Requests with neither cookie nor `Origin` (mobile apps, servers, curl) are
//! not forgeable by a browser and pass. Forbidding a foreign `Origin` even without a cookie also
//! stops login CSRF (signing a victim into the attacker's account).

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Where the API's routes are (the feature routers nested by `router.rs`).
pub const API_PREFIX: &str = "/api/auth/";
/// The OpenAPI document: under the API's prefix, but a document, not one of its routes.
pub const OPENAPI_DOCUMENT: &str = "/api/auth/openapi.json";

/// The refusal of a request to one of the API's routes that a browser may have been tricked into
/// sending; `None` lets it through. Called by the envelope (`http/protection.rs`), not a layer of
/// its own: a layer costs every request a boxed future and a clone of the state. A request that
/// matched no route (`404`) or matched a route outside the API is not checked.
pub fn refusal(state: &AppState, request: &Request) -> Option<Response> {
    let method = request.method();
    if is_safe(method)
        || !is_api_route(request)
        || is_provider_callback(method, request.uri().path())
    {
        return None;
    }
    check(state, method, request.headers())
        .err()
        .map(IntoResponse::into_response)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_api_route(request: &Request) -> bool {
    request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| {
            route.as_str().starts_with(API_PREFIX) && route.as_str() != OPENAPI_DOCUMENT
        })
}

/// A provider's `form_post` answer (Apple) comes from the provider's origin. It changes nothing:
/// it is handed on, by a redirect, to the GET callback, whose state is bound to the browser.
fn is_provider_callback(method: &Method, path: &str) -> bool {
    *method == Method::POST
        && (path.starts_with("/callback/") || path.starts_with("/api/auth/callback/"))
}

fn check(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if is_safe(method) || has_bearer(headers) {
        return Ok(());
    }
    let origin = header_text(headers, header::ORIGIN).filter(|o| *o != "null");
    if let Some(origin) = origin {
        return if state.is_trusted_origin(origin) {
            Ok(())
        } else {
            Err(invalid_origin())
        };
    }
    let credential_cookies = [
        &state.session_cookie,
        &state.refresh_cookie,
        &state.challenge_cookie,
        &state.trusted_device_cookie,
    ];
    if credential_cookies
        .iter()
        .all(|cookie| cookie.read(headers).is_none())
    {
        return Ok(());
    }
    if header_text(headers, "sec-fetch-site") == Some("same-origin") {
        return Ok(());
    }
    match header_text(headers, header::REFERER).and_then(|r| url::Url::parse(r).ok()) {
        Some(referer) if state.is_trusted_origin(&referer.origin().ascii_serialization()) => Ok(()),
        Some(_) => Err(invalid_origin()),
        None => Err(ApiError::from(ErrorCode::MissingOrNullOrigin)),
    }
}

fn invalid_origin() -> ApiError {
    ApiError::from(ErrorCode::InvalidOrigin)
}

fn has_bearer(headers: &HeaderMap) -> bool {
    header_text(headers, header::AUTHORIZATION)
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "))
}

fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
