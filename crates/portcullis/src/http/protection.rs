//! What wraps every answer: the request id, the log span, CORS, per-IP rate limits, the API's
//! CSRF origin check, a deadline, a panic catcher, request metrics, the security headers, and one
//! log line for a server error.
//!
//! One middleware layer for all of them: each layer (tower-http's or a `from_fn`) cost every
//! request a boxed future or a boxed body, a clone of its configuration, or a header map of its
//! own, and these always run together (bench/README.md, "What each layer costs").

use std::panic::AssertUnwindSafe;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use tracing::Instrument;

use super::cors;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::RequestTiming;
use crate::state::AppState;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The envelope of every answer. Runs inside the routing (the stack wraps each route), so the
/// route's pattern is known to the metrics.
pub async fn envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = request_id(request.headers());
    let origin = request.headers().get(header::ORIGIN).cloned();
    if cors::is_preflight(request.method()) {
        let answer = cors::preflight(
            &state.trusted_origins,
            &state.config.cors.allowed_headers,
            origin.as_ref(),
        );
        return security_headers(&state, answer, request_id);
    }
    // Clones of shared bytes, not copies: kept for the 5xx line.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let span = tracing::debug_span!("request", id = request_id.to_str().unwrap_or("-"),
        %method, path = uri.path());
    // A probe says itself that the database is unreachable (DATABASE_UNREACHABLE, within a
    // second); the deadline's own database check would race it with SERVICE_UNAVAILABLE.
    let check_database = !crate::health::is_probe(uri.path());
    let handled = AssertUnwindSafe(limited_and_timed(&state, request, next)).catch_unwind();
    let guarded = async { handled.await.unwrap_or_else(|panic| panicked(&*panic)) };
    let response = deadline(&state, guarded, check_database)
        .instrument(span)
        .await;
    if response.status().is_server_error() {
        crate::error::log_server_error(&response, &request_id, &method, uri.path());
    }
    let mut response = security_headers(&state, response, request_id);
    let trusted = &state.trusted_origins;
    cors::decorate(response.headers_mut(), trusted, origin.as_ref());
    response
}

/// The handler behind the per-IP rate limit and the CSRF origin check, counted and timed when
/// metrics are on.
async fn limited_and_timed(state: &AppState, request: Request, next: Next) -> Response {
    if let Some(check) = crate::rate_limit::middleware::refusal(state, &request) {
        if let Some(refusal) = check.await {
            return refusal;
        }
    }
    if let Some(refusal) = super::csrf::refusal(state, &request) {
        return refusal;
    }
    let timing = RequestTiming::start(&request);
    let response = next.run(request).await;
    if let Some(timing) = timing {
        timing.finish(response.status());
    }
    response
}

/// A panicking handler answers 500 (the envelope logs it with its message), and the server goes on.
fn panicked(panic: &(dyn std::any::Any + Send)) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::internal(format!("a request handler panicked: {what}")).into_response()
}

/// The client's `x-request-id` when it sent one (a proxy in front may have), else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// 20 random characters (100 bits) for correlation in logs, not a secret: one draw from the
/// thread-local generator, encoded on the stack, one allocation for the header value.
fn new_request_id() -> HeaderValue {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bits: u128 = rand::random();
    let mut id = [0u8; 20];
    for byte in &mut id {
        *byte = ALPHABET[(bits & 31) as usize];
        bits >>= 5;
    }
    HeaderValue::from_bytes(&id).expect("the alphabet is visible ASCII")
}

/// Bounds every request by `server.request_timeout` (then 408, the work it started dropped). With
/// `check_database`, one that is still running after `database_timeout` is checked against the
/// database: if the database does not answer a ping within a second, the request is answered
/// `503` with `Retry-After` (a hung database must not hang its clients); otherwise it may go on
/// until the overall deadline (then 408).
async fn deadline(
    state: &AppState,
    handler: impl std::future::Future<Output = Response>,
    check_database: bool,
) -> Response {
    let request_deadline = state.config.server.request_timeout;
    tokio::pin!(handler);
    let mut rest = request_deadline;
    if check_database {
        let patience = state.config.database_timeout.min(request_deadline);
        if let Ok(response) = tokio::time::timeout(patience, &mut handler).await {
            return response;
        }
        // Boxed: a cold path, kept out of the future every request moves.
        if !Box::pin(state.db.is_reachable()).await {
            return ApiError::database_unavailable().into_response();
        }
        rest = request_deadline.saturating_sub(patience + crate::db::REACHABLE_WITHIN);
    }
    match tokio::time::timeout(rest, handler).await {
        Ok(response) => response,
        Err(_) => ApiError::from(ErrorCode::RequestTimeout).into_response(),
    }
}

/// No caching of auth answers, no sniffing, no referrers, no framing, a CSP that forbids
/// everything (these answers are JSON, never pages), and HSTS when served over https; and the
/// request id. Hosted pages set their own CSP and caching, which are kept. The values are
/// constants: `HeaderValue::from_static` outside a `const` checks every byte at each call.
fn security_headers(state: &AppState, mut response: Response, request_id: HeaderValue) -> Response {
    const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
    const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
    const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
    const DENY: HeaderValue = HeaderValue::from_static("DENY");
    const NOTHING_ALLOWED: HeaderValue =
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
    const TWO_YEARS_OF_HTTPS: HeaderValue =
        HeaderValue::from_static("max-age=63072000; includeSubDomains");
    let headers = response.headers_mut();
    // Room for every header below and CORS's (written next) at once: one growth of the map
    // instead of several.
    headers.reserve(12);
    let mut set = |name: header::HeaderName, value: HeaderValue| {
        headers.entry(name).or_insert(value);
    };
    set(header::CACHE_CONTROL, NO_STORE);
    set(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    set(header::REFERRER_POLICY, NO_REFERRER);
    set(header::X_FRAME_OPTIONS, DENY);
    set(header::CONTENT_SECURITY_POLICY, NOTHING_ALLOWED);
    if state.config.is_https() {
        set(header::STRICT_TRANSPORT_SECURITY, TWO_YEARS_OF_HTTPS);
    }
    headers.insert(REQUEST_ID.clone(), request_id);
    response
}
