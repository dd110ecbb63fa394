//! Starting a session for a user who proved who they are: the one path every way in takes
//! (password sign-in, the password grant, sign-up, both second-factor completions, social sign-in
//! and impersonation). It refuses banned users, applies the second-factor rule (a challenge instead of a session,
//! unless this browser is trusted), creates the session, trusts the device when asked, and writes
//! the audit event, so no way in can forget one of them.

use axum::http::HeaderValue;

use super::challenge;
use super::trusted_devices;
use super::Channel;
use crate::audit::{self, Event};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::organizations;
use crate::sessions::{self, Impersonation, Session};
use crate::state::AppState;
use crate::users::store as users;
use crate::users::User;

/// How the user proved who they are.
#[derive(Debug, Clone, Copy)]
pub enum Method<'a> {
    /// Email and password (cookie sign-in or the password grant).
    Password,
    /// A new account, signed in by its sign-up.
    SignUp,
    /// A provider's callback or ID token (social sign-in).
    Social,
    /// A new account made by a social sign-in.
    SocialSignUp,
    /// An administrator acting as the user (the admin feature checked who may, and why): a
    /// session of fixed, short lifetime that records who acts; no second factor is asked of the
    /// user, and the audit event names the administrator and the reason.
    Impersonation(Impersonation<'a>),
}

/// Where the second factor stands.
#[derive(Debug, Clone, Copy)]
pub enum SecondFactor<'a> {
    /// Not shown yet: required if the user has two-factor on, unless `trusted_device` (the
    /// browser's trusted-device token) is live for this user.
    NotShown { trusted_device: Option<&'a str> },
    /// Shown just now (a challenge was completed); `trust_device` asks to skip it on this browser
    /// next time.
    Passed { trust_device: bool },
}

/// A way in, and its circumstances.
pub struct SignIn<'a> {
    pub user: User,
    pub method: Method<'a>,
    /// A browser (session cookie) or a token-mode client (`mfa_token`, refresh token).
    pub channel: Channel,
    /// `rememberMe`: a persistent session, or a short one whose cookie ends with the browser.
    pub persistent: bool,
    pub client: &'a ClientInfo,
    pub second_factor: SecondFactor<'a>,
}

pub enum Outcome {
    Started(Box<Started>),
    /// Two-factor is on: the second factor must complete this sign-in.
    SecondFactorRequired(Required),
}

/// A new session.
pub struct Started {
    pub user: User,
    /// The session's secret token (cookie value or bearer token).
    pub token: String,
    pub session: Session,
    /// The trusted-device cookie to set: a renewed trust, or a new one asked for at the code.
    pub trusted_device_cookie: Option<HeaderValue>,
}

/// A second-factor challenge opened instead of a session.
pub struct Required {
    /// Names the challenge: the cookie's value, or the `mfa_token`.
    pub challenge_token: String,
    /// The browser sent a trusted-device cookie that is not (or no longer) good for this user.
    pub forget_trusted_device: bool,
}

pub async fn start(state: &AppState, sign_in: SignIn<'_>) -> ApiResult<Outcome> {
    let SignIn {
        user,
        method,
        channel,
        persistent,
        client,
        second_factor,
    } = sign_in;
    let method_name = match method {
        Method::Password => "password",
        Method::SignUp => "sign_up",
        Method::Social => "social",
        Method::SocialSignUp => "social_sign_up",
        Method::Impersonation(_) => "impersonation",
    };
    if let Err(refusal) = refuse_banned(state, &user).await {
        metrics::counter!("sign_ins_total", "method" => method_name, "outcome" => "banned")
            .increment(1);
        return Err(refusal);
    }
    let impersonation = match method {
        Method::Impersonation(impersonation) => Some(impersonation),
        Method::Password | Method::SignUp | Method::Social | Method::SocialSignUp => None,
    };
    let trusted_device_cookie = match second_factor {
        _ if impersonation.is_some() => None,
        SecondFactor::NotShown { trusted_device } if user.two_factor_enabled => {
            let renewed = match trusted_device {
                Some(token) => trusted_devices::renew_if_trusted(state, &user.id, token).await?,
                None => None,
            };
            if renewed.is_none() {
                let challenge_token = challenge::open(state, &user.id, channel, persistent).await?;
                metrics::counter!("sign_ins_total", "method" => method_name, "outcome" => "second_factor_required")
                    .increment(1);
                return Ok(Outcome::SecondFactorRequired(Required {
                    challenge_token,
                    forget_trusted_device: trusted_device.is_some(),
                }));
            }
            renewed
        }
        SecondFactor::NotShown { .. } => None,
        SecondFactor::Passed { trust_device } if trust_device && channel == Channel::Cookie => {
            Some(trusted_devices::trust(state, &user.id).await?)
        }
        SecondFactor::Passed { .. } => None,
    };
    let (token, mut session) =
        sessions::start_as(state, &user.id, persistent, client, impersonation).await?;
    // organization.remember_active: the organization last worked in is active again.
    session.active_organization_id =
        organizations::remember_active(state, &session.id, &user.id).await?;
    metrics::counter!("sign_ins_total", "method" => method_name, "outcome" => "started")
        .increment(1);
    match method {
        Method::Impersonation(i) => {
            let acted = audit::Acted {
                actor: i.by,
                detail: Some(i.reason),
            };
            audit::record_acted(
                state,
                Event::ImpersonationStarted,
                Some(&user.id),
                Some(&session.id),
                &acted,
                client,
            )
            .await;
        }
        _ => {
            let event = match method {
                Method::SignUp => Event::SignUp,
                Method::Social => Event::SocialSignIn,
                Method::SocialSignUp => Event::SocialSignUp,
                _ => Event::SignIn,
            };
            audit::record(state, event, Some(&user.id), Some(&session.id), client).await;
        }
    }
    Ok(Outcome::Started(Box::new(Started {
        user,
        token,
        session,
        trusted_device_cookie,
    })))
}

/// The password step of a browser sign-in (`/sign-in/email` and the sign-in page): a session, or
/// the second factor unless `trusted_device` is a live trust for this user.
pub async fn after_password(
    state: &AppState,
    user: User,
    persistent: bool,
    client: &ClientInfo,
    trusted_device: Option<&str>,
) -> ApiResult<Outcome> {
    start(
        state,
        SignIn {
            user,
            method: Method::Password,
            channel: Channel::Cookie,
            persistent,
            client,
            second_factor: SecondFactor::NotShown { trusted_device },
        },
    )
    .await
}

/// A banned user gets no session, whichever way they come in (403 `BANNED_USER`); a ban whose
/// expiry has passed is lifted instead.
async fn refuse_banned(state: &AppState, user: &User) -> ApiResult<()> {
    if !user.banned {
        return Ok(());
    }
    let now = state.clock.now_ms();
    if user.is_banned(now) {
        return Err(ApiError::from(ErrorCode::BannedUser));
    }
    users::lift_expired_ban(&state.db, &user.id, now).await?;
    Ok(())
}
