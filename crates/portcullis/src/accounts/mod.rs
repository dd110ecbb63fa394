//! Accounts: sign-up with email and password, profile updates, password change and account
//! deletion (the endpoints a signed-up user manages their account with). The rules live here, so
//! the API (`routes.rs`) and the hosted pages call the same functions.

pub mod routes;

use crate::audit::{self, Event};
use crate::crypto::tokens::random_id;
use crate::db::Context;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::timestamp::Timestamp;
use crate::i18n::Requested;
use crate::mail::Kind;
use crate::sessions::{self, Authenticated, Ending, Session};
use crate::sign_in::credentials;
use crate::sign_in::start::{self, Method, Outcome, SecondFactor, SignIn, Started};
use crate::sign_in::Channel;
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::password_policy::Password;
use crate::users::profile::{checked_image, checked_name};
use crate::users::{store, User};
use crate::verification;

pub use routes::router;

/// What a sign-up asks for (the callback already checked by the caller).
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub image: Option<&'a str>,
    /// Where the verification link leads.
    pub callback: Option<&'a str>,
    pub remember_me: bool,
    /// The language of the mail a sign-up sends.
    pub language: &'a Requested,
}

pub enum SignedUp {
    /// Signed in at once.
    Started(Box<Started>),
    /// `email.require_verification`: no session until the address is verified. A taken address
    /// gets this same answer (its owner a notice instead).
    AwaitingVerification(User),
}

/// Creates an account and signs it in (or mails the verification first).
pub async fn sign_up(
    state: &AppState,
    client: &ClientInfo,
    new: NewAccount<'_>,
) -> ApiResult<SignedUp> {
    let email = Email::parse(new.email)?;
    let name = checked_name(new.name)?;
    let image = checked_image(new.image)?;
    let password = Password::new_for(
        new.password,
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
    if state.config.email.require_verification {
        // No session until the address is verified, and the same answer for a taken address
        // (whose owner gets a notice instead): sign-up reveals nothing about who has an account.
        // Timing too: both paths make one durable write before answering (the new user, or an
        // audit record of the attempt) and send their mail afterwards.
        if taken {
            audit::record(state, Event::SignUpWithTakenEmail, None, None, client).await;
        }
        let background = state.clone();
        let (user_for_mail, callback) = (user.clone(), new.callback.map(str::to_owned));
        let (client, language) = (client.clone(), new.language.clone());
        tokio::spawn(async move {
            let state = background;
            let sent = if taken {
                notify_existing_owner(&state, &user_for_mail.email, &language).await
            } else {
                audit::record(
                    &state,
                    Event::SignUp,
                    Some(&user_for_mail.id),
                    None,
                    &client,
                )
                .await;
                let callback = callback.as_deref();
                verification::send_verification(&state, &user_for_mail, callback, &language).await
            };
            if let Err(e) = sent {
                tracing::error!(error = %e, "could not send a sign-up mail");
            }
        });
        return Ok(SignedUp::AwaitingVerification(user));
    }
    if taken {
        return Err(ApiError::from(ErrorCode::UserAlreadyExistsUseAnotherEmail));
    }
    if state.config.email.send_on_sign_up {
        verification::send_verification(state, &user, new.callback, new.language).await?;
    }
    let sign_in = SignIn {
        user,
        method: Method::SignUp,
        channel: Channel::Cookie,
        persistent: new.remember_me,
        client,
        second_factor: SecondFactor::NotShown {
            trusted_device: None,
        },
    };
    let Outcome::Started(started) = start::start(state, sign_in).await? else {
        return Err(ApiError::internal(
            "a new account asked for a second factor",
        ));
    };
    Ok(SignedUp::Started(started))
}

/// Tells the owner of an address that someone tried to sign up with it.
async fn notify_existing_owner(
    state: &AppState,
    email: &str,
    language: &Requested,
) -> ApiResult<()> {
    if let Some((owner, _)) = store::find_by_email(&state.db, email).await? {
        let (kind, to) = (Kind::SignUpExisting, &owner.email);
        verification::send_notice(state, kind, &owner, to, None, language).await?;
    }
    Ok(())
}

/// Updates the name and (`Some(None)`: removes) the image.
pub async fn update_profile(
    state: &AppState,
    user_id: &str,
    name: Option<&str>,
    image: Option<Option<&str>>,
) -> ApiResult<()> {
    if name.is_none() && image.is_none() {
        return Err(ApiError::from(ErrorCode::NoFieldsToUpdate));
    }
    let name = name.map(checked_name).transpose()?;
    let image = image.map(checked_image).transpose()?;
    store::update_profile(
        &state.db,
        user_id,
        name.as_deref(),
        image.as_ref().map(|i| i.as_deref()),
        state.clock.now_ms(),
    )
    .await?;
    state.session_cache.forget_user(user_id);
    Ok(())
}

/// Changes the password (the current one required). With `revoke_others` every session ends,
/// this one too, and this device gets a brand-new session, answered here.
pub async fn change_password(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authenticated,
    current_password: &str,
    new_password: &str,
    revoke_others: bool,
) -> ApiResult<Option<(String, Session)>> {
    let user = &auth.user;
    let new_password = Password::new_for(
        new_password,
        &state.config.password,
        &[&user.email, &user.name],
    )?;
    credentials::confirm_password(state, &user.id, current_password).await?;
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
        state,
        Event::PasswordChanged,
        Some(&user.id),
        Some(&auth.session.id),
        client,
    )
    .await;
    if !revoke_others {
        return Ok(None);
    }
    sessions::end(state, Ending::AllOfUser(&user.id)).await?;
    let fresh = sessions::start(state, &user.id, auth.session.persistent, client).await?;
    Ok(Some(fresh))
}
