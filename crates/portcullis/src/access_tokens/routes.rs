//! The published keys: `/api/auth/jwks` and `/.well-known/jwks.json`.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api_errors;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// `/.well-known/jwks.json` at the root, outside `/api/auth`.
pub fn well_known() -> axum::Router<AppState> {
    axum::Router::new().route("/.well-known/jwks.json", get(jwks_document))
}

api_errors!(JwksErrors, ANY);

/// The public keys that sign access tokens (JWKS, RFC 7517).
#[utoipa::path(get, path = "/jwks", tag = "tokens", responses((status = 200, description = "JWK Set"), JwksErrors))]
async fn jwks(state: State<AppState>) -> Response {
    jwks_document(state).await
}

async fn jwks_document(State(state): State<AppState>) -> Response {
    let keys = state.keys.keys().await;
    (
        // Short: a rotation publishes the new key at once and services refetch on unknown kids.
        [(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        )],
        Json(keys.jwks.clone()),
    )
        .into_response()
}
