//! User management: better-auth's admin plugin (find, create, change, ban, impersonate and remove
//! users; see and end their sessions), for administrators' sessions and for the operator's
//! command line. Every action checks its permission statement (`portcullis-access`), protects the
//! last administrator and the acting one, ends what must end, and lands in the audit trail with
//! who acted.

pub mod api_keys;
pub mod audit_log;
pub mod cli;
pub mod query;
pub mod routes;
pub mod settings;
pub mod store;

use std::time::Duration;

use portcullis_access::Request;

use crate::audit::{self, Acted, Event};
use crate::crypto::tokens::random_id;
use crate::db::Context;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::timestamp::Timestamp;
use crate::i18n::Requested;
use crate::mail::Kind;
use crate::organizations;
use crate::revocations;
use crate::sessions::{self, Ending, Impersonation, Session};
use crate::sign_in::credentials;
use crate::sign_in::start::{self, Method, Outcome, SecondFactor, SignIn};
use crate::sign_in::Channel;
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::password_policy::Password;
use crate::users::profile::{checked_image, checked_name};
use crate::users::{store as users, User};
use crate::verification;

pub use routes::router;

/// Who asks.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A user's own session (never an impersonated one), allowed what their roles allow.
    Session { user: Box<User>, session_id: String },
    /// An application backend's API key, allowed what it was granted.
    Key {
        /// `api-key:<id>`.
        audit_name: String,
        grants: portcullis_access::Role,
    },
    /// The command line on the server's host: every permission, the last-admin rule still holds.
    Operator,
}

impl Actor {
    /// How the audit trail names the actor.
    pub fn audit_name(&self) -> &str {
        match self {
            Actor::Session { user, .. } => &user.id,
            Actor::Key { audit_name, .. } => audit_name,
            Actor::Operator => "operator",
        }
    }

    fn user_id(&self) -> Option<&str> {
        match self {
            Actor::Session { user, .. } => Some(&user.id),
            Actor::Key { .. } | Actor::Operator => None,
        }
    }

    pub fn allows(&self, state: &AppState, resource: &str, action: &str) -> bool {
        self.allows_request(state, &Request::all([(resource, [action])]))
    }

    /// Whether every action of `request` is allowed.
    pub fn allows_request(&self, state: &AppState, request: &Request) -> bool {
        match self {
            Actor::Session { user, .. } => role_allows(state, &user.role, request),
            Actor::Key { grants, .. } => grants.allows(request),
            Actor::Operator => true,
        }
    }

    /// `Ok` if the actor may do `action` on `resource`, else 403 with better-auth's code for it.
    pub fn require(&self, state: &AppState, resource: &str, action: &str) -> ApiResult<()> {
        if self.allows(state, resource, action) {
            return Ok(());
        }
        Err(ApiError::from(refusal(resource, action)))
    }
}

/// better-auth's refusal for each statement.
fn refusal(resource: &str, action: &str) -> ErrorCode {
    match (resource, action) {
        ("user", "create") => ErrorCode::NotAllowedToCreateUsers,
        ("user", "list") => ErrorCode::NotAllowedToListUsers,
        ("user", "get") => ErrorCode::NotAllowedToGetUser,
        ("user", "update") => ErrorCode::NotAllowedToUpdateUsers,
        ("user", "set-email") => ErrorCode::NotAllowedToSetUsersEmail,
        ("user", "set-role") => ErrorCode::NotAllowedToChangeUsersRole,
        ("user", "ban") => ErrorCode::NotAllowedToBanUsers,
        ("user", "impersonate" | "impersonate-admins") => ErrorCode::NotAllowedToImpersonateUsers,
        ("user", "delete") => ErrorCode::NotAllowedToDeleteUsers,
        ("user", "set-password") => ErrorCode::NotAllowedToSetUsersPassword,
        ("session", "list") => ErrorCode::NotAllowedToListUsersSessions,
        ("session", "revoke" | "delete") => ErrorCode::NotAllowedToRevokeUsersSessions,
        ("audit", "list") => ErrorCode::NotAllowedToReadAuditLog,
        _ => ErrorCode::Unauthorized,
    }
}

async fn record(
    state: &AppState,
    actor: &Actor,
    event: Event,
    user_id: &str,
    detail: Option<&str>,
    client: &ClientInfo,
) {
    let acted = Acted {
        actor: actor.audit_name(),
        detail,
    };
    audit::record_acted(state, event, Some(user_id), None, &acted, client).await;
}

/// A page of users, the total that match, and the page's bounds.
pub struct Page {
    pub users: Vec<User>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list_users(state: &AppState, actor: &Actor, asked: query::Asked) -> ApiResult<Page> {
    actor.require(state, "user", "list")?;
    let query = query::ListQuery::from_asked(asked)?;
    let (users, total) = store::list_users(&state.db, &query).await?;
    Ok(Page {
        users,
        total,
        limit: query.limit,
        offset: query.offset,
    })
}

/// The user, or 404 `USER_NOT_FOUND`.
async fn find(state: &AppState, user_id: &str) -> ApiResult<User> {
    users::find_by_id(&state.db, user_id)
        .await?
        .ok_or_else(|| ApiError::from(ErrorCode::UserNotFound))
}

pub async fn get_user(state: &AppState, actor: &Actor, user_id: &str) -> ApiResult<User> {
    actor.require(state, "user", "get")?;
    find(state, user_id).await
}

/// Roles as given (one or several), checked against the known roles; stored comma-separated.
pub fn role_list(state: &AppState, roles: &[String]) -> ApiResult<String> {
    let roles: Vec<&str> = roles.iter().map(|r| r.trim()).collect();
    if roles.is_empty()
        || roles
            .iter()
            .any(|r| state.config.admin.roles.get(r).is_none())
    {
        return Err(ApiError::from(ErrorCode::NonExistentRole));
    }
    Ok(roles.join(","))
}

pub struct NewUser {
    pub email: String,
    pub password: Option<String>,
    pub name: String,
    pub roles: Option<Vec<String>>,
    pub email_verified: bool,
    pub image: Option<String>,
}

pub async fn create_user(
    state: &AppState,
    actor: &Actor,
    new: NewUser,
    client: &ClientInfo,
) -> ApiResult<User> {
    actor.require(state, "user", "create")?;
    let role = match &new.roles {
        Some(roles) => {
            actor.require(state, "user", "set-role")?;
            role_list(state, roles)?
        }
        None => "user".to_owned(),
    };
    let email = Email::parse(&new.email)?;
    let name = checked_name(&new.name)?;
    let image = checked_image(new.image.as_deref())?;
    let hash = match &new.password {
        Some(raw) => {
            let password =
                Password::new_for(raw, &state.config.password, &[email.as_str(), &name])?;
            Some(state.passwords.hash(password.as_str()).await?)
        }
        None => None,
    };
    let now = Timestamp(state.clock.now_ms());
    let user = User {
        id: random_id(),
        name,
        email: email.as_str().to_owned(),
        email_verified: new.email_verified,
        image,
        role,
        two_factor_enabled: false,
        created_at: now,
        updated_at: now,
        banned: false,
        ban_reason: None,
        ban_expires: None,
    };
    match users::insert(&state.db, &user, hash.as_deref()).await {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => return Err(email_taken()),
        Err(e) => return Err(e.into()),
    }
    record(
        state,
        actor,
        Event::UserCreated,
        &user.id,
        Some(&user.role),
        client,
    )
    .await;
    Ok(user)
}

/// better-auth's admin plugin answers a taken address with 400.
fn email_taken() -> ApiError {
    ApiError::from(ErrorCode::UserAlreadyExistsUseAnotherEmail)
        .with_status(axum::http::StatusCode::BAD_REQUEST)
}

/// What update-user may change.
#[derive(Default)]
pub struct Changes {
    pub name: Option<String>,
    pub image: Option<Option<String>>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub roles: Option<Vec<String>>,
}

pub async fn update_user(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    changes: Changes,
    client: &ClientInfo,
) -> ApiResult<User> {
    actor.require(state, "user", "update")?;
    if changes.email.is_some() || changes.email_verified.is_some() {
        actor.require(state, "user", "set-email")?;
    }
    if changes.roles.is_some() {
        actor.require(state, "user", "set-role")?;
    }
    let user = find(state, user_id).await?;
    let name = changes.name.as_deref().map(checked_name).transpose()?;
    let image = changes
        .image
        .as_ref()
        .map(|image| checked_image(image.as_deref()))
        .transpose()?;
    let email = changes.email.as_deref().map(Email::parse).transpose()?;
    if let Some(roles) = &changes.roles {
        let role = role_list(state, roles)?;
        change_role(state, actor, &user, &role, client).await?;
    }
    let now = state.clock.now_ms();
    if name.is_some() || image.is_some() {
        users::update_profile(
            &state.db,
            user_id,
            name.as_deref(),
            image.as_ref().map(|i| i.as_deref()),
            now,
        )
        .await?;
    }
    if email.is_some() || changes.email_verified.is_some() {
        let new_email = email.as_ref().map_or(user.email.as_str(), Email::as_str);
        // A new address is unverified unless the administrator says otherwise.
        let verified = changes
            .email_verified
            .unwrap_or(new_email == user.email && user.email_verified);
        match store::set_email(&state.db, user_id, new_email, verified, now).await {
            Ok(()) => {}
            Err(e) if e.is_unique_violation() => return Err(email_taken()),
            Err(e) => return Err(e.into()),
        }
    }
    state.session_cache.forget_user(user_id);
    record(state, actor, Event::UserUpdated, user_id, None, client).await;
    find(state, user_id).await
}

/// Refuses to leave the installation without an administrator: `user` is one, not banned, and
/// the only one.
async fn keep_an_admin(state: &AppState, user: &User) -> ApiResult<()> {
    let admin = &state.config.admin;
    if !admin.is_admin_role_list(&user.role) || user.is_banned(state.clock.now_ms()) {
        return Ok(());
    }
    let admins = store::privileged_role_lists(&state.db)
        .await?
        .iter()
        .filter(|roles| admin.is_admin_role_list(roles))
        .count();
    if admins <= 1 {
        return Err(ApiError::from(ErrorCode::LastAdmin));
    }
    Ok(())
}

async fn change_role(
    state: &AppState,
    actor: &Actor,
    user: &User,
    role: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    if actor.user_id() == Some(user.id.as_str()) {
        return Err(ApiError::from(ErrorCode::CannotChangeYourOwnRole));
    }
    if !state.config.admin.is_admin_role_list(role) {
        keep_an_admin(state, user).await?;
    }
    store::set_role(&state.db, &user.id, role, state.clock.now_ms()).await?;
    state.session_cache.forget_user(&user.id);
    // Access tokens carry the role: those issued before are refused from now on.
    revocations::revoke_user(state, &user.id).await?;
    record(
        state,
        actor,
        Event::RoleChanged,
        &user.id,
        Some(role),
        client,
    )
    .await;
    Ok(())
}

pub async fn set_role(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    roles: &[String],
    client: &ClientInfo,
) -> ApiResult<User> {
    actor.require(state, "user", "set-role")?;
    let role = role_list(state, roles)?;
    let user = find(state, user_id).await?;
    change_role(state, actor, &user, &role, client).await?;
    find(state, user_id).await
}

/// The longest ban with an end: 100 years (longer is a ban without one).
const MAX_BAN_SECONDS: i64 = 100 * 365 * 24 * 3600;

pub async fn ban(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    reason: Option<&str>,
    expires_in: Option<i64>,
    client: &ClientInfo,
) -> ApiResult<User> {
    actor.require(state, "user", "ban")?;
    let user = find(state, user_id).await?;
    if actor.user_id() == Some(user_id) {
        return Err(ApiError::from(ErrorCode::CannotBanYourself));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500 || r.chars().any(char::is_control)) {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("banReason must be at most 500 characters, without control characters"));
    }
    if expires_in.is_some_and(|s| !(1..=MAX_BAN_SECONDS).contains(&s)) {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("banExpiresIn must be 1 to 3153600000 seconds"));
    }
    keep_an_admin(state, &user).await?;
    let now = state.clock.now_ms();
    let reason = reason.unwrap_or("No reason");
    let expires = expires_in.map(|s| now + s * 1000);
    store::ban(&state.db, user_id, reason, expires, now).await?;
    end_everything(state, user_id).await?;
    record(
        state,
        actor,
        Event::UserBanned,
        user_id,
        Some(reason),
        client,
    )
    .await;
    find(state, user_id).await
}

/// Ends every session (and so every refresh token) of the user and refuses their access tokens,
/// here and, through the revocation feed, in every service.
async fn end_everything(state: &AppState, user_id: &str) -> ApiResult<()> {
    sessions::end(state, Ending::AllOfUser(user_id)).await?;
    revocations::revoke_user(state, user_id).await?;
    state.session_cache.forget_user(user_id);
    Ok(())
}

pub async fn unban(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    client: &ClientInfo,
) -> ApiResult<User> {
    actor.require(state, "user", "ban")?;
    find(state, user_id).await?;
    store::unban(&state.db, user_id, state.clock.now_ms()).await?;
    record(state, actor, Event::UserUnbanned, user_id, None, client).await;
    find(state, user_id).await
}

pub async fn user_sessions(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
) -> ApiResult<Vec<Session>> {
    actor.require(state, "session", "list")?;
    Ok(sessions::store::list_live(&state.db, user_id, state.clock.now_ms()).await?)
}

/// Ends one session, named by its id (what list-user-sessions gives in `token`) or its token.
pub async fn revoke_session(
    state: &AppState,
    actor: &Actor,
    session: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    actor.require(state, "session", "revoke")?;
    let mut ended = sessions::end(state, Ending::Id(session)).await?;
    if ended.is_empty() {
        let hash = crate::crypto::tokens::hash_secret(session);
        ended = sessions::end(state, Ending::TokenHash(&hash)).await?;
    }
    for id in &ended {
        let acted = Acted {
            actor: actor.audit_name(),
            detail: None,
        };
        audit::record_acted(
            state,
            Event::SessionsRevoked,
            None,
            Some(id),
            &acted,
            client,
        )
        .await;
    }
    Ok(())
}

pub async fn revoke_sessions(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    actor.require(state, "session", "revoke")?;
    sessions::end(state, Ending::AllOfUser(user_id)).await?;
    record(state, actor, Event::SessionsRevoked, user_id, None, client).await;
    Ok(())
}

pub async fn remove(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    actor.require(state, "user", "delete")?;
    if actor.user_id() == Some(user_id) {
        return Err(ApiError::from(ErrorCode::CannotRemoveYourself));
    }
    let user = find(state, user_id).await?;
    keep_an_admin(state, &user).await?;
    end_everything(state, user_id).await?;
    let memberships = organizations::members::ended_by_deletion(state, user_id).await?;
    users::delete(&state.db, user_id).await?;
    memberships.record(state, actor.audit_name(), client).await;
    record(state, actor, Event::UserRemoved, user_id, None, client).await;
    Ok(())
}

/// Sets a new password (the policy applies), ends the user's other sessions and tells them.
pub async fn set_password(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    raw: &str,
    client: &ClientInfo,
    language: &Requested,
) -> ApiResult<()> {
    actor.require(state, "user", "set-password")?;
    let user = find(state, user_id).await?;
    let password = Password::new_for(raw, &state.config.password, &[&user.email, &user.name])?;
    let hash = state.passwords.hash(password.as_str()).await?;
    let mut conn = state
        .db
        .pool
        .acquire()
        .await
        .context("admin: set password")?;
    credentials::set_password(&mut conn, user_id, &hash, state.clock.now_ms()).await?;
    drop(conn);
    match actor {
        Actor::Session { user, session_id } if user.id == user_id => {
            sessions::end(
                state,
                Ending::OthersOfUser {
                    user_id,
                    keep: session_id,
                },
            )
            .await?;
        }
        _ => {
            sessions::end(state, Ending::AllOfUser(user_id)).await?;
        }
    }
    record(
        state,
        actor,
        Event::PasswordSetByAdmin,
        user_id,
        None,
        client,
    )
    .await;
    let (kind, to) = (Kind::PasswordChanged, &user.email);
    verification::send_notice(state, kind, &user, to, None, language).await?;
    Ok(())
}

/// Whether `role_list` allows `request` (better-auth's has-permission).
pub fn role_allows(state: &AppState, role_list: &str, request: &Request) -> bool {
    state.config.admin.roles.allow(role_list, request)
}

/// How long an impersonation lasts: the setting, never more than an hour.
pub fn impersonation_lifetime(state: &AppState) -> Duration {
    state
        .config
        .admin
        .impersonation_lifetime
        .min(settings::MAX_IMPERSONATION)
}

/// A new impersonated session: its secret token, the session and the user acted as.
pub struct Impersonating {
    pub token: String,
    pub session: Session,
    pub user: User,
}

/// Starts a session as `user_id` for an administrator whose own session is fresh: a reason is
/// required (stored and audited), the session lasts at most an hour and never slides, an
/// impersonated session cannot impersonate again (the admin endpoints refuse it), and other
/// administrators need `user:impersonate-admins`.
pub async fn impersonate(
    state: &AppState,
    actor: &Actor,
    actor_session: &Session,
    user_id: &str,
    reason: &str,
    client: &ClientInfo,
) -> ApiResult<Impersonating> {
    actor.require(state, "user", "impersonate")?;
    let Actor::Session { user: admin, .. } = actor else {
        return Err(ApiError::from(ErrorCode::NotAllowedToImpersonateUsers));
    };
    sessions::require_fresh(state, actor_session)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::from(ErrorCode::ImpersonationReasonRequired));
    }
    if reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("reason must be at most 500 characters, without control characters"));
    }
    let target = find(state, user_id).await?;
    if target.id == admin.id {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("You cannot impersonate yourself"));
    }
    if state.config.admin.is_admin_role_list(&target.role)
        && !actor.allows(state, "user", "impersonate-admins")
    {
        return Err(ApiError::from(ErrorCode::CannotImpersonateAdmins));
    }
    let sign_in = SignIn {
        user: target,
        method: Method::Impersonation(Impersonation {
            by: &admin.id,
            reason,
            lifetime: impersonation_lifetime(state),
        }),
        channel: Channel::Cookie,
        persistent: false,
        client,
        second_factor: SecondFactor::NotShown {
            trusted_device: None,
        },
    };
    match start::start(state, sign_in).await? {
        Outcome::Started(started) => Ok(Impersonating {
            token: started.token,
            session: started.session,
            user: started.user,
        }),
        Outcome::SecondFactorRequired(_) => Err(ApiError::internal(
            "an impersonation asked for a second factor",
        )),
    }
}

/// Ends an impersonated session and answers the administrator who acted.
pub async fn stop_impersonating(
    state: &AppState,
    session: &Session,
    client: &ClientInfo,
) -> ApiResult<String> {
    let Some(admin_id) = &session.impersonated_by else {
        return Err(ApiError::from(ErrorCode::NotImpersonating));
    };
    sessions::end(state, Ending::Id(&session.id)).await?;
    let acted = Acted {
        actor: admin_id,
        detail: None,
    };
    audit::record_acted(
        state,
        Event::ImpersonationStopped,
        Some(&session.user_id),
        Some(&session.id),
        &acted,
        client,
    )
    .await;
    Ok(admin_id.clone())
}
