//! Prometheus metrics: the `metrics` facade, rendered by `metrics-exporter-prometheus`. Off unless
//! `metrics.listen` or `metrics.token` is set (then the recorder is installed once per process,
//! and the facade's macros cost nothing while it is not). Scraped at `GET /metrics`: on the main
//! address behind `metrics.token`, or on `metrics.listen` without one.
//!
//! Series: `http_requests_total` and `http_request_duration_seconds` by route (the route's
//! pattern, never a raw path), method and status; `sign_ins_total` by method and outcome;
//! `sign_in_failures_total`; `rate_limit_refusals_total` by class; `throttle_refusals_total`
//! (failed-sign-in throttling); `refresh_rotations_total`, `refresh_reuse_detections_total`;
//! `session_cache_lookups_total` by result (`hit`, `miss`: the hit ratio); `db_pool_connections`
//! and `db_pool_idle_connections`; `password_hash_queue_depth` (jobs waiting for a hashing
//! thread), `password_hash_queue_wait_seconds` and `password_hash_duration_seconds`;
//! `mail_outbox_pending`, `mail_outbox_oldest_pending_seconds` and `mail_outbox_failed` (the
//! backlog), `mail_sent_total` and `mail_delivery_failures_total` by `gave_up`;
//! `revocation_feed_lag_seconds` (recorded → broadcast by this instance) and
//! `revocation_feed_cursor`. Gauges of pools and the outbox are read at each scrape.

pub mod settings;

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// One scrape at a time sets the read-at-scrape gauges and renders them: the recorder belongs to
/// the process, so two servers in one process (the tests) would otherwise show each other's.
static SCRAPING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Buckets of every `*_seconds` histogram (request latency, hash time and wait, feed lag).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process's recorder (once; later calls reuse it) when metrics are on.
pub fn install(state: &AppState) {
    if state.config.metrics.enabled() {
        handle();
    }
}

fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; keeping it");
        }
        handle
    })
}

/// One request being counted and timed: the route's pattern (never a raw path) and method.
pub struct RequestTiming {
    route: String,
    method: String,
    started: Instant,
}

impl RequestTiming {
    /// Starts timing a routed request; `None` when metrics are off (then nothing is allocated).
    /// Called by the envelope, which runs inside the routing, so the route is known.
    pub fn start(request: &Request) -> Option<Self> {
        HANDLE.get()?;
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
        Some(Self {
            route,
            method: request.method().as_str().to_owned(),
            started: Instant::now(),
        })
    }

    /// Counts the request with its answer's status and records how long it took.
    pub fn finish(self, status: StatusCode) {
        let labels = [
            ("route", self.route),
            ("method", self.method),
            ("status", status.as_u16().to_string()),
        ];
        metrics::counter!("http_requests_total", &labels).increment(1);
        metrics::histogram!("http_request_duration_seconds", &labels)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// The exposition, with the gauges read now (at the scrape, so serving requests pays nothing
/// for them).
async fn render(state: &AppState) -> String {
    let _alone = SCRAPING.lock().await;
    let pool = &state.db.pool;
    metrics::gauge!("db_pool_connections").set(f64::from(pool.size()));
    metrics::gauge!("db_pool_idle_connections").set(pool.num_idle() as f64);
    metrics::gauge!("password_hash_queue_depth").set(state.passwords.queue_depth() as f64);
    match crate::mail::outbox::backlog(&state.db).await {
        Ok(backlog) => {
            let oldest_age_ms = backlog
                .oldest_pending_at
                .map_or(0, |at| (state.clock.now_ms() - at).max(0));
            metrics::gauge!("mail_outbox_pending").set(backlog.pending as f64);
            metrics::gauge!("mail_outbox_oldest_pending_seconds")
                .set(oldest_age_ms as f64 / 1000.0);
            metrics::gauge!("mail_outbox_failed").set(backlog.failed as f64);
        }
        // The other series still go out; the outbox gauges keep their last values.
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox backlog"),
    }
    handle().render()
}

async fn exposition(state: &AppState) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(state).await,
    )
        .into_response()
}

/// `GET /metrics` on the main address: only with `Authorization: Bearer <metrics.token>`.
pub async fn scrape(State(state): State<AppState>, request: Request) -> Response {
    let Some(token) = &state.config.metrics.token else {
        return ApiError::from(ErrorCode::NotFound).into_response();
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = token.expose_secret().as_bytes();
    if !bool::from(presented.as_bytes().ct_eq(expected)) {
        let mut refusal = ApiError::from(ErrorCode::Unauthorized).into_response();
        refusal.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return refusal;
    }
    exposition(&state).await
}

/// The separate metrics listener's whole surface.
pub fn listener_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |State(state): State<AppState>| async move { exposition(&state).await },
            ),
        )
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// Serves `listener_router` on `metrics.listen` until the task is aborted.
pub async fn serve_listener(state: AppState) {
    let Some(address) = state.config.metrics.listen else {
        return;
    };
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => {
            tracing::info!("metrics on http://{address}/metrics");
            if let Err(e) = axum::serve(listener, listener_router(state)).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        }
        Err(e) => tracing::error!(error = %e, "metrics.listen: cannot bind {address}"),
    }
}
