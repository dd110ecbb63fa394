//! A signed-in user managing two-factor: enrolment (a pending secret and backup codes), its
//! confirmation by a first code, new backup codes, and turning it off. The API (`routes.rs`) and
//! the hosted pages call these same functions.

use super::factors::{self, Factor, Verdict};
use super::totp::{self, Authenticator};
use super::{backup_codes, store};
use crate::audit::{self, Event};
use crate::db::Context;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::sessions::{self, Authenticated, Ending};
use crate::sign_in::{self, credentials, throttle};
use crate::state::AppState;
use crate::users::User;

/// A new pending secret, for the authenticator app, and the backup codes (shown this once).
pub struct Enrolment {
    pub uri: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
    pub backup_codes: Vec<String>,
}

/// Starts setting up TOTP: a new secret and backup codes. Two-factor turns on only when a first
/// correct code confirms the secret (`confirm`).
pub async fn enable(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authenticated,
    password: Option<&str>,
    issuer: Option<&str>,
    revoke_others: bool,
) -> ApiResult<Enrolment> {
    let issuer = issuer
        .map(totp::checked_issuer)
        .transpose()
        .map_err(|reason| {
            ApiError::from(ErrorCode::InvalidIssuer).with_message(format!("Issuer {reason}"))
        })?;
    reauthenticate(state, auth, password).await?;
    let user = &auth.user;
    if user.two_factor_enabled {
        return Err(already_enabled());
    }
    let secret = totp::new_secret();
    let sealed = state.totp_sealer.seal(&secret, &user.id);
    let (codes, hashes) = new_backup_codes(state).await?;
    let mut tx = state.db.begin("two-factor: enable").await?;
    if !store::put_pending_secret(&mut tx, &user.id, &sealed, state.clock.now_ms()).await? {
        return Err(already_enabled());
    }
    store::replace_backup_codes(&mut tx, &user.id, &hashes).await?;
    tx.commit().await.context("two-factor: enable")?;
    end_other_sessions_if_asked(state, auth, revoke_others, client).await?;
    let issuer = issuer.as_deref().unwrap_or(&state.config.two_factor.issuer);
    let authenticator = Authenticator::new(secret, issuer, &user.email);
    Ok(Enrolment {
        uri: authenticator.uri(),
        qr_svg: authenticator.qr_svg(),
        backup_codes: codes,
    })
}

/// Checks a code from a signed-in user: a first right TOTP code confirms a pending secret,
/// turning two-factor on; a right backup code is used up. Answers the user as it now is.
pub async fn confirm(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authenticated,
    factor: Factor<'_>,
) -> ApiResult<User> {
    let mut user = auth.user.clone();
    throttle::begin_code_attempt(state, &user.id).await?;
    match factors::check(state, &user, factor, false, client).await? {
        Verdict::Accepted { confirmed: false } => {
            let mut tx = state.db.begin("two-factor: verify signed in").await?;
            store::confirm(&mut tx, &user.id, state.clock.now_ms()).await?;
            tx.commit().await.context("two-factor: verify signed in")?;
            state.session_cache.forget_user(&user.id);
            audit::record(
                state,
                Event::TwoFactorEnabled,
                Some(&user.id),
                Some(&auth.session.id),
                client,
            )
            .await;
            user.two_factor_enabled = true;
        }
        Verdict::Accepted { confirmed: true } => {}
        Verdict::Wrong => {
            audit::record(
                state,
                Event::TwoFactorFailed,
                Some(&user.id),
                Some(&auth.session.id),
                client,
            )
            .await;
            return Err(wrong_code(factor));
        }
        Verdict::NotSetUp => return Err(not_set_up(factor)),
    }
    Ok(user)
}

/// Replaces the user's backup codes with a new set of ten, answered for display.
pub async fn regenerate_backup_codes(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authenticated,
    password: Option<&str>,
    revoke_others: bool,
) -> ApiResult<Vec<String>> {
    if !auth.user.two_factor_enabled {
        return Err(not_enabled());
    }
    reauthenticate(state, auth, password).await?;
    let (codes, hashes) = new_backup_codes(state).await?;
    let mut tx = state.db.begin("two-factor: generate backup codes").await?;
    store::replace_backup_codes(&mut tx, &auth.user.id, &hashes).await?;
    tx.commit()
        .await
        .context("two-factor: generate backup codes")?;
    audit::record(
        state,
        Event::BackupCodesGenerated,
        Some(&auth.user.id),
        Some(&auth.session.id),
        client,
    )
    .await;
    end_other_sessions_if_asked(state, auth, revoke_others, client).await?;
    Ok(codes)
}

/// Turns two-factor off (or cancels a pending `enable`) and ends the trust of every device (the
/// caller clears this browser's trusted-device cookie).
pub async fn disable(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authenticated,
    password: Option<&str>,
    revoke_others: bool,
) -> ApiResult<()> {
    reauthenticate(state, auth, password).await?;
    let mut tx = state.db.begin("two-factor: disable").await?;
    if !store::remove(&mut tx, &auth.user.id, state.clock.now_ms()).await? {
        return Err(not_enabled());
    }
    sign_in::store::forget_user(&mut tx, &auth.user.id).await?;
    tx.commit().await.context("two-factor: disable")?;
    state.session_cache.forget_user(&auth.user.id);
    audit::record(
        state,
        Event::TwoFactorDisabled,
        Some(&auth.user.id),
        Some(&auth.session.id),
        client,
    )
    .await;
    end_other_sessions_if_asked(state, auth, revoke_others, client).await
}

/// Changing two-factor needs the password and a recent sign-in (ASVS 7.5.1).
pub async fn reauthenticate(
    state: &AppState,
    auth: &Authenticated,
    password: Option<&str>,
) -> ApiResult<()> {
    sessions::require_fresh(state, &auth.session)?;
    credentials::confirm_password(state, &auth.user.id, password.unwrap_or_default()).await
}

/// Ten new codes for display, and their hashes for storage.
async fn new_backup_codes(state: &AppState) -> ApiResult<(Vec<String>, Vec<String>)> {
    let codes = backup_codes::generate();
    let normalized: Vec<String> = codes
        .iter()
        .filter_map(|c| backup_codes::normalized(c))
        .collect();
    let hashes = state.passwords.hash_with_shared_salt(&normalized).await?;
    Ok((codes, hashes))
}

async fn end_other_sessions_if_asked(
    state: &AppState,
    auth: &Authenticated,
    asked: bool,
    client: &ClientInfo,
) -> ApiResult<()> {
    if !asked {
        return Ok(());
    }
    let keep = &auth.session.id;
    sessions::end(
        state,
        Ending::OthersOfUser {
            user_id: &auth.user.id,
            keep,
        },
    )
    .await?;
    audit::record(
        state,
        Event::SessionsRevoked,
        Some(&auth.user.id),
        Some(keep),
        client,
    )
    .await;
    Ok(())
}

/// The refusal of a wrong code, by factor.
pub fn wrong_code(factor: Factor<'_>) -> ApiError {
    match factor {
        Factor::Totp(_) => ApiError::from(ErrorCode::InvalidCode),
        Factor::BackupCode(_) => ApiError::from(ErrorCode::InvalidBackupCode),
    }
}

/// The refusal of a factor that is not set up.
pub fn not_set_up(factor: Factor<'_>) -> ApiError {
    match factor {
        Factor::Totp(_) => ApiError::from(ErrorCode::TotpNotEnabled),
        Factor::BackupCode(_) => ApiError::from(ErrorCode::BackupCodesNotEnabled),
    }
}

fn not_enabled() -> ApiError {
    ApiError::from(ErrorCode::TwoFactorNotEnabled)
}

fn already_enabled() -> ApiError {
    ApiError::from(ErrorCode::TotpAlreadyEnabled)
}
