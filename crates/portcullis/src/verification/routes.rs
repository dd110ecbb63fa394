//! Email verification and email change (better-auth shapes).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    peek_verification, send_link, send_notice, send_verification, verify_link, with_query,
    LinkError, LinkMail, Purpose,
};
use crate::api_errors;
use crate::crypto::tokens::hash_secret;
use crate::db::Context;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::answers::StatusAnswer;
use crate::http::json::{JsonBody, QueryParams};
use crate::http::redirect::{check_callback, redirect};
use crate::mail::Kind;
use crate::rate_limit::{Class, Subject};
use crate::sessions;
use crate::sessions::extract::{MaybeSession, OwnSession};
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::{store as users_store, User};

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
    JsonBody(body): JsonBody<SendVerificationBody>,
) -> ApiResult<Json<StatusAnswer>> {
    if let Some(callback) = &body.callback_url {
        check_callback(&state, callback, ErrorCode::InvalidCallbackUrl)?;
    }
    let email = Email::parse(&body.email)?;
    if let Some(auth) = &current.auth {
        if auth.user.email != email.as_str() {
            return Err(ApiError::from(ErrorCode::EmailMismatch));
        }
        if auth.user.email_verified {
            return Err(ApiError::from(ErrorCode::EmailAlreadyVerified));
        }
    }
    state
        .limits
        .check(Class::VerificationMail, Subject::Account(email.as_str()))
        .await?;
    // Answer first, then look the address up: the answer's timing says nothing about it.
    let callback = body.callback_url.clone();
    tokio::spawn(async move {
        let result = match users_store::find_by_email(&state.db, email.as_str()).await {
            Ok(Some((user, _))) if !user.email_verified => {
                send_verification(&state, &user, callback.as_deref()).await
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not send a verification mail");
        }
    });
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
    let outcome = apply_verification(&state, &query.token).await?;
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

async fn apply_verification(state: &AppState, token: &str) -> ApiResult<Result<User, LinkError>> {
    let (purpose, _) = match peek_verification(state, token).await? {
        Ok(found) => found,
        Err(error) => return Ok(Err(error)),
    };
    let now = state.clock.now_ms();
    let mut tx = state.db.begin("links: apply verification").await?;
    let Some(link) = super::store::consume(&mut tx, &hash_secret(token), purpose, now).await?
    else {
        return Ok(Err(LinkError::Invalid));
    };
    let applied = match (purpose, &link.new_email) {
        // Bound to the address it was sent to: useless once the account's address changed.
        (Purpose::VerifyEmail, _) => {
            users_store::mark_email_verified(&mut tx, &link.user_id, &link.email, now).await?
        }
        (Purpose::ChangeEmail, Some(new_email)) => {
            match users_store::switch_email(&mut tx, &link.user_id, &link.email, new_email, now)
                .await
            {
                Ok(applied) => applied,
                // Taken since the link was sent.
                Err(e) if e.is_unique_violation() => false,
                Err(e) => return Err(e.into()),
            }
        }
        _ => false,
    };
    if !applied {
        return Ok(Err(LinkError::Invalid));
    }
    tx.commit().await.context("links: apply verification")?;
    state.session_cache.forget_user(&link.user_id);
    let user = users_store::find_by_id(&state.db, &link.user_id)
        .await?
        .ok_or_else(|| ApiError::internal("verified user vanished"))?;
    Ok(Ok(user))
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
    JsonBody(body): JsonBody<ChangeEmailBody>,
) -> ApiResult<Json<StatusAnswer>> {
    if let Some(callback) = &body.callback_url {
        check_callback(&state, callback, ErrorCode::InvalidCallbackUrl)?;
    }
    let new_email = Email::parse(&body.new_email)?;
    if new_email.as_str() == auth.user.email {
        return Err(ApiError::from(ErrorCode::EmailIsTheSame));
    }
    sessions::require_fresh(&state, &auth.session)?;
    state
        .limits
        .check(Class::VerificationMail, Subject::Account(&auth.user.id))
        .await?;
    let user = auth.user;
    let callback = body.callback_url;
    // Answer first: whether the new address is taken must not show in the timing either.
    tokio::spawn(async move {
        if let Err(e) = request_change(&state, &user, new_email.as_str(), callback.as_deref()).await
        {
            tracing::error!(error = %e, "could not process an email change request");
        }
    });
    Ok(Json(StatusAnswer::OK))
}

async fn request_change(
    state: &AppState,
    user: &User,
    new_email: &str,
    callback: Option<&str>,
) -> ApiResult<()> {
    send_notice(
        state,
        Kind::ChangeEmailNotice,
        user,
        &user.email,
        Some(new_email),
    )
    .await?;
    if users_store::find_by_email(&state.db, new_email)
        .await?
        .is_some()
    {
        return Ok(());
    }
    send_link(
        state,
        LinkMail {
            purpose: Purpose::ChangeEmail,
            kind: Kind::ChangeEmailConfirm,
            user,
            to: new_email,
            new_email: Some(new_email),
            ttl: state.config.email.verification_ttl,
            link: &|token| verify_link(state, token, callback),
        },
    )
    .await
}
