//! Account endpoints of the better-auth protocol: sign-up with email and password, profile
//! updates, password change, account deletion.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api_errors;
use crate::audit::{self, Event};
use crate::crypto::tokens::random_id;
use crate::db::Context;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::answers::StatusAnswer;
use crate::http::client::ClientInfo;
use crate::http::json::JsonBody;
use crate::http::redirect::check_callback;
use crate::http::timestamp::Timestamp;
use crate::mail::Kind;
use crate::revocations;
use crate::sessions::extract::{CurrentSession, OwnSession};
use crate::sessions::{self, Ending};
use crate::sign_in::start::{self, Method, Outcome, SecondFactor, SignIn};
use crate::sign_in::Channel;
use crate::sign_in::{credentials, TokenAndUser};
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::password_policy::Password;
use crate::users::profile::{checked_image, checked_name};
use crate::users::{store, User};
use crate::verification;

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
    JsonBody(body): JsonBody<SignUpBody>,
) -> ApiResult<Response> {
    if let Some(callback) = &body.callback_url {
        check_callback(&state, callback, ErrorCode::InvalidCallbackUrl)?;
    }
    let email = Email::parse(&body.email)?;
    let name = checked_name(&body.name)?;
    let image = checked_image(body.image.as_deref())?;
    let password = Password::new_for(
        &body.password,
        &state.config.password,
        &[email.as_str(), &name],
    )?;
    // Hash before touching the database: a taken email costs the same time as a free one.
    let hash = state.passwords.hash(password.as_str()).await?;
    let now = Timestamp(state.clock.now_ms());
    let user = User {
        id: random_id(),
        name,
        email: email.as_str().to_owned(),
        email_verified: false,
        image,
        role: "user".to_owned(),
        two_factor_enabled: false,
        created_at: now,
        updated_at: now,
        banned: false,
        ban_reason: None,
        ban_expires: None,
    };
    // Look first, so that a taken and a free address do the same work (one read, one write);
    // the unique constraint still decides between concurrent sign-ups of one address.
    let taken = store::find_by_email(&state.db, &user.email)
        .await?
        .is_some()
        || match store::insert(&state.db, &user, Some(&hash)).await {
            Ok(()) => false,
            Err(e) if e.is_unique_violation() => true,
            Err(e) => return Err(e.into()),
        };
    let callback = body.callback_url.as_deref();
    if state.config.email.require_verification {
        // No session until the address is verified, and the same answer for a taken address
        // (whose owner gets a notice instead): sign-up reveals nothing about who has an account.
        // Timing too: both paths make one durable write before answering (the new user, or an
        // audit record of the attempt) and send their mail afterwards.
        if taken {
            audit::record(&state, Event::SignUpWithTakenEmail, None, None, &client).await;
        }
        let background = state.clone();
        let (user_for_mail, callback) = (user.clone(), body.callback_url.clone());
        tokio::spawn(async move {
            let state = background;
            let sent = if taken {
                notify_existing_owner(&state, &user_for_mail.email).await
            } else {
                audit::record(
                    &state,
                    Event::SignUp,
                    Some(&user_for_mail.id),
                    None,
                    &client,
                )
                .await;
                verification::send_verification(&state, &user_for_mail, callback.as_deref()).await
            };
            if let Err(e) = sent {
                tracing::error!(error = %e, "could not send a sign-up mail");
            }
        });
        return Ok(Json(TokenAndUser { token: None, user }).into_response());
    }
    if taken {
        return Err(ApiError::from(ErrorCode::UserAlreadyExistsUseAnotherEmail));
    }
    if state.config.email.send_on_sign_up {
        verification::send_verification(&state, &user, callback).await?;
    }
    let sign_in = SignIn {
        user,
        method: Method::SignUp,
        channel: Channel::Cookie,
        persistent: body.remember_me != Some(false),
        client: &client,
        second_factor: SecondFactor::NotShown {
            trusted_device: None,
        },
    };
    let Outcome::Started(started) = start::start(&state, sign_in).await? else {
        return Err(ApiError::internal(
            "a new account asked for a second factor",
        ));
    };
    let mut response = Json(TokenAndUser {
        token: Some(started.token.clone()),
        user: started.user.clone(),
    })
    .into_response();
    started.set_cookies(&state, response.headers_mut());
    Ok(response)
}

/// Tells the owner of an address that someone tried to sign up with it.
async fn notify_existing_owner(state: &AppState, email: &str) -> ApiResult<()> {
    if let Some((owner, _)) = store::find_by_email(&state.db, email).await? {
        verification::send_notice(state, Kind::SignUpExisting, &owner, &owner.email, None).await?;
    }
    Ok(())
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
    if body.name.is_none() && body.image.is_none() {
        return Err(ApiError::from(ErrorCode::NoFieldsToUpdate));
    }
    let name = body.name.as_deref().map(checked_name).transpose()?;
    let image = body
        .image
        .as_ref()
        .map(|image| checked_image(image.as_deref()))
        .transpose()?;
    store::update_profile(
        &state.db,
        &auth.user.id,
        name.as_deref(),
        image.as_ref().map(|i| i.as_deref()),
        state.clock.now_ms(),
    )
    .await?;
    state.session_cache.forget_user(&auth.user.id);
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
    let user = &auth.user;
    let new_password = Password::new_for(
        &body.new_password,
        &state.config.password,
        &[&user.email, &user.name],
    )?;
    credentials::confirm_password(&state, &user.id, &body.current_password).await?;
    let hash = state.passwords.hash(new_password.as_str()).await?;
    credentials::set_password(
        &mut *state
            .db
            .pool
            .acquire()
            .await
            .context("accounts: change password")?,
        &user.id,
        &hash,
        state.clock.now_ms(),
    )
    .await?;
    audit::record(
        &state,
        Event::PasswordChanged,
        Some(&user.id),
        Some(&auth.session.id),
        &client,
    )
    .await;
    if body.revoke_other_sessions != Some(true) {
        return Ok(Json(TokenAndUser {
            token: None,
            user: user.clone(),
        })
        .into_response());
    }
    // Every session ends, this one too, and this device gets a brand-new token.
    sessions::end(&state, Ending::AllOfUser(&user.id)).await?;
    let (token, session) =
        sessions::start(&state, &user.id, auth.session.persistent, &client).await?;
    let cookie = sessions::cookie_for(&state, &token, &session);
    Ok((
        [(SET_COOKIE, cookie)],
        Json(TokenAndUser {
            token: Some(token),
            user: user.clone(),
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
    store::delete(&state.db, &auth.user.id).await?;
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
