//! What wraps every answer: a deadline, the security headers, and one log line for a server error.
//!
//! One middleware layer for the three: each `from_fn` layer costs every request a boxed future,
//! a copy of it and a clone of the state, and these three always run together.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::RequestId;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The envelope of every answer (outermost but for the request id and the trace span).
pub async fn envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = request.extensions().get::<RequestId>().cloned();
    // Clones of shared bytes, not copies: kept for the 5xx line.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    // A probe says itself that the database is unreachable (DATABASE_UNREACHABLE, within a
    // second); the deadline's own database check would race it with SERVICE_UNAVAILABLE.
    let check_database = !crate::health::is_probe(uri.path());
    let response = deadline(&state, next.run(request), check_database).await;
    if response.status().is_server_error() {
        crate::error::log_server_error(&response, request_id.as_ref(), &method, uri.path());
    }
    security_headers(&state, response)
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
        if !state.db.is_reachable().await {
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
/// everything (these answers are JSON, never pages), and HSTS when served over https.
fn security_headers(state: &AppState, mut response: Response) -> Response {
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
