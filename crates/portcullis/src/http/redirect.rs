//! Redirect targets (`callbackURL` and friends) are only relative paths or URLs on a trusted
//! origin (ASVS 3.7.2). Browsers read `//evil`, `/\evil` and `https:evil` as other hosts, so a
//! relative path must start with exactly one `/` and contain no backslash or control character.

use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// `code` is `InvalidCallbackUrl` or `InvalidRedirectUrl`, as the parameter is named.
pub fn check_callback(state: &AppState, target: &str, code: ErrorCode) -> Result<(), ApiError> {
    if is_safe_target(state, target) {
        Ok(())
    } else {
        Err(code.into())
    }
}

fn is_safe_target(state: &AppState, target: &str) -> bool {
    if target.chars().any(|c| c.is_control() || c == '\\') {
        return false;
    }
    if target.starts_with('/') {
        return !target.starts_with("//");
    }
    match url::Url::parse(target) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            state.is_trusted_origin(&url.origin().ascii_serialization())
        }
        _ => false,
    }
}

/// A `302 Found` to `to` (a target already checked).
pub fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(LOCATION, to.to_owned())]).into_response()
}

/// `base` with `params` added to its query string.
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let encoded: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{encoded}")
}
