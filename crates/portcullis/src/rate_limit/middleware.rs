//! Per-IP limits on every request, by class of route. Account-keyed limits are checked in the
//! handlers, once the body has named the account.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use super::{Class, Subject};
use crate::http::client::client_ip;
use crate::state::AppState;

/// The refusal when the client's IP is over its limit for this request's class; `None` lets
/// the request through. Called by the envelope (`http/protection.rs`), not a layer of its own:
/// a layer costs every request a boxed future. The request is read before the future starts
/// (a request body is not `Sync`, so a future holding `&Request` could not move between threads).
pub fn refusal<'a>(
    state: &'a AppState,
    request: &Request,
) -> impl std::future::Future<Output = Option<Response>> + Send + 'a {
    let counted = class_of(request.method(), request.uri().path()).and_then(|class| {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()?
            .0
            .ip();
        let ip = client_ip(peer, request.headers(), &state.config.trusted_proxies);
        Some((class, ip))
    });
    async move {
        let (class, ip) = counted?;
        let verdict = state.limits.check(class, Subject::Ip(ip)).await;
        verdict.err().map(IntoResponse::into_response)
    }
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
