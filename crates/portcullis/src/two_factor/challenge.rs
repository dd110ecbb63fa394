//! Sign-in challenges: a correct password on an account with two-factor opens one instead of a
//! session. Its token goes to the browser in a cookie or to a token-mode client as `mfa_token`, and
//! only the matching channel accepts it back. A challenge allows `MAX_ATTEMPTS` codes, each spent
//! before the code is looked at, and ends with the first correct one.

use super::factors::{self, Factor, Verdict};
use super::store;
use crate::accounts::User;
use crate::audit::{self, Event};
use crate::crypto::tokens::{hash_secret, random_secret};
use crate::db::{millis, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::http::client::ClientInfo;
use crate::state::AppState;

pub const MAX_ATTEMPTS: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Cookie,
    Token,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cookie => "cookie",
            Channel::Token => "token",
        }
    }
}

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

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Error(e.into())
    }
}

/// Opens a challenge for a user whose password was right; answers its token.
pub async fn open(
    state: &AppState,
    user_id: &str,
    channel: Channel,
    persistent: bool,
) -> ApiResult<String> {
    let token = random_secret();
    let now = now_ms();
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
    let found = store::challenge_user(&state.db, &hash_secret(token), channel, now_ms()).await?;
    Ok(found.is_some())
}

/// Checks `factor` against the challenge `token`. On success the challenge is gone and the user
/// and the password step's rememberMe are answered; the caller starts the session.
pub async fn complete(
    state: &AppState,
    token: &str,
    channel: Channel,
    factor: Factor<'_>,
    client: &ClientInfo,
) -> Result<(User, bool), Refusal> {
    let token_hash = hash_secret(token);
    let now = now_ms();
    let Some(user) = store::challenge_user(&state.db, &token_hash, channel, now).await? else {
        return Err(Refusal::NoChallenge);
    };
    // Before an attempt is spent: a throttled account keeps its challenge's attempts.
    factors::begin_attempt(state, &user.id).await?;
    let Some((attempt, persistent)) =
        store::spend_attempt(&state.db, &token_hash, channel, now, MAX_ATTEMPTS).await?
    else {
        return Err(Refusal::NoChallenge);
    };
    match factors::check(state, &user, factor, true, client).await? {
        Verdict::Accepted { .. } => {}
        Verdict::NotSetUp => return Err(Refusal::NotSetUp),
        Verdict::Wrong => {
            audit::record(
                &state.db,
                Event::TwoFactorFailed,
                Some(&user.id),
                None,
                client,
            )
            .await;
            let last = attempt >= MAX_ATTEMPTS;
            if last {
                store::delete_challenge(&state.db, &token_hash).await?;
            }
            return Err(Refusal::WrongCode { last });
        }
    }
    if !store::delete_challenge(&state.db, &token_hash).await? {
        // A parallel request completed it first.
        return Err(Refusal::NoChallenge);
    }
    Ok((user, persistent))
}
