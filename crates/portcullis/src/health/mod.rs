//! Liveness and readiness for operators and load balancers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

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

/// better-auth's liveness probe.
#[utoipa::path(get, path = "/ok", tag = "operations", responses((status = 200, body = OkAnswer)))]
async fn ok() -> Json<OkAnswer> {
    Json(OkAnswer { ok: true })
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = HealthAnswer)))]
async fn healthz() -> Json<HealthAnswer> {
    Json(HealthAnswer { status: "ok" })
}

/// The server can do its work: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = HealthAnswer), (status = 503, body = ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<Json<HealthAnswer>, ApiError> {
    if state.db.is_reachable().await {
        Ok(Json(HealthAnswer { status: "ok" }))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "DATABASE_UNREACHABLE",
            "The database does not answer",
        ))
    }
}
