//! Response hardening applied to every answer: security headers and a request deadline.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Bounds every request by `server.request_timeout` (then 408, the work it started dropped). One
/// that is still running after `database_timeout` is checked against
/// the database: if the database does not answer a ping within a second, the request is answered
/// `503` with `Retry-After` (a hung database must not hang its clients); otherwise it may go on
/// until the overall deadline (then 408).
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_deadline = state.config.server.request_timeout;
    let handler = next.run(request);
    tokio::pin!(handler);
    let patience = state.config.database_timeout.min(request_deadline);
    if let Ok(response) = tokio::time::timeout(patience, &mut handler).await {
        return response;
    }
    if !state.db.is_reachable().await {
        return ApiError::database_unavailable().into_response();
    }
    let rest = request_deadline.saturating_sub(patience + crate::db::REACHABLE_WITHIN);
    match tokio::time::timeout(rest, handler).await {
        Ok(response) => response,
        Err(_) => ApiError::from(ErrorCode::RequestTimeout).into_response(),
    }
}

/// No caching of auth answers, no sniffing, no referrers, no framing, a CSP that forbids
/// everything (these answers are JSON, never pages), and HSTS when served over https.
pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(header::CACHE_CONTROL, "no-store");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    );
    if state.config.is_https() {
        set(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        );
    }
    response
}
