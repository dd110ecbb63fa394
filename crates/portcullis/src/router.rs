//! The whole HTTP surface: feature routers under `/api/auth`, the OpenAPI document generated from
//! the same route definitions, and the middleware every request passes through.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::{
    access_tokens, accounts, admin, health, http, organizations, pages, password_reset, rate_limit,
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
        .nest("/api/auth", auth_routes(&state))
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

/// Every request's way in, outermost first. One `ServiceBuilder` stack added with one `layer`
/// call: each `Router::layer` call wraps every route in one more boxed service that is cloned
/// for every request, so nine calls cost nine allocations per request where one does.
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
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), RandomRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        // Failures are logged once, with their cause, by the envelope.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::protection::envelope,
        ))
        .layer(CatchPanicLayer::custom(
            |panic: Box<dyn std::any::Any + Send>| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                ApiError::internal(format!("a request handler panicked: {what}")).into_response()
            },
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::middleware::limit_by_ip,
        ))
        .layer(cors(state))
        // The request's language preferences, for the mails it sends (`i18n::requested`).
        .layer(axum::middleware::from_fn(crate::i18n::remember))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        // Innermost, inside the routing (the stack wraps each route), so the route pattern is
        // known.
        .layer(axum::middleware::from_fn(crate::metrics::record_request))
}

fn auth_routes(state: &AppState) -> OpenApiRouter<AppState> {
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
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::csrf::require_trusted_origin,
        ))
}

/// Browser apps on trusted origins may call the API with credentials, with the headers the
/// client sends plus the operator's `cors.allowed_headers`.
fn cors(state: &AppState) -> CorsLayer {
    let trusted = Arc::clone(&state.trusted_origins);
    let headers = [header::CONTENT_TYPE, header::AUTHORIZATION]
        .into_iter()
        .chain(state.config.cors.allowed_headers.iter().cloned())
        .collect::<Vec<_>>();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|o| trusted.iter().any(|t| t == o))
        }))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(headers)
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(600))
        // tower-http 0.7 derives `Vary` from the settings (here: only `Origin`); keep the
        // conservative set every response has carried so far.
        .vary([
            header::ORIGIN,
            header::ACCESS_CONTROL_REQUEST_METHOD,
            header::ACCESS_CONTROL_REQUEST_HEADERS,
        ])
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        // Correlation only, not a secret: the thread-local generator avoids a system call per request.
        use rand::distr::{Alphanumeric, SampleString};
        let id = Alphanumeric.sample_string(&mut rand::rng(), 20);
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The request's log span: id, method and path. Never the query string or headers, which can
/// carry tokens. At debug level (`RUST_LOG=info,tower_http=debug` shows it): at info level its
/// construction was a tenth of every request's cost; server errors name the request themselves.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::debug_span!("request", id, method = %request.method(), path = request.uri().path())
}
