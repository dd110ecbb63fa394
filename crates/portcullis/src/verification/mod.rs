//! Emailed one-time links: email verification, email change confirmation, password reset.
//!
//! A link carries a 256-bit random token, stored only as its SHA-256, bound to one purpose, one
//! user and one address, expiring, and consumed atomically (single use). The token row and the
//! mail that carries it are written in one transaction.

pub mod routes;
pub mod settings;
pub mod store;

use std::time::Duration;

use crate::crypto::tokens::{hash_secret, random_secret};
use crate::db::{millis, Context as _};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::i18n::Requested;
use crate::mail::{self, Context, Kind};
use crate::rate_limit::{Class, Subject};
use crate::sessions::{self, Authenticated};
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::{store as users_store, User};

pub use routes::router;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::ChangeEmail => "change_email",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LinkToken {
    pub user_id: String,
    pub email: String,
    pub new_email: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Why a link did not work; the user is told which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Invalid,
    Expired,
}

impl LinkError {
    pub fn code(self) -> ErrorCode {
        match self {
            LinkError::Invalid => ErrorCode::InvalidToken,
            LinkError::Expired => ErrorCode::TokenExpired,
        }
    }

    /// The error answer, with the status the endpoint answers it with.
    pub fn into_api(self, status: axum::http::StatusCode) -> ApiError {
        ApiError::from(self.code()).with_status(status)
    }
}

/// A mail with a link: what to send, to whom, about whom.
pub struct LinkMail<'a> {
    pub purpose: Purpose,
    pub kind: Kind,
    pub user: &'a User,
    /// The address the mail goes to (the new one for an email change).
    pub to: &'a str,
    pub new_email: Option<&'a str>,
    pub ttl: Duration,
    /// Builds the link from the token (always on the configured base URL).
    pub link: &'a (dyn Fn(&str) -> String + Sync),
    /// The language preferences of the request that causes the mail.
    pub language: &'a Requested,
}

/// Creates a link token and queues its mail, in one transaction.
pub async fn send_link(state: &AppState, mail: LinkMail<'_>) -> ApiResult<()> {
    let token = random_secret();
    let now = state.clock.now_ms();
    let link = (mail.link)(&token);
    let message = state
        .mailer
        .compose(
            mail.kind,
            mail.to,
            &Context {
                product: &state.config.mail.product_name,
                name: &mail.user.name,
                email: &mail.user.email,
                new_email: mail.new_email,
                link: Some(&link),
                expires_in: Some(mail::human_duration(mail.ttl)),
                organization: None,
                inviter: None,
                code: None,
            },
            mail.language,
        )
        .map_err(ApiError::internal)?;
    let token_hash = hash_secret(&token);
    let mut tx = state.db.begin("links: send link").await?;
    store::insert(
        &mut tx,
        &store::NewLink {
            token_hash: &token_hash,
            purpose: mail.purpose,
            user_id: &mail.user.id,
            email: &mail.user.email,
            new_email: mail.new_email,
            now,
            expires_at: now + millis(mail.ttl),
        },
    )
    .await?;
    state.mailer.enqueue(&mut tx, &message).await?;
    tx.commit().await.context("links: send link")?;
    state.mailer.wake();
    Ok(())
}

/// Queues a plain notice (no link), in the language `language` asks for.
pub async fn send_notice(
    state: &AppState,
    kind: Kind,
    user: &User,
    to: &str,
    new_email: Option<&str>,
    language: &Requested,
) -> ApiResult<()> {
    let message = state
        .mailer
        .compose(
            kind,
            to,
            &Context {
                product: &state.config.mail.product_name,
                name: &user.name,
                email: &user.email,
                new_email,
                link: None,
                expires_in: None,
                organization: None,
                inviter: None,
                code: None,
            },
            language,
        )
        .map_err(ApiError::internal)?;
    let mut conn = state
        .db
        .pool
        .acquire()
        .await
        .context("links: send notice")?;
    state.mailer.enqueue(&mut conn, &message).await?;
    state.mailer.wake();
    Ok(())
}

/// Checks a presented token without using it up: the link it belongs to, or why it fails.
pub async fn peek(
    state: &AppState,
    token: &str,
    purpose: Purpose,
) -> ApiResult<Result<LinkToken, LinkError>> {
    let found = store::find(&state.db, &hash_secret(token), purpose).await?;
    Ok(match found {
        None => Err(LinkError::Invalid),
        Some(link) if link.used_at.is_some() => Err(LinkError::Invalid),
        Some(link) if link.expires_at <= state.clock.now_ms() => Err(LinkError::Expired),
        Some(link) => Ok(link),
    })
}

/// The link a verify-email URL belongs to: an address verification or an email change.
pub async fn peek_verification(
    state: &AppState,
    token: &str,
) -> ApiResult<Result<(Purpose, LinkToken), LinkError>> {
    let verify = peek(state, token, Purpose::VerifyEmail).await?;
    if let Ok(link) = verify {
        return Ok(Ok((Purpose::VerifyEmail, link)));
    }
    Ok(match peek(state, token, Purpose::ChangeEmail).await? {
        Ok(link) => Ok((Purpose::ChangeEmail, link)),
        Err(LinkError::Expired) => Err(LinkError::Expired),
        Err(LinkError::Invalid) => verify.map(|link| (Purpose::VerifyEmail, link)),
    })
}

/// The verify-email link for `token`, on the configured base URL (never the request's Host).
/// Without a callback of the application's, the link leads to the hosted result page (when the
/// pages are on), which shows whether it worked.
pub fn verify_link(state: &AppState, token: &str, callback: Option<&str>) -> String {
    let page = state
        .config
        .page_path("/verify-email")
        .map(|page| with_query(&page, &[("status", "verified")]));
    let callback = callback.or(page.as_deref());
    let base = format!("{}/api/auth/verify-email", state.config.issuer());
    with_query(
        &base,
        &[("token", token), ("callbackURL", callback.unwrap_or("/"))],
    )
}

/// Asks for a verification mail to `raw_email` (`callback` already checked). From a signed-in
/// user the address must be theirs and unverified; otherwise the answer comes before the lookup,
/// so neither it nor its timing says whether the address has an account.
pub async fn request_verification(
    state: &AppState,
    raw_email: &str,
    signed_in: Option<&User>,
    callback: Option<&str>,
    language: &Requested,
) -> ApiResult<()> {
    let email = Email::parse(raw_email)?;
    if let Some(user) = signed_in {
        if user.email != email.as_str() {
            return Err(ApiError::from(ErrorCode::EmailMismatch));
        }
        if user.email_verified {
            return Err(ApiError::from(ErrorCode::EmailAlreadyVerified));
        }
    }
    state
        .limits
        .check(Class::VerificationMail, Subject::Account(email.as_str()))
        .await?;
    let (state, callback) = (state.clone(), callback.map(str::to_owned));
    let language = language.clone();
    tokio::spawn(async move {
        let result = match users_store::find_by_email(&state.db, email.as_str()).await {
            Ok(Some((user, _))) if !user.email_verified => {
                send_verification(&state, &user, callback.as_deref(), &language).await
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not send a verification mail");
        }
    });
    Ok(())
}

/// Sends (or re-sends) an address verification mail; what the answer says never depends on
/// whether the address has an account.
pub async fn send_verification(
    state: &AppState,
    user: &User,
    callback: Option<&str>,
    language: &Requested,
) -> ApiResult<()> {
    send_link(
        state,
        LinkMail {
            purpose: Purpose::VerifyEmail,
            kind: Kind::VerifyEmail,
            user,
            to: &user.email,
            new_email: None,
            ttl: state.config.email.verification_ttl,
            link: &|token| verify_link(state, token, callback),
            language,
        },
    )
    .await
}

pub use crate::http::redirect::with_query;

/// Applies a verification or email-change link: the address is verified (or switched to the
/// new one) and the user answered, or why the link did not work.
pub async fn apply_verification(
    state: &AppState,
    token: &str,
) -> ApiResult<Result<User, LinkError>> {
    let (purpose, _) = match peek_verification(state, token).await? {
        Ok(found) => found,
        Err(error) => return Ok(Err(error)),
    };
    let now = state.clock.now_ms();
    let mut tx = state.db.begin("links: apply verification").await?;
    let Some(link) = store::consume(&mut tx, &hash_secret(token), purpose, now).await? else {
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

/// Asks to change the account's email: a confirmation link goes to the new address and a notice
/// to the old one; the address changes only when the link is opened. Needs a recent sign-in. A
/// taken address gets exactly the same answer as a free one (the work happens after it).
pub async fn change_email(
    state: &AppState,
    auth: &Authenticated,
    new_email: &str,
    callback: Option<&str>,
    language: &Requested,
) -> ApiResult<()> {
    let new_email = Email::parse(new_email)?;
    if new_email.as_str() == auth.user.email {
        return Err(ApiError::from(ErrorCode::EmailIsTheSame));
    }
    sessions::require_fresh(state, &auth.session)?;
    state
        .limits
        .check(Class::VerificationMail, Subject::Account(&auth.user.id))
        .await?;
    let (state, user) = (state.clone(), auth.user.clone());
    let (callback, language) = (callback.map(str::to_owned), language.clone());
    // Answer first: whether the new address is taken must not show in the timing either.
    tokio::spawn(async move {
        let change = request_change(
            &state,
            &user,
            new_email.as_str(),
            callback.as_deref(),
            &language,
        );
        if let Err(e) = change.await {
            tracing::error!(error = %e, "could not process an email change request");
        }
    });
    Ok(())
}

async fn request_change(
    state: &AppState,
    user: &User,
    new_email: &str,
    callback: Option<&str>,
    language: &Requested,
) -> ApiResult<()> {
    send_notice(
        state,
        Kind::ChangeEmailNotice,
        user,
        &user.email,
        Some(new_email),
        language,
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
            language,
        },
    )
    .await
}
