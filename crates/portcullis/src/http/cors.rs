//! CORS: browser apps on trusted origins may call the API with credentials.
//!
//! The same answers tower-http's `CorsLayer` gave (credentials allowed, `GET` and `POST`,
//! `Content-Type` and `Authorization`, `WWW-Authenticate` exposed, preflights cached ten
//! minutes), written by the envelope from constant header values: the layer cloned its
//! configuration and built its `Vary` value anew for every request.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// Every answer depends on these request headers (the preflight's on all three), whether or not
/// this one carried them, so caches must key on them.
const VARY: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);
const ALLOW_CREDENTIALS: HeaderValue = HeaderValue::from_static("true");
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET,POST");
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static("content-type,authorization");
const EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static("www-authenticate");
const MAX_AGE: HeaderValue = HeaderValue::from_static("600");

/// True for a request the envelope answers itself: every `OPTIONS` is a preflight.
pub fn is_preflight(method: &Method) -> bool {
    *method == Method::OPTIONS
}

/// The answer to a preflight: empty, with the allowed methods and headers (ours and the
/// operator's `cors.allowed_headers`), and the origin echoed when it is trusted. Nothing behind
/// the envelope runs.
pub fn preflight(
    trusted: &[String],
    extra_headers: &[HeaderName],
    origin: Option<&HeaderValue>,
) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.append(header::VARY, VARY);
    headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, ALLOW_CREDENTIALS);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        allowed_headers(extra_headers),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    allow_origin(headers, trusted, origin);
    response
}

/// `content-type,authorization` and the operator's extra headers. Built per preflight, which
/// browsers cache for `MAX_AGE`, so ordinary requests never pay for it.
fn allowed_headers(extra: &[HeaderName]) -> HeaderValue {
    if extra.is_empty() {
        return ALLOW_HEADERS;
    }
    let mut list = String::from("content-type,authorization");
    for name in extra {
        list.push(',');
        list.push_str(name.as_str());
    }
    // Header names are visible ASCII, so the joined list is a valid value.
    HeaderValue::from_str(&list).unwrap_or(ALLOW_HEADERS)
}

/// The CORS headers of an ordinary answer. Without an `Origin` the request is not cross-origin
/// (browsers send one on every cross-origin request), so only `Vary` is written.
pub fn decorate(headers: &mut HeaderMap, trusted: &[String], origin: Option<&HeaderValue>) {
    headers.append(header::VARY, VARY);
    if origin.is_some() {
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, ALLOW_CREDENTIALS);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
        allow_origin(headers, trusted, origin);
    }
}

/// Echoes the origin when it is one of the trusted ones, and says nothing otherwise.
fn allow_origin(headers: &mut HeaderMap, trusted: &[String], origin: Option<&HeaderValue>) {
    let Some(origin) = origin else { return };
    let is_trusted = origin
        .to_str()
        .is_ok_and(|o| trusted.iter().any(|t| t == o));
    if is_trusted {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
}
