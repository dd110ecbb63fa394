//! Email verification and email change (better-auth shapes).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::with_query;
use crate::api_errors;
use crate::error::{ApiResult, ErrorCode};
use crate::http::answers::StatusAnswer;
use crate::http::json::{JsonBody, QueryParams};
use crate::http::redirect::{check_callback, redirect};
use crate::i18n::Requested;
use crate::sessions::extract::{MaybeSession, OwnSession};
use crate::state::AppState;
use crate::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_verification_email))
        .routes(routes!(verify_email))
        .routes(routes!(change_email))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SendVerificationBody {
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

api_errors!(SendVerificationErrors, POST_JSON; InvalidCallbackUrl, InvalidEmail, EmailMismatch, EmailAlreadyVerified);

/// Sends a verification mail to an unverified address. Answers the same whether or not the
/// address has an account (the work happens after the answer).
#[utoipa::path(post, path = "/send-verification-email", tag = "email", request_body = SendVerificationBody,
    responses((status = 200, description = "Accepted: a link is mailed if the address has an unverified account", body = StatusAnswer), SendVerificationErrors))]
async fn send_verification_email(
    State(state): State<AppState>,
    current: MaybeSession,
    language: Requested,
    JsonBody(body): JsonBody<SendVerificationBody>,
) -> ApiResult<Json<StatusAnswer>> {
    if let Some(callback) = &body.callback_url {
        check_callback(&state, callback, ErrorCode::InvalidCallbackUrl)?;
    }
    let signed_in = current.auth.as_ref().map(|auth| &auth.user);
    let callback = body.callback_url.as_deref();
    super::request_verification(&state, &body.email, signed_in, callback, &language).await?;
    Ok(Json(StatusAnswer::OK))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    token: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifiedAnswer {
    status: bool,
    user: Option<User>,
}

api_errors!(VerifyEmailErrors, ANY; InvalidCallbackUrl, ValidationError, InvalidToken = 401, TokenExpired = 401);

/// Opens a verification or email-change link: marks the address verified (or switches to the
/// new address). With `callbackURL` it redirects there, adding `?error=<code>` on failure.
#[utoipa::path(get, path = "/verify-email", tag = "email", params(VerifyQuery),
    responses((status = 200, description = "The address is verified or changed", body = VerifiedAnswer), (status = 302, description = "To callbackURL"), VerifyEmailErrors))]
async fn verify_email(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<VerifyQuery>,
) -> ApiResult<Response> {
    if let Some(callback) = &query.callback_url {
        check_callback(&state, callback, ErrorCode::InvalidCallbackUrl)?;
    }
    let outcome = super::apply_verification(&state, &query.token).await?;
    Ok(match (outcome, query.callback_url) {
        (Ok(_), Some(callback)) => redirect(&callback),
        (Ok(user), None) => Json(VerifiedAnswer {
            status: true,
            user: Some(user),
        })
        .into_response(),
        (Err(error), Some(callback)) => {
            redirect(&with_query(&callback, &[("error", error.code().as_str())]))
        }
        (Err(error), None) => error.into_api(StatusCode::UNAUTHORIZED).into_response(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChangeEmailBody {
    #[serde(rename = "newEmail")]
    #[schema(format = Email, min_length = 3, max_length = 254)]
    new_email: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

api_errors!(ChangeEmailErrors, POST_JSON; Unauthorized, ImpersonationRestricted, InvalidCallbackUrl, InvalidEmail, EmailIsTheSame, SessionNotFresh);

/// Asks to change the account's email: a confirmation link goes to the new address and a notice
/// to the old one; the address changes only when the link is opened. Needs a recent sign-in.
/// A taken address gets exactly the same answer as a free one.
#[utoipa::path(post, path = "/change-email", tag = "email", request_body = ChangeEmailBody,
    responses((status = 200, description = "Accepted: the address changes when the mailed link is opened", body = StatusAnswer), ChangeEmailErrors))]
async fn change_email(
    State(state): State<AppState>,
    OwnSession(auth): OwnSession,
    language: Requested,
    JsonBody(body): JsonBody<ChangeEmailBody>,
) -> ApiResult<Json<StatusAnswer>> {
    if let Some(callback) = &body.callback_url {
        check_callback(&state, callback, ErrorCode::InvalidCallbackUrl)?;
    }
    let callback = body.callback_url.as_deref();
    super::change_email(&state, &auth, &body.new_email, callback, &language).await?;
    Ok(Json(StatusAnswer::OK))
}
