//! Refresh tokens: `<session id>.<generation>.<HMAC-SHA256(key, session id . generation)>`.
//!
//! Nothing secret is stored: the server recomputes the MAC with a key derived from the master
//! secret and compares in constant time. A refresh moves the session's generation forward by
//! compare-and-set, so concurrent refreshes on any number of instances have exactly one winner;
//! the losers (and retries within the grace) receive the winner's successor, computed again from
//! the same MAC. Presenting an older generation outside the grace is reuse: the session ends.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

use super::store;
use crate::audit::{self, Event};
use crate::db::millis;
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::sessions::{self, Ending, Session};
use crate::state::AppState;
use crate::users::User;

#[derive(Debug, PartialEq, Eq)]
pub struct RefreshToken {
    pub session_id: String,
    pub generation: i64,
}

impl RefreshToken {
    pub fn encode(&self, key: &hmac::Key) -> String {
        let message = format!("{}.{}", self.session_id, self.generation);
        let tag = hmac::sign(key, message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Parses and authenticates a presented token; `None` for anything we did not issue.
    pub fn decode(token: &str, key: &hmac::Key) -> Option<Self> {
        if token.len() > 256 {
            return None;
        }
        let (message, tag) = token.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(key, message.as_bytes(), &tag).ok()?;
        let (session_id, generation) = message.split_once('.')?;
        Some(Self {
            session_id: session_id.to_owned(),
            generation: generation.parse().ok()?,
        })
    }
}

/// Why a refresh was refused (all answered as `invalid_grant`).
#[derive(Debug)]
pub enum Refused {
    Invalid,
    Reused,
    Internal(ApiError),
}

impl From<crate::db::DbError> for Refused {
    fn from(e: crate::db::DbError) -> Self {
        Refused::Internal(e.into())
    }
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Refused::Internal(e)
    }
}

/// The first refresh token of a session.
pub fn first(state: &AppState, session: &Session) -> String {
    RefreshToken {
        session_id: session.id.clone(),
        generation: 0,
    }
    .encode(&state.refresh_key)
}

/// Rotates a refresh token: answers the session, its user and the successor token.
pub async fn rotate(
    state: &AppState,
    presented: &str,
    client: &ClientInfo,
) -> Result<(Session, User, String), Refused> {
    let token = RefreshToken::decode(presented, &state.refresh_key).ok_or(Refused::Invalid)?;
    let now = state.clock.now_ms();
    let session_config = &state.config.session;
    let slide_to = now + millis(session_config.expires_in);
    let slide = store::Slide {
        to: slide_to,
        // Moved at most once per update_age (see advance_generation).
        due_by: slide_to - millis(session_config.update_age),
    };
    let advanced =
        store::advance_generation(&state.db, &token.session_id, token.generation, now, slide)
            .await?;
    if let Some((session, user)) = advanced {
        return Ok(successor(state, session, user, token.generation + 1));
    }
    // Not moved: the session is gone or has ended, or someone else moved the generation: a
    // concurrent refresh (converge) or a replay (revoke).
    let Some((session, user)) = sessions::live_by_id(state, &token.session_id).await? else {
        return Err(Refused::Invalid);
    };
    let (current, rotated_at) = store::refresh_state(&state.db, &session.id)
        .await?
        .ok_or(Refused::Invalid)?;
    let within_grace = now - rotated_at <= millis(state.config.tokens.refresh_grace);
    if token.generation + 1 == current && within_grace {
        return Ok(successor(state, session, user, current));
    }
    sessions::end(state, Ending::Id(&session.id)).await?;
    audit::record(
        state,
        Event::RefreshTokenReused,
        Some(&user.id),
        Some(&session.id),
        client,
    )
    .await;
    tracing::warn!(session_id = %session.id, "refresh token reuse: session revoked");
    metrics::counter!("refresh_reuse_detections_total").increment(1);
    Err(Refused::Reused)
}

fn successor(
    state: &AppState,
    session: Session,
    user: User,
    generation: i64,
) -> (Session, User, String) {
    metrics::counter!("refresh_rotations_total").increment(1);
    let token = RefreshToken {
        session_id: session.id.clone(),
        generation,
    }
    .encode(&state.refresh_key);
    (session, user, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[9u8; 32]);
        let token = RefreshToken {
            session_id: "abc".into(),
            generation: 7,
        };
        let text = token.encode(&key);
        assert_eq!(RefreshToken::decode(&text, &key), Some(token));
        assert!(RefreshToken::decode(&text.replace(".7.", ".8."), &key).is_none());
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8u8; 32]);
        assert!(RefreshToken::decode(&text, &other).is_none());
        // 256-bit MAC.
        let tag = text.rsplit('.').next().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(tag).unwrap().len(), 32);
    }
}
