//! Liveness and readiness for operators and load balancers.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api_errors;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The probes load balancers call: never rate-limited, and they bound their own time (readiness
/// answers within `db::REACHABLE_WITHIN`), so the request deadline's database check stays out of
/// their way.
pub fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/api/auth/ok")
}

/// Routes under `/api/auth`.
pub fn auth_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ok))
}

/// Routes at the root.
pub fn root_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OkAnswer {
    ok: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthAnswer {
    status: &'static str,
}

api_errors!(OkErrors, ANY);

/// better-auth's liveness probe.
#[utoipa::path(get, path = "/ok", tag = "operations", responses((status = 200, description = "Alive", body = OkAnswer), OkErrors))]
async fn ok() -> Json<OkAnswer> {
    Json(OkAnswer { ok: true })
}

api_errors!(HealthzErrors, ANY);

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive", body = HealthAnswer), HealthzErrors))]
async fn healthz() -> Json<HealthAnswer> {
    Json(HealthAnswer { status: "ok" })
}

api_errors!(ReadyzErrors, ANY; DatabaseUnreachable);

/// The server can do its work: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready: the database answers", body = HealthAnswer), ReadyzErrors))]
async fn readyz(State(state): State<AppState>) -> Result<Json<HealthAnswer>, ApiError> {
    if state.db.is_reachable().await {
        Ok(Json(HealthAnswer { status: "ok" }))
    } else {
        Err(ApiError::from(ErrorCode::DatabaseUnreachable))
    }
}
