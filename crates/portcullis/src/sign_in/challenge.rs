//! Second-factor challenges: a correct password on an account with two-factor opens one instead of
//! a session. Its token goes to the browser in a cookie or to a token-mode client as `mfa_token`,
//! and only the matching channel accepts it back. A challenge allows `MAX_ATTEMPTS` codes, each
//! spent before the code is looked at (`begin_attempt`), and ends with the first correct one
//! (`finish_attempt`). Which codes are correct is the two-factor feature's business.

use super::{store, throttle, Channel};
use crate::audit::{self, Event};
use crate::crypto::tokens::{hash_secret, random_secret};
use crate::db::millis;
use crate::error::{ApiError, ApiResult};
use crate::http::client::ClientInfo;
use crate::state::AppState;
use crate::users::User;

pub const MAX_ATTEMPTS: i64 = 5;

/// Why a challenge did not end in a sign-in.
#[derive(Debug)]
pub enum Refusal {
    /// Unknown, expired, already completed, or used up.
    NoChallenge,
    /// The code was wrong; `last` when that was the challenge's final attempt.
    WrongCode { last: bool },
    /// The factor is not set up (two-factor was turned off meanwhile).
    NotSetUp,
    /// Throttled, or an internal failure.
    Error(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Error(e)
    }
}

impl From<crate::db::DbError> for Refusal {
    fn from(e: crate::db::DbError) -> Self {
        Refusal::Error(e.into())
    }
}

/// One spent attempt at a challenge, waiting for its code's verdict.
pub struct Attempt {
    pub user: User,
    /// The password step's rememberMe.
    pub persistent: bool,
    number: i64,
    token_hash: String,
}

/// Opens a challenge for a user whose password was right; answers its token.
pub async fn open(
    state: &AppState,
    user_id: &str,
    channel: Channel,
    persistent: bool,
) -> ApiResult<String> {
    let token = random_secret();
    let now = state.clock.now_ms();
    let expires_at = now + millis(state.config.two_factor.challenge_lifetime);
    store::insert_challenge(
        &state.db,
        &hash_secret(&token),
        user_id,
        channel,
        persistent,
        now,
        expires_at,
    )
    .await?;
    Ok(token)
}

/// Whether `token` names a live challenge on `channel` (without spending an attempt).
pub async fn is_live(state: &AppState, token: &str, channel: Channel) -> ApiResult<bool> {
    let found = store::challenge_user(
        &state.db,
        &hash_secret(token),
        channel,
        state.clock.now_ms(),
    )
    .await?;
    Ok(found.is_some())
}

/// Spends one attempt of the challenge `token` before its code is checked. The account's code
/// throttle counts it first, so a throttled account keeps its challenge's attempts.
pub async fn begin_attempt(
    state: &AppState,
    token: &str,
    channel: Channel,
) -> Result<Attempt, Refusal> {
    let token_hash = hash_secret(token);
    let now = state.clock.now_ms();
    let Some(user) = store::challenge_user(&state.db, &token_hash, channel, now).await? else {
        return Err(Refusal::NoChallenge);
    };
    throttle::begin_code_attempt(state, &user.id).await?;
    let Some((number, persistent)) =
        store::spend_attempt(&state.db, &token_hash, channel, now, MAX_ATTEMPTS).await?
    else {
        return Err(Refusal::NoChallenge);
    };
    Ok(Attempt {
        user,
        persistent,
        number,
        token_hash,
    })
}

/// Ends an attempt with its code's verdict: a right code ends the challenge (for exactly one of
/// any number of parallel attempts); a wrong one is audited and, if it was the last allowed,
/// ends the challenge too.
pub async fn finish_attempt(
    state: &AppState,
    attempt: Attempt,
    code_was_right: bool,
    client: &ClientInfo,
) -> Result<(User, bool), Refusal> {
    if !code_was_right {
        audit::record(
            state,
            Event::TwoFactorFailed,
            Some(&attempt.user.id),
            None,
            client,
        )
        .await;
        let last = attempt.number >= MAX_ATTEMPTS;
        if last {
            store::delete_challenge(&state.db, &attempt.token_hash).await?;
        }
        return Err(Refusal::WrongCode { last });
    }
    if !store::delete_challenge(&state.db, &attempt.token_hash).await? {
        // A parallel request completed it first.
        return Err(Refusal::NoChallenge);
    }
    Ok((attempt.user, attempt.persistent))
}
