//! Password reset by emailed link. The request answers the same, at once, for known and unknown
//! addresses; a completed reset ends every session and every token of the user and sends a
//! notice. A reset never bypasses a second factor: it only sets the password.

pub mod routes;

use crate::audit::{self, Event};
use crate::crypto::tokens::hash_secret;
use crate::db::Context;
use crate::error::ApiResult;
use crate::http::client::ClientInfo;
use crate::i18n::Requested;
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

pub use routes::router;

/// Mails a reset link if `raw_email` has an account (`redirect_to` already checked). Answers
/// before the lookup, so neither the answer nor its timing tells whether the address is known.
pub async fn request(
    state: &AppState,
    raw_email: &str,
    redirect_to: Option<&str>,
    language: &Requested,
) -> ApiResult<()> {
    let email = Email::parse(raw_email)?;
    state
        .limits
        .check(Class::PasswordReset, Subject::Account(email.as_str()))
        .await?;
    let state = state.clone();
    let (redirect_to, language) = (redirect_to.map(str::to_owned), language.clone());
    tokio::spawn(async move {
        let result = match users_store::find_by_email(&state.db, email.as_str()).await {
            Ok(Some((user, _))) => {
                send_reset_link(&state, &user, redirect_to.as_deref(), &language).await
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not send a password reset mail");
        }
    });
    Ok(())
}

/// Mails `user` a reset link leading to `redirect_to` (the application's page; without one, the
/// hosted reset page when the pages are on).
pub async fn send_reset_link(
    state: &AppState,
    user: &User,
    redirect_to: Option<&str>,
    language: &Requested,
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
                let page = state.config.page_path("/reset-password");
                let target = redirect_to.or(page.as_deref()).unwrap_or("/");
                with_query(&base, &[("callbackURL", target)])
            },
            language,
        },
    )
    .await
}

/// Sets a new password with a reset token: single use, policy applies, every session and token
/// of the user ends, the sign-in throttle is cleared, and a notice goes out.
pub async fn complete(
    state: &AppState,
    token: &str,
    new_password: &str,
    client: &ClientInfo,
    language: &Requested,
) -> ApiResult<()> {
    let refused = |e: LinkError| e.into_api(axum::http::StatusCode::BAD_REQUEST);
    let link = peek(state, token, Purpose::ResetPassword)
        .await?
        .map_err(refused)?;
    let user = users_store::find_by_id(&state.db, &link.user_id)
        .await?
        .filter(|user| user.email == link.email)
        .ok_or_else(|| refused(LinkError::Invalid))?;
    // Judge the password before spending the token, so a refused password can be retried.
    let password = Password::new_for(
        new_password,
        &state.config.password,
        &[&user.email, &user.name],
    )?;
    let hash = state.passwords.hash(password.as_str()).await?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin("password reset: complete").await?;
    links::consume(&mut tx, &hash_secret(token), Purpose::ResetPassword, now)
        .await?
        .ok_or_else(|| refused(LinkError::Invalid))?;
    credentials::set_password(&mut tx, &user.id, &hash, now).await?;
    tx.commit().await.context("password reset: complete")?;
    sessions::end(state, Ending::AllOfUser(&user.id)).await?;
    revocations::revoke_user(state, &user.id).await?;
    // A reset clears any sign-in throttle on the address: the owner is back in at once.
    throttle::clear(&state.db, &user.email).await?;
    audit::record(state, Event::PasswordReset, Some(&user.id), None, client).await;
    send_notice(
        state,
        Kind::PasswordChanged,
        &user,
        &user.email,
        None,
        language,
    )
    .await?;
    Ok(())
}
