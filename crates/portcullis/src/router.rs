//! The whole HTTP surface: feature routers under `/api/auth`, the OpenAPI document generated from
//! the same route definitions, and the middleware every request passes through.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::{
    access_tokens, accounts, admin, health, http, organizations, pages, password_reset,
    revocations, sessions, sign_in, social, tokens, two_factor, verification,
};

/// Bodies are small JSON documents; anything bigger is refused before it is read.
const BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "Self-hosted authentication server speaking the better-auth HTTP protocol."
    ),
    // Every error answer has this body; endpoints list their codes (see `api_errors!`).
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

pub fn build(state: AppState) -> Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/auth", auth_routes())
        .merge(health::root_router())
        .split_for_parts();
    let router = router
        .merge(access_tokens::routes::well_known())
        .merge(pages::router(&state));
    let openapi_json = Arc::new(
        api.to_pretty_json()
            .expect("the OpenAPI document serialises"),
    );

    router
        .route("/metrics", get(crate::metrics::scrape))
        // The path is a literal for ARCHITECTURE.md's route table check; it is
        // `http::csrf::OPENAPI_DOCUMENT`, which the origin check exempts.
        .route(
            "/api/auth/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    openapi_json.as_str().to_owned(),
                )
            }),
        )
        .fallback(|| async { ApiError::from(ErrorCode::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::from(ErrorCode::MethodNotAllowed) })
        .layer(request_pipeline(&state))
        .with_state(state)
}

/// Every request's way in: the envelope (request id, log span, CORS, rate limits, the API's CSRF
/// origin check, deadline, panic catcher, metrics, security headers: `http/protection.rs`), then
/// the body limit. One
/// `ServiceBuilder` stack added with one `layer` call: each `Router::layer` call wraps every
/// route in one more boxed service that is cloned for every request.
fn request_pipeline(
    state: &AppState,
) -> impl tower::Layer<
    axum::routing::Route,
    Service: tower::Service<
        Request<axum::body::Body>,
        Response: IntoResponse + 'static,
        Error: Into<std::convert::Infallible> + 'static,
        Future: Send + 'static,
    > + Clone
                 + Send
                 + Sync
                 + 'static,
> + Clone {
    tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::protection::envelope,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
}

fn auth_routes() -> OpenApiRouter<AppState> {
    accounts::router()
        .merge(sign_in::router())
        .merge(sessions::router())
        .merge(access_tokens::router())
        .merge(tokens::router())
        .merge(revocations::router())
        .merge(verification::router())
        .merge(password_reset::router())
        .merge(two_factor::router())
        .merge(social::router())
        .merge(organizations::router())
        .merge(health::auth_router())
        .merge(admin::router())
}
