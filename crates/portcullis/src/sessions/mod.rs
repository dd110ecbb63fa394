//! Sessions: opaque 256-bit tokens, stored as SHA-256, sent as an HttpOnly cookie or a Bearer
//! header. A session slides (its expiry moves forward when used, at most once per `update_age`)
//! within an absolute lifetime; `rememberMe: false` sessions have a short fixed lifetime.

pub mod cache;
pub mod extract;
pub mod routes;
pub mod settings;
pub mod store;

use axum::http::HeaderValue;
use serde::Serialize;

use crate::access_tokens::jwt as access;
use crate::audit::{self, Event};
use crate::crypto::tokens::{hash_secret, random_id, random_secret};
use crate::db::{duration_of, millis, Context};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::timestamp::Timestamp;
use crate::revocations;
use crate::state::AppState;
use crate::users::User;

pub use routes::router;

/// How often at most `last_active_at` is written: precise enough for a session list, and cheap.
const LAST_ACTIVE_RESOLUTION_MS: i64 = 60_000;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub persistent: bool,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_active_at: i64,
    pub expires_at: i64,
    pub absolute_expires_at: i64,
    /// The organization this session works in (organizations feature), if any.
    pub active_organization_id: Option<String>,
    /// The team this session works in, if any.
    pub active_team_id: Option<String>,
    /// The administrator acting as this session's user (impersonation), if any.
    pub impersonated_by: Option<String>,
}

/// An administrator's session as another user: who acts, why, and for how long at most.
#[derive(Debug, Clone, Copy)]
pub struct Impersonation<'a> {
    pub by: &'a str,
    pub reason: &'a str,
    pub lifetime: std::time::Duration,
}

impl Session {
    fn is_live(&self, now: i64) -> bool {
        now < self.ends_at()
    }

    /// When the session ends if nothing extends it (unix ms): its idle or its absolute expiry.
    pub fn ends_at(&self) -> i64 {
        self.expires_at.min(self.absolute_expires_at)
    }
}

/// How the request presented its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Cookie,
    /// A session token in `Authorization: Bearer`.
    Bearer,
    /// An access token (JWT) in `Authorization: Bearer`; its `sid` names the session.
    AccessToken,
}

/// Which sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    Id(&'a str),
    TokenHash(&'a str),
    /// One of the user's sessions, named by id or by token hash.
    Owned {
        user_id: &'a str,
        id: &'a str,
        token_hash: &'a str,
    },
    AllOfUser(&'a str),
    OthersOfUser {
        user_id: &'a str,
        keep: &'a str,
    },
}

/// A request's live session and its user.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub session: Session,
    pub user: User,
    pub via: Via,
    /// The session's expiry moved forward on this request (the cookie should follow).
    pub extended: bool,
}

/// A session as better-auth's client sees it. `token` holds the session id, never the secret:
/// see docs/compat.md.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    pub user_id: String,
    /// The session id (an opaque handle revoke-session accepts), not the session's secret token.
    pub token: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_active_at: Timestamp,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// True for the session that made this request.
    pub current: bool,
    /// The session's active organization (organization plugin).
    pub active_organization_id: Option<String>,
    /// The session's active team (organization plugin).
    pub active_team_id: Option<String>,
    /// The administrator acting as the user in this session (impersonation), or `null`.
    pub impersonated_by: Option<String>,
}

impl SessionView {
    pub fn of(session: &Session, current: bool) -> Self {
        Self {
            id: session.id.clone(),
            user_id: session.user_id.clone(),
            token: session.id.clone(),
            expires_at: Timestamp(session.ends_at()),
            created_at: Timestamp(session.created_at),
            updated_at: Timestamp(session.updated_at),
            last_active_at: Timestamp(session.last_active_at),
            ip_address: session.ip_address.clone(),
            user_agent: session.user_agent.clone(),
            current,
            active_organization_id: session.active_organization_id.clone(),
            active_team_id: session.active_team_id.clone(),
            impersonated_by: session.impersonated_by.clone(),
        }
    }
}

/// Starts a new session with a fresh token (a new token at every sign-in: no fixation).
pub async fn start(
    state: &AppState,
    user_id: &str,
    persistent: bool,
    client: &ClientInfo,
) -> ApiResult<(String, Session)> {
    start_as(state, user_id, persistent, client, None).await
}

/// `start`, for an impersonation too: a fixed lifetime that never slides, and who and why stored.
pub async fn start_as(
    state: &AppState,
    user_id: &str,
    persistent: bool,
    client: &ClientInfo,
    impersonation: Option<Impersonation<'_>>,
) -> ApiResult<(String, Session)> {
    let config = &state.config.session;
    let now = state.clock.now_ms();
    let (lifetime, absolute) = match impersonation {
        Some(i) => (i.lifetime, i.lifetime),
        None if persistent => (config.expires_in, config.absolute_lifetime),
        None => (config.short_lifetime, config.short_lifetime),
    };
    let persistent = persistent && impersonation.is_none();
    let session = Session {
        id: random_id(),
        user_id: user_id.to_owned(),
        persistent,
        ip_address: Some(client.ip.to_string()),
        user_agent: client.user_agent.clone(),
        created_at: now,
        updated_at: now,
        last_active_at: now,
        expires_at: now + millis(lifetime),
        absolute_expires_at: now + millis(absolute),
        active_organization_id: None,
        active_team_id: None,
        impersonated_by: impersonation.map(|i| i.by.to_owned()),
    };
    let token = random_secret();
    store::insert(
        &state.db,
        &session,
        &hash_secret(&token),
        impersonation.map(|i| i.reason),
    )
    .await?;
    Ok((token, session))
}

/// Ends sessions and publishes their ids on the revocation feed, in one transaction, so that
/// services verifying access tokens locally learn of it within seconds. Answers the ended ids.
pub async fn end(state: &AppState, which: Ending<'_>) -> ApiResult<Vec<String>> {
    let mut tx = state.db.begin("sessions: end").await?;
    let ended = store::delete_returning(&mut tx, &which).await?;
    if !ended.is_empty() {
        revocations::store::record_sessions(
            &mut tx,
            state.db.backend,
            &ended,
            state.clock.now_ms(),
        )
        .await?;
    }
    tx.commit().await.context("sessions: end")?;
    if !ended.is_empty() {
        state.session_cache.forget_sessions(&ended);
        state.revocations.wake();
    }
    Ok(ended)
}

/// Sensitive changes (email, two-factor) need a session signed in recently (ASVS 7.5.1).
pub fn require_fresh(state: &AppState, session: &Session) -> ApiResult<()> {
    if state.clock.now_ms() - session.created_at > millis(state.config.session.fresh_age) {
        return Err(ApiError::from(ErrorCode::SessionNotFresh));
    }
    Ok(())
}

/// A live session by id, with its user.
pub async fn live_by_id(state: &AppState, id: &str) -> ApiResult<Option<(Session, User)>> {
    let found = store::find_by_id(&state.db, id).await?;
    Ok(found.filter(|(session, _)| session.is_live(state.clock.now_ms())))
}

/// Resolves a credential to its live session, sliding the expiry forward when it is due.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    via: Via,
) -> ApiResult<Option<Authenticated>> {
    let now = state.clock.now_ms();
    if via == Via::AccessToken {
        let found = match access::verify(state, token).await {
            Some(claims) => store::find_by_id(&state.db, &claims.sid).await?,
            None => None,
        };
        return resolve(state, found, via, now).await;
    }
    let token_hash = hash_secret(token);
    if let Some((session, user)) = state.session_cache.get(&token_hash, now) {
        if session.is_live(now) && !write_due(state, &session, now) {
            metrics::counter!("session_cache_lookups_total", "result" => "hit").increment(1);
            return Ok(Some(Authenticated {
                session,
                user,
                via,
                extended: false,
            }));
        }
        state.session_cache.forget(&token_hash);
    }
    metrics::counter!("session_cache_lookups_total", "result" => "miss").increment(1);
    let revision = state.session_cache.revision();
    let found = store::find_by_token_hash(&state.db, &token_hash).await?;
    let resolved = resolve(state, found, via, now).await?;
    if let Some(auth) = &resolved {
        let (session, user) = (auth.session.clone(), auth.user.clone());
        state
            .session_cache
            .put(revision, token_hash, session, user, now);
    }
    Ok(resolved)
}

/// A session read from the database: refused if dead (and deleted), else slid when due.
async fn resolve(
    state: &AppState,
    found: Option<(Session, User)>,
    via: Via,
    now: i64,
) -> ApiResult<Option<Authenticated>> {
    let Some((mut session, user)) = found else {
        return Ok(None);
    };
    if !session.is_live(now) {
        store::delete(&state.db, &session.id).await?;
        return Ok(None);
    }
    // A ban ends the user's sessions; one started in a race with it still opens nothing.
    if user.is_banned(now) {
        return Ok(None);
    }
    let extended = slide(state, &mut session, now).await?;
    Ok(Some(Authenticated {
        session,
        user,
        via,
        extended,
    }))
}

/// True when using the session now must write to the database (slide or record activity).
fn write_due(state: &AppState, session: &Session, now: i64) -> bool {
    slide_due(state, session, now) || now - session.last_active_at >= LAST_ACTIVE_RESOLUTION_MS
}

fn slide_due(state: &AppState, session: &Session, now: i64) -> bool {
    let config = &state.config.session;
    session.persistent
        && session.expires_at - millis(config.expires_in) + millis(config.update_age) <= now
}

/// Moves a persistent session's expiry to `now + expires_in` (capped by the absolute lifetime)
/// once `update_age` has passed since the last move; records activity at a coarse resolution.
async fn slide(state: &AppState, session: &mut Session, now: i64) -> ApiResult<bool> {
    let config = &state.config.session;
    let due = slide_due(state, session, now);
    if due {
        session.expires_at = (now + millis(config.expires_in)).min(session.absolute_expires_at);
        session.updated_at = now;
        session.last_active_at = now;
        store::extend(&state.db, &session.id, session.expires_at, now).await?;
    } else if now - session.last_active_at >= LAST_ACTIVE_RESOLUTION_MS {
        session.last_active_at = now;
        store::touch(&state.db, &session.id, now).await?;
    }
    Ok(due)
}

/// The session cookie for `token`: persistent sessions get a Max-Age matching their expiry,
/// `rememberMe: false` sessions a browser-session cookie.
pub fn cookie_for(state: &AppState, token: &str, session: &Session) -> HeaderValue {
    let max_age = session
        .persistent
        .then(|| duration_of(session.ends_at() - state.clock.now_ms()));
    state.session_cookie.set(token, max_age)
}

/// The user's live sessions, newest first.
pub async fn list(state: &AppState, user_id: &str) -> ApiResult<Vec<Session>> {
    Ok(store::list_live(&state.db, user_id, state.clock.now_ms()).await?)
}

/// Ends one of the user's own sessions, named by its id (or its token); answers the ended ids.
pub async fn revoke_own(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authenticated,
    id_or_token: &str,
) -> ApiResult<Vec<String>> {
    let token_hash = hash_secret(id_or_token);
    let which = Ending::Owned {
        user_id: &auth.user.id,
        id: id_or_token,
        token_hash: &token_hash,
    };
    let revoked = end(state, which).await?;
    for id in &revoked {
        audit::record(
            state,
            Event::SessionsRevoked,
            Some(&auth.user.id),
            Some(id),
            client,
        )
        .await;
    }
    Ok(revoked)
}

/// Ends every session of the user except the one making the request.
pub async fn revoke_others(
    state: &AppState,
    client: &ClientInfo,
    auth: &Authenticated,
) -> ApiResult<()> {
    let which = Ending::OthersOfUser {
        user_id: &auth.user.id,
        keep: &auth.session.id,
    };
    end(state, which).await?;
    audit::record(
        state,
        Event::SessionsRevoked,
        Some(&auth.user.id),
        Some(&auth.session.id),
        client,
    )
    .await;
    Ok(())
}
