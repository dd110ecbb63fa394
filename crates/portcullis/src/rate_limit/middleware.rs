//! Per-IP limits on every request, by class of route. Account-keyed limits are checked in the
//! handlers, once the body has named the account.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Class, Subject};
use crate::http::client::client_ip;
use crate::state::AppState;

pub async fn limit_by_ip(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(class) = class_of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(peer) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return next.run(request).await;
    };
    let ip = client_ip(peer, request.headers(), &state.config.trusted_proxies);
    if let Err(refusal) = state.limits.check(class, Subject::Ip(ip)).await {
        return refusal.into_response();
    }
    next.run(request).await
}

/// The class a request counts against; `None` for health probes, which load balancers call often.
fn class_of(method: &Method, path: &str) -> Option<Class> {
    if crate::health::is_probe(path) || *method == Method::OPTIONS {
        return None;
    }
    Some(match path.trim_end_matches('/') {
        "/api/auth/sign-in/email" | "/api/auth/sign-in/social" => Class::SignIn,
        _ if path.starts_with("/api/auth/callback/") => Class::SignIn,
        "/api/auth/sign-up/email" => Class::SignUp,
        "/api/auth/request-password-reset" | "/api/auth/reset-password" => Class::PasswordReset,
        "/api/auth/send-verification-email" | "/api/auth/change-email" => Class::VerificationMail,
        "/api/auth/token" if *method == Method::POST => Class::TokenRefresh,
        "/api/auth/two-factor/verify-totp" | "/api/auth/two-factor/verify-backup-code" => {
            Class::TwoFactor
        }
        _ => Class::General,
    })
}
