//! The two-factor endpoints of the better-auth protocol (`/two-factor/*`).

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::factors::{self, Factor};
use super::manage::{self, not_set_up, wrong_code};
use super::store;

use crate::api_errors;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::answers::StatusAnswer;
use crate::http::client::ClientInfo;
use crate::http::json::JsonBody;
use crate::sessions::extract::{MaybeSession, OwnSession};
use crate::sessions::Authenticated;
use crate::sign_in::challenge::{self, Refusal};
use crate::sign_in::start::{self, Method, Outcome, SecondFactor, SignIn};
use crate::sign_in::Channel;
use crate::sign_in::TokenAndUser;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enable))
        .routes(routes!(get_totp_uri))
        .routes(routes!(verify_totp))
        .routes(routes!(verify_backup_code))
        .routes(routes!(generate_backup_codes))
        .routes(routes!(disable))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnableBody {
    #[schema(max_length = 128)]
    password: Option<String>,
    /// Issuer shown by the authenticator app; default `two_factor.issuer`.
    #[schema(min_length = 1, max_length = 64)]
    issuer: Option<String>,
    /// End every other session of the user.
    revoke_other_sessions: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnableAnswer {
    /// Always `totp`.
    method: &'static str,
    #[serde(rename = "totpURI")]
    totp_uri: String,
    /// The URI as an SVG QR code.
    #[serde(rename = "totpQRCode")]
    totp_qr_code: String,
    /// Ten single-use codes, shown this once.
    backup_codes: Vec<String>,
}

api_errors!(EnableErrors, POST_JSON; Unauthorized, ImpersonationRestricted, ImpersonationRestricted, InvalidPassword, CredentialAccountNotFound, PasswordTooLong, TotpAlreadyEnabled, InvalidIssuer, SessionNotFresh);

/// Starts setting up TOTP: a new secret and backup codes. Two-factor turns on only when
/// `verify-totp` receives a first correct code from this session.
#[utoipa::path(post, path = "/two-factor/enable", tag = "two-factor", request_body = EnableBody,
    responses((status = 200, description = "The pending TOTP secret's URI and the backup codes", body = EnableAnswer), EnableErrors))]
async fn enable(
    State(state): State<AppState>,
    client: ClientInfo,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<EnableBody>,
) -> ApiResult<Json<EnableAnswer>> {
    let enrolment = manage::enable(
        &state,
        &client,
        &auth,
        body.password.as_deref(),
        body.issuer.as_deref(),
        body.revoke_other_sessions == Some(true),
    )
    .await?;
    Ok(Json(EnableAnswer {
        method: "totp",
        totp_uri: enrolment.uri,
        totp_qr_code: enrolment.qr_svg,
        backup_codes: enrolment.backup_codes,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordBody {
    #[schema(max_length = 128)]
    password: Option<String>,
    /// End every other session of the user (not for `get-totp-uri`).
    revoke_other_sessions: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpUriAnswer {
    #[serde(rename = "totpURI")]
    totp_uri: String,
    #[serde(rename = "totpQRCode")]
    totp_qr_code: String,
}

api_errors!(GetTotpUriErrors, POST_JSON; Unauthorized, ImpersonationRestricted, ImpersonationRestricted, InvalidPassword, CredentialAccountNotFound, PasswordTooLong, TotpNotEnabled, SessionNotFresh);

/// The otpauth URI (and its QR code) of the user's TOTP secret, pending or active.
#[utoipa::path(post, path = "/two-factor/get-totp-uri", tag = "two-factor", request_body = PasswordBody,
    responses((status = 200, description = "The otpauth URI", body = TotpUriAnswer), GetTotpUriErrors))]
async fn get_totp_uri(
    State(state): State<AppState>,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult<Json<TotpUriAnswer>> {
    manage::reauthenticate(&state, &auth, body.password.as_deref()).await?;
    let Some(stored) = store::secret(&state.db, &auth.user.id).await? else {
        return Err(totp_not_enabled());
    };
    let authenticator = factors::authenticator(&state, &auth.user, &stored.sealed_secret)?;
    Ok(Json(TotpUriAnswer {
        totp_uri: authenticator.uri(),
        totp_qr_code: authenticator.qr_svg(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyBody {
    code: String,
    /// After a sign-in challenge: skip the second factor on this browser for
    /// `two_factor.trust_device_lifetime`.
    trust_device: Option<bool>,
}

api_errors!(VerifyTotpErrors, POST_JSON; TotpNotEnabled, InvalidCode, InvalidTwoFactorCookie, TooManyAttemptsRequestNewCode);

/// Checks a TOTP code. With the sign-in challenge cookie it completes the sign-in (a new
/// session); from a signed-in session it confirms a pending secret, turning two-factor on.
#[utoipa::path(post, path = "/two-factor/verify-totp", tag = "two-factor", request_body = VerifyBody,
    responses((status = 200, description = "`token` is the new session's after a sign-in challenge, null otherwise", body = TokenAndUser), VerifyTotpErrors))]
async fn verify_totp(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    session: MaybeSession,
    JsonBody(body): JsonBody<VerifyBody>,
) -> ApiResult<Response> {
    let trust = body.trust_device == Some(true);
    verify(
        &state,
        &client,
        &headers,
        session,
        Factor::Totp(&body.code),
        trust,
    )
    .await
}

api_errors!(VerifyBackupCodeErrors, POST_JSON; BackupCodesNotEnabled, InvalidBackupCode, InvalidTwoFactorCookie, TooManyAttemptsRequestNewCode);

/// Checks a backup code and uses it up. With the sign-in challenge cookie it completes the
/// sign-in; from a signed-in session it only uses the code up.
#[utoipa::path(post, path = "/two-factor/verify-backup-code", tag = "two-factor", request_body = VerifyBody,
    responses((status = 200, description = "`token` is the new session's after a sign-in challenge, null otherwise", body = TokenAndUser), VerifyBackupCodeErrors))]
async fn verify_backup_code(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    session: MaybeSession,
    JsonBody(body): JsonBody<VerifyBody>,
) -> ApiResult<Response> {
    let trust = body.trust_device == Some(true);
    let factor = Factor::BackupCode(&body.code);
    verify(&state, &client, &headers, session, factor, trust).await
}

/// A live challenge cookie wins over a session: it is there only during a sign-in.
async fn verify(
    state: &AppState,
    client: &ClientInfo,
    headers: &HeaderMap,
    session: MaybeSession,
    factor: Factor<'_>,
    trust_device: bool,
) -> ApiResult<Response> {
    if let Some(token) = state.challenge_cookie.read(headers) {
        if session.auth.is_none() || challenge::is_live(state, token, Channel::Cookie).await? {
            return complete_sign_in(state, client, token, factor, trust_device).await;
        }
    }
    match session.auth {
        Some(auth) => verify_signed_in(state, client, auth, factor).await,
        None => Err(invalid_challenge()),
    }
}

async fn complete_sign_in(
    state: &AppState,
    client: &ClientInfo,
    token: &str,
    factor: Factor<'_>,
    trust_device: bool,
) -> ApiResult<Response> {
    let (user, persistent) =
        match factors::complete_challenge(state, token, Channel::Cookie, factor, client).await {
            Ok(done) => done,
            Err(Refusal::NoChallenge) => return Ok(forget_challenge(state, invalid_challenge())),
            Err(Refusal::WrongCode { last: false }) => return Err(wrong_code(factor)),
            Err(Refusal::WrongCode { last: true }) => {
                return Ok(forget_challenge(state, too_many_attempts()))
            }
            Err(Refusal::NotSetUp) => return Err(not_set_up(factor)),
            Err(Refusal::Error(e)) => return Err(e),
        };
    let outcome = start::start(
        state,
        SignIn {
            user,
            method: Method::Password,
            channel: Channel::Cookie,
            persistent,
            client,
            second_factor: SecondFactor::Passed { trust_device },
        },
    )
    .await?;
    let Outcome::Started(started) = outcome else {
        return Err(ApiError::internal(
            "a passed second factor asked for another",
        ));
    };
    let answer = TokenAndUser {
        token: Some(started.token.clone()),
        user: started.user.clone(),
    };
    let mut response = Json(answer).into_response();
    started.set_cookies(state, response.headers_mut());
    response
        .headers_mut()
        .append(SET_COOKIE, state.challenge_cookie.clear());
    Ok(response)
}

async fn verify_signed_in(
    state: &AppState,
    client: &ClientInfo,
    auth: Authenticated,
    factor: Factor<'_>,
) -> ApiResult<Response> {
    let user = manage::confirm(state, client, &auth, factor).await?;
    // The caller already holds its session token; it is not echoed (see docs/compat.md).
    Ok(Json(TokenAndUser { token: None, user }).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupCodesAnswer {
    status: bool,
    backup_codes: Vec<String>,
}

api_errors!(GenerateBackupCodesErrors, POST_JSON; Unauthorized, ImpersonationRestricted, ImpersonationRestricted, InvalidPassword, CredentialAccountNotFound, PasswordTooLong, TwoFactorNotEnabled, SessionNotFresh);

/// Replaces the user's backup codes with a new set of ten.
#[utoipa::path(post, path = "/two-factor/generate-backup-codes", tag = "two-factor", request_body = PasswordBody,
    responses((status = 200, description = "The new backup codes", body = BackupCodesAnswer), GenerateBackupCodesErrors))]
async fn generate_backup_codes(
    State(state): State<AppState>,
    client: ClientInfo,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult<Json<BackupCodesAnswer>> {
    let codes = manage::regenerate_backup_codes(
        &state,
        &client,
        &auth,
        body.password.as_deref(),
        body.revoke_other_sessions == Some(true),
    )
    .await?;
    Ok(Json(BackupCodesAnswer {
        status: true,
        backup_codes: codes,
    }))
}

api_errors!(DisableErrors, POST_JSON; Unauthorized, ImpersonationRestricted, ImpersonationRestricted, InvalidPassword, CredentialAccountNotFound, PasswordTooLong, TwoFactorNotEnabled, SessionNotFresh);

/// Turns two-factor off (or cancels a pending `enable`) and ends the trust of every device.
#[utoipa::path(post, path = "/two-factor/disable", tag = "two-factor", request_body = PasswordBody,
    responses((status = 200, description = "Two-factor is off", body = StatusAnswer), DisableErrors))]
async fn disable(
    State(state): State<AppState>,
    client: ClientInfo,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult<Response> {
    manage::disable(
        &state,
        &client,
        &auth,
        body.password.as_deref(),
        body.revoke_other_sessions == Some(true),
    )
    .await?;
    let forget_trust = state.trusted_device_cookie.clear();
    Ok(([(SET_COOKIE, forget_trust)], Json(StatusAnswer::OK)).into_response())
}

/// An error answer that also makes the browser forget the challenge cookie.
fn forget_challenge(state: &AppState, error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, state.challenge_cookie.clear());
    response
}

fn invalid_challenge() -> ApiError {
    ApiError::from(ErrorCode::InvalidTwoFactorCookie)
}

fn too_many_attempts() -> ApiError {
    ApiError::from(ErrorCode::TooManyAttemptsRequestNewCode)
}

fn totp_not_enabled() -> ApiError {
    ApiError::from(ErrorCode::TotpNotEnabled)
}
