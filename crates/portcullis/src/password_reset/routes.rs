//! Password reset endpoints (better-auth shapes).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::complete;
use crate::api_errors;
use crate::error::{ApiResult, ErrorCode};
use crate::http::answers::StatusAnswer;
use crate::http::client::ClientInfo;
use crate::http::json::{JsonBody, QueryParams};
use crate::http::redirect::{check_callback, redirect};
use crate::i18n::Requested;
use crate::state::AppState;
use crate::verification::{peek, with_query, Purpose};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_password_reset))
        .routes(routes!(reset_password_link))
        .routes(routes!(reset_password))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetRequestBody {
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
    /// Where the link leads (the application's "choose a new password" page).
    #[serde(rename = "redirectTo")]
    redirect_to: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResetRequestAnswer {
    status: bool,
    message: &'static str,
}

api_errors!(RequestPasswordResetErrors, POST_JSON; InvalidRedirectUrl, InvalidEmail);

/// Mails a reset link if the address has an account. The answer is the same either way and is
/// given before the lookup, so neither its content nor its timing tells.
#[utoipa::path(post, path = "/request-password-reset", tag = "email", request_body = ResetRequestBody,
    responses((status = 200, description = "Accepted: a link is mailed if the address has an account", body = ResetRequestAnswer), RequestPasswordResetErrors))]
async fn request_password_reset(
    State(state): State<AppState>,
    language: Requested,
    JsonBody(body): JsonBody<ResetRequestBody>,
) -> ApiResult<Json<ResetRequestAnswer>> {
    if let Some(target) = &body.redirect_to {
        check_callback(&state, target, ErrorCode::InvalidRedirectUrl)?;
    }
    super::request(&state, &body.email, body.redirect_to.as_deref(), &language).await?;
    Ok(Json(ResetRequestAnswer {
        status: true,
        message: "If this email exists in our system, check your email for the reset link",
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    #[serde(rename = "callbackURL")]
    callback_url: String,
}

api_errors!(ResetLinkErrors, ANY; InvalidCallbackUrl, ValidationError);

/// The link in the mail: redirects to `callbackURL?token=<token>`, or `?error=INVALID_TOKEN`.
#[utoipa::path(get, path = "/reset-password/{token}", tag = "email",
    params(("token" = String, Path), CallbackQuery),
    responses((status = 302, description = "To callbackURL with token or error"), ResetLinkErrors))]
async fn reset_password_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    QueryParams(query): QueryParams<CallbackQuery>,
) -> ApiResult<Response> {
    check_callback(&state, &query.callback_url, ErrorCode::InvalidCallbackUrl)?;
    Ok(match peek(&state, &token, Purpose::ResetPassword).await? {
        Ok(_) => redirect(&with_query(&query.callback_url, &[("token", &token)])),
        Err(_) => redirect(&with_query(
            &query.callback_url,
            &[("error", "INVALID_TOKEN")],
        )),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetBody {
    token: String,
    #[serde(rename = "newPassword")]
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

api_errors!(ResetPasswordErrors, POST_JSON; InvalidToken, TokenExpired, PasswordTooShort, PasswordTooLong, PasswordTooWeak);

/// Sets a new password with a reset token: single use, policy applies, every session and token
/// of the user ends, and a notice goes out.
#[utoipa::path(post, path = "/reset-password", tag = "email", request_body = ResetBody,
    responses((status = 200, description = "The password is changed", body = StatusAnswer), ResetPasswordErrors))]
async fn reset_password(
    State(state): State<AppState>,
    client: ClientInfo,
    language: Requested,
    JsonBody(body): JsonBody<ResetBody>,
) -> ApiResult<Json<StatusAnswer>> {
    complete(&state, &body.token, &body.new_password, &client, &language).await?;
    Ok(Json(StatusAnswer::OK))
}
