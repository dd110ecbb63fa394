//! Per-IP limits on every request, by class of route. Account-keyed limits are checked in the
//! handlers, once the body has named the account.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::extract::{ConnectInfo, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use super::{Class, Subject};
use crate::http::client::client_ip;
use crate::state::AppState;

/// The check of the client's IP against its limit for this request's class (its output: the
/// refusal when over, `None` to let the request through); no check at all when limits are off or
/// the request counts against none. Called by the envelope (`http/protection.rs`), not a layer of
/// its own: a layer costs every request a boxed future. Boxed here instead, and only when there is
/// something to check, so the envelope's own future (moved at every request) stays small. The
/// request is read before the future starts (a request body is not `Sync`, so a future holding
/// `&Request` could not move between threads).
pub fn refusal<'a>(state: &'a AppState, request: &Request) -> Option<Check<'a>> {
    if !state.limits.is_enabled() {
        return None;
    }
    let class = class_of(request.method(), request.uri().path())?;
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()?
        .0
        .ip();
    let ip = client_ip(peer, request.headers(), &state.config.trusted_proxies);
    Some(Box::pin(async move {
        let verdict = state.limits.check(class, Subject::Ip(ip)).await;
        verdict.err().map(IntoResponse::into_response)
    }))
}

/// A pending per-IP check: the refusal, or `None`.
pub type Check<'a> = Pin<Box<dyn Future<Output = Option<Response>> + Send + 'a>>;

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
