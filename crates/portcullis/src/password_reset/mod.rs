//! Password reset by emailed link (better-auth shapes). The request answers the same, at once,
//! for known and unknown addresses; a completed reset ends every session and every token of the
//! user and sends a notice. A reset never bypasses a second factor: it only sets the password.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Event};
use crate::crypto::tokens::hash_secret;

use crate::error::{ApiResult, ErrorBody};
use crate::http::answers::StatusAnswer;
use crate::http::client::ClientInfo;
use crate::http::json::{JsonBody, QueryParams};
use crate::http::redirect::{check_callback, redirect};
use crate::mail::Kind;
use crate::rate_limit::{Class, Subject};
use crate::revocations;
use crate::sessions::{self, Ending};
use crate::sign_in::{credentials, throttle};
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::password_policy::Password;
use crate::users::{store as users_store, User};
use crate::verification::{
    peek, send_link, send_notice, store as links, with_query, LinkError, LinkMail, Purpose,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_password_reset))
        .routes(routes!(reset_password_link))
        .routes(routes!(reset_password))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetRequestBody {
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

/// Mails a reset link if the address has an account. The answer is the same either way and is
/// given before the lookup, so neither its content nor its timing tells.
#[utoipa::path(post, path = "/request-password-reset", tag = "email", request_body = ResetRequestBody,
    responses((status = 200, body = ResetRequestAnswer), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn request_password_reset(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ResetRequestBody>,
) -> ApiResult<Json<ResetRequestAnswer>> {
    if let Some(target) = &body.redirect_to {
        check_callback(&state, target, "INVALID_REDIRECT_URL")?;
    }
    let email = Email::parse(&body.email)?;
    state
        .limits
        .check(Class::PasswordReset, Subject::Account(email.as_str()))
        .await?;
    let redirect_to = body.redirect_to;
    tokio::spawn(async move {
        let result = match users_store::find_by_email(&state.db, email.as_str()).await {
            Ok(Some((user, _))) => send_reset_link(&state, &user, redirect_to.as_deref()).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not send a password reset mail");
        }
    });
    Ok(Json(ResetRequestAnswer {
        status: true,
        message: "If this email exists in our system, check your email for the reset link",
    }))
}

async fn send_reset_link(
    state: &AppState,
    user: &User,
    redirect_to: Option<&str>,
) -> ApiResult<()> {
    send_link(
        state,
        LinkMail {
            purpose: Purpose::ResetPassword,
            kind: Kind::ResetPassword,
            user,
            to: &user.email,
            new_email: None,
            ttl: state.config.email.reset_ttl,
            link: &|token| {
                let base = format!("{}/api/auth/reset-password/{token}", state.config.issuer());
                with_query(&base, &[("callbackURL", redirect_to.unwrap_or("/"))])
            },
        },
    )
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    #[serde(rename = "callbackURL")]
    callback_url: String,
}

/// The link in the mail: redirects to `callbackURL?token=<token>`, or `?error=INVALID_TOKEN`.
#[utoipa::path(get, path = "/reset-password/{token}", tag = "email",
    params(("token" = String, Path), CallbackQuery),
    responses((status = 302, description = "To callbackURL with token or error"), (status = 403, body = ErrorBody)))]
async fn reset_password_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    QueryParams(query): QueryParams<CallbackQuery>,
) -> ApiResult<Response> {
    check_callback(&state, &query.callback_url, "INVALID_CALLBACK_URL")?;
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
    new_password: String,
}

/// Sets a new password with a reset token: single use, policy applies, every session and token
/// of the user ends, and a notice goes out.
#[utoipa::path(post, path = "/reset-password", tag = "email", request_body = ResetBody,
    responses((status = 200, body = StatusAnswer), (status = 400, description = "INVALID_TOKEN, TOKEN_EXPIRED or a policy refusal", body = ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    client: ClientInfo,
    JsonBody(body): JsonBody<ResetBody>,
) -> ApiResult<Json<StatusAnswer>> {
    let refused = |e: LinkError| e.into_api(axum::http::StatusCode::BAD_REQUEST);
    let link = peek(&state, &body.token, Purpose::ResetPassword)
        .await?
        .map_err(refused)?;
    let user = users_store::find_by_id(&state.db, &link.user_id)
        .await?
        .filter(|user| user.email == link.email)
        .ok_or_else(|| refused(LinkError::Invalid))?;
    // Judge the password before spending the token, so a refused password can be retried.
    let password = Password::new_for(
        &body.new_password,
        &state.config.password,
        &[&user.email, &user.name],
    )?;
    let hash = state.passwords.hash(password.as_str()).await?;
    let now = state.clock.now_ms();
    let mut tx = state.db.pool.begin().await?;
    links::consume(
        &mut tx,
        &hash_secret(&body.token),
        Purpose::ResetPassword,
        now,
    )
    .await?
    .ok_or_else(|| refused(LinkError::Invalid))?;
    credentials::set_password(&mut tx, &user.id, &hash, now).await?;
    tx.commit().await?;
    sessions::end(&state, Ending::AllOfUser(&user.id)).await?;
    revocations::revoke_user(&state, &user.id).await?;
    // A reset clears any sign-in throttle on the address: the owner is back in at once.
    throttle::clear(&state.db, &user.email).await?;
    audit::record(&state, Event::PasswordReset, Some(&user.id), None, &client).await;
    send_notice(&state, Kind::PasswordChanged, &user, &user.email, None).await?;
    Ok(Json(StatusAnswer::OK))
}
