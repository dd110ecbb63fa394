//! Checking a second factor (a TOTP code or a backup code) for a user, whether it completes a
//! sign-in challenge or comes from a signed-in user (confirming a new secret, testing a code).

use super::backup_codes;
use super::store;
use super::totp::{self, Authenticator};
use crate::audit::{self, Event};
use crate::error::{ApiError, ApiResult};
use crate::http::client::ClientInfo;
use crate::sign_in::challenge::{self, Refusal};
use crate::sign_in::throttle;
use crate::sign_in::Channel;
use crate::state::AppState;
use crate::users::User;

#[derive(Debug, Clone, Copy)]
pub enum Factor<'a> {
    Totp(&'a str),
    BackupCode(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Right, and used up. `confirmed`: the TOTP secret was already confirmed before.
    Accepted {
        confirmed: bool,
    },
    Wrong,
    /// Nothing to check against (no secret, or for a sign-in no confirmed one; backup codes
    /// before two-factor is on).
    NotSetUp,
}

/// Checks `factor` against the sign-in challenge `token` on `channel`. On success the challenge
/// is gone and the user and the password step's rememberMe are answered; the caller starts the
/// session.
pub async fn complete_challenge(
    state: &AppState,
    token: &str,
    channel: Channel,
    factor: Factor<'_>,
    client: &ClientInfo,
) -> Result<(User, bool), Refusal> {
    let attempt = challenge::begin_attempt(state, token, channel).await?;
    let right = match check(state, &attempt.user, factor, true, client).await? {
        Verdict::Accepted { .. } => true,
        Verdict::Wrong => false,
        Verdict::NotSetUp => return Err(Refusal::NotSetUp),
    };
    challenge::finish_attempt(state, attempt, right, client).await
}

/// Checks `factor`, after `throttle::begin_code_attempt`; a right one clears the code throttle.
/// `signing_in`: only a confirmed secret counts (a pending one proves nothing yet). A right backup
/// code is recorded in the audit trail here, whoever asked.
pub async fn check(
    state: &AppState,
    user: &User,
    factor: Factor<'_>,
    signing_in: bool,
    client: &ClientInfo,
) -> ApiResult<Verdict> {
    let verdict = match factor {
        Factor::Totp(code) => check_totp(state, user, code, signing_in).await?,
        Factor::BackupCode(code) => use_backup_code(state, user, code, client).await?,
    };
    if matches!(verdict, Verdict::Accepted { .. }) {
        throttle::clear_code_attempts(state, &user.id).await?;
    }
    Ok(verdict)
}

async fn check_totp(
    state: &AppState,
    user: &User,
    code: &str,
    signing_in: bool,
) -> ApiResult<Verdict> {
    let Some(stored) = store::secret(&state.db, &user.id).await? else {
        return Ok(Verdict::NotSetUp);
    };
    if signing_in && !stored.confirmed {
        return Ok(Verdict::NotSetUp);
    }
    let authenticator = authenticator(state, user, &stored.sealed_secret)?;
    let now_seconds = u64::try_from(state.clock.now_ms() / 1000).unwrap_or(0);
    let step = authenticator.step_of(
        &totp::normalized_code(code),
        now_seconds,
        stored.last_used_step,
    );
    // The step is claimed with compare-and-set: of two parallel uses of one code, one wins.
    match step {
        Some(step) if store::accept_step(&state.db, &user.id, step).await? => {
            Ok(Verdict::Accepted {
                confirmed: stored.confirmed,
            })
        }
        _ => Ok(Verdict::Wrong),
    }
}

async fn use_backup_code(
    state: &AppState,
    user: &User,
    code: &str,
    client: &ClientInfo,
) -> ApiResult<Verdict> {
    // Codes exist from `enable` on, but count only once two-factor is on.
    if !user.two_factor_enabled {
        return Ok(Verdict::NotSetUp);
    }
    let Some(reference) = store::any_backup_code(&state.db, &user.id).await? else {
        return Ok(Verdict::Wrong);
    };
    let Some(code) = backup_codes::normalized(code) else {
        return Ok(Verdict::Wrong);
    };
    let hash = state.passwords.hash_like(&code, &reference).await?;
    if !store::use_backup_code(&state.db, &user.id, &hash).await? {
        return Ok(Verdict::Wrong);
    }
    audit::record(state, Event::BackupCodeUsed, Some(&user.id), None, client).await;
    Ok(Verdict::Accepted { confirmed: true })
}

/// The user's authenticator from its sealed secret, under the configured issuer.
pub fn authenticator(
    state: &AppState,
    user: &User,
    sealed_secret: &str,
) -> ApiResult<Authenticator> {
    let secret = state
        .totp_sealer
        .open(sealed_secret, &user.id)
        .ok_or_else(|| {
            ApiError::internal("a TOTP secret does not open (another master secret?)")
        })?;
    Ok(Authenticator::new(
        secret,
        &state.config.two_factor.issuer,
        &user.email,
    ))
}
