//! Account endpoints of the better-auth protocol: sign-up with email and password, profile
//! updates, password change, account deletion.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{NewAccount, SignedUp};
use crate::api_errors;
use crate::audit::{self, Event};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::answers::StatusAnswer;
use crate::http::client::ClientInfo;
use crate::http::json::JsonBody;
use crate::http::redirect::check_callback;
use crate::i18n::Requested;
use crate::organizations;
use crate::revocations;
use crate::sessions::extract::{CurrentSession, OwnSession};
use crate::sessions::{self, Ending};
use crate::sign_in::{credentials, TokenAndUser};
use crate::state::AppState;
use crate::users::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(update_user))
        .routes(routes!(change_password))
        .routes(routes!(delete_user))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignUpBody {
    #[schema(min_length = 1, max_length = 256)]
    name: String,
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    #[schema(max_length = 2048)]
    image: Option<String>,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    /// `false`: a browser-session cookie and a short server lifetime.
    remember_me: Option<bool>,
}

api_errors!(SignUpErrors, POST_JSON; InvalidCallbackUrl, InvalidEmail, InvalidName, InvalidImage, PasswordTooShort, PasswordTooLong, PasswordTooWeak, UserAlreadyExistsUseAnotherEmail);

/// Creates an account and signs it in.
#[utoipa::path(post, path = "/sign-up/email", tag = "accounts", request_body = SignUpBody,
    responses((status = 200, description = "The new account, signed in", body = TokenAndUser), SignUpErrors))]
async fn sign_up(
    State(state): State<AppState>,
    client: ClientInfo,
    language: Requested,
    JsonBody(body): JsonBody<SignUpBody>,
) -> ApiResult<Response> {
    if let Some(callback) = &body.callback_url {
        check_callback(&state, callback, ErrorCode::InvalidCallbackUrl)?;
    }
    let new = NewAccount {
        name: &body.name,
        email: &body.email,
        password: &body.password,
        image: body.image.as_deref(),
        callback: body.callback_url.as_deref(),
        remember_me: body.remember_me != Some(false),
        language: &language,
    };
    let started = match super::sign_up(&state, &client, new).await? {
        SignedUp::Started(started) => started,
        SignedUp::AwaitingVerification(user) => {
            return Ok(Json(TokenAndUser { token: None, user }).into_response())
        }
    };
    let mut response = Json(TokenAndUser {
        token: Some(started.token.clone()),
        user: started.user.clone(),
    })
    .into_response();
    started.set_cookies(&state, response.headers_mut());
    Ok(response)
}

/// Accepts a field that may be absent, `null` or a value, keeping the three apart.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateUserBody {
    #[schema(min_length = 1, max_length = 256)]
    name: Option<String>,
    /// A URL, or `null` to remove the image.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    image: Option<Option<String>>,
    /// Refused: the email changes only through a confirmed email change.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    email: Option<serde_json::Value>,
}

api_errors!(UpdateUserErrors, POST_JSON; Unauthorized, EmailCanNotBeUpdated, NoFieldsToUpdate, InvalidName, InvalidImage);

/// Updates the user's name and image. Other fields (`emailVerified`, `role`, ...) are ignored.
#[utoipa::path(post, path = "/update-user", tag = "accounts", request_body = UpdateUserBody,
    responses((status = 200, description = "Updated", body = StatusAnswer), UpdateUserErrors))]
async fn update_user(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<UpdateUserBody>,
) -> ApiResult<Json<StatusAnswer>> {
    if body.email.is_some() {
        return Err(ApiError::from(ErrorCode::EmailCanNotBeUpdated));
    }
    let image = body.image.as_ref().map(|image| image.as_deref());
    super::update_profile(&state, &auth.user.id, body.name.as_deref(), image).await?;
    Ok(Json(StatusAnswer::OK))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordBody {
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
    #[schema(max_length = 128)]
    current_password: String,
    /// End every other session and start a fresh one for this device.
    revoke_other_sessions: Option<bool>,
}

api_errors!(ChangePasswordErrors, POST_JSON; Unauthorized, ImpersonationRestricted, InvalidPassword, CredentialAccountNotFound, PasswordTooShort, PasswordTooLong, PasswordTooWeak);

/// Changes the password; the current one is required.
#[utoipa::path(post, path = "/change-password", tag = "accounts", request_body = ChangePasswordBody,
    responses((status = 200, description = "`token` is the new session's when other sessions were revoked", body = TokenAndUser), ChangePasswordErrors))]
async fn change_password(
    State(state): State<AppState>,
    client: ClientInfo,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<ChangePasswordBody>,
) -> ApiResult<Response> {
    let fresh = super::change_password(
        &state,
        &client,
        &auth,
        &body.current_password,
        &body.new_password,
        body.revoke_other_sessions == Some(true),
    )
    .await?;
    let user = auth.user.clone();
    let Some((token, session)) = fresh else {
        return Ok(Json(TokenAndUser { token: None, user }).into_response());
    };
    let cookie = sessions::cookie_for(&state, &token, &session);
    Ok((
        [(SET_COOKIE, cookie)],
        Json(TokenAndUser {
            token: Some(token),
            user,
        }),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeleteUserBody {
    /// The account's password, to confirm.
    #[schema(max_length = 128)]
    password: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeleteAnswer {
    success: bool,
    message: String,
}

api_errors!(DeleteUserErrors, POST_JSON; Unauthorized, ImpersonationRestricted, InvalidPassword, CredentialAccountNotFound, PasswordTooLong);

/// Deletes the account and ends all its sessions. The password confirms it.
#[utoipa::path(post, path = "/delete-user", tag = "accounts", request_body = DeleteUserBody,
    responses((status = 200, description = "The account is deleted", body = DeleteAnswer), DeleteUserErrors))]
async fn delete_user(
    State(state): State<AppState>,
    client: ClientInfo,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<DeleteUserBody>,
) -> ApiResult<Response> {
    let password = body.password.as_deref().unwrap_or_default();
    credentials::confirm_password(&state, &auth.user.id, password).await?;
    sessions::end(&state, Ending::AllOfUser(&auth.user.id)).await?;
    revocations::revoke_user(&state, &auth.user.id).await?;
    let memberships = organizations::members::ended_by_deletion(&state, &auth.user.id).await?;
    store::delete(&state.db, &auth.user.id).await?;
    memberships.record(&state, "", &client).await;
    audit::record(
        &state,
        Event::UserDeleted,
        Some(&auth.user.id),
        None,
        &client,
    )
    .await;
    let answer = DeleteAnswer {
        success: true,
        message: "User deleted".to_owned(),
    };
    Ok(([(SET_COOKIE, state.session_cookie.clear())], Json(answer)).into_response())
}
