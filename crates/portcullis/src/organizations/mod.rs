//! Organizations (better-auth's organization plugin): organizations and their members with one or
//! several roles, permission checks by statements, email invitations, teams, roles an
//! organization defines for itself, and each session's active organization, which access tokens
//! carry.
//!
//! Isolation: every query that names a member, invitation, team or role is scoped by the
//! organization, and every operation first finds the caller's own membership of the organization
//! it names, so ids of another organization find nothing. A signed-in caller without the
//! permission is answered 403.

pub mod access;
pub mod invitations;
pub mod member_pages;
pub mod members;
pub mod model;
pub mod roles;
pub mod routes;
pub mod settings;
pub mod store;
pub mod teams;

use portcullis_access::{parse_role_list, Request, Roles};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};

use crate::audit::{self, Event};
use crate::crypto::tokens::random_id;
use crate::db::Context as _;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::sessions::{self, Authenticated, Session};
use crate::state::AppState;
use crate::users::profile::{checked_image, checked_name};
use model::{Member, Organization};

pub use routes::router;

/// Longest slug (better-auth sets none; URLs and logs want one).
const MAX_SLUG_CHARS: usize = 128;

/// A database connection for one request's reads.
pub async fn connection(state: &AppState) -> ApiResult<PoolConnection<Any>> {
    Ok(state
        .db
        .pool
        .acquire()
        .await
        .context("organizations: connect")?)
}

/// The organization a request names, else the session's active one.
pub fn named_or_active(named: Option<&str>, session: &Session) -> ApiResult<String> {
    named
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .or_else(|| session.active_organization_id.clone())
        .ok_or_else(|| ErrorCode::NoActiveOrganization.into())
}

/// The caller's membership of `organization_id`, or 403 with `code`. An organization that does
/// not exist answers the same as one the caller is not in.
pub async fn membership(
    conn: &mut AnyConnection,
    organization_id: &str,
    user_id: &str,
    code: ErrorCode,
) -> ApiResult<Member> {
    store::find_member(conn, organization_id, user_id)
        .await?
        .ok_or_else(|| ApiError::from(code))
}

/// The roles that apply in an organization: the static ones, plus the organization's own when
/// `role_list` names one of them (one query, only then).
pub async fn roles_for(
    state: &AppState,
    conn: &mut AnyConnection,
    organization_id: &str,
    role_list: &str,
) -> ApiResult<Roles> {
    if state.access.all_static(role_list) {
        return Ok(state.access.roles_with(&[]));
    }
    let dynamic: Vec<_> = store::list_roles(conn, organization_id)
        .await?
        .into_iter()
        .filter_map(|r| {
            serde_json::from_value(r.permission)
                .ok()
                .map(|grants| (r.role, grants))
        })
        .collect();
    Ok(state.access.roles_with(&dynamic))
}

/// The roles a member of an organization can be given (for a picker): the static ones, then
/// the organization's own by name, each once.
pub async fn assignable_roles(state: &AppState, organization_id: &str) -> ApiResult<Vec<String>> {
    let mut conn = connection(state).await?;
    let mut names = state.access.static_role_names();
    for role in store::list_roles(&mut conn, organization_id).await? {
        if !names.contains(&role.role) {
            names.push(role.role);
        }
    }
    Ok(names)
}

/// Whether `member` may do `request` (read from the database now: no stale role).
pub async fn may(
    state: &AppState,
    conn: &mut AnyConnection,
    member: &Member,
    request: &Request,
) -> ApiResult<bool> {
    let roles = roles_for(state, conn, &member.organization_id, &member.role).await?;
    Ok(access::allows(&roles, &member.role, request))
}

/// 403 with `code` unless `member` may do `action` on `resource`.
pub async fn require(
    state: &AppState,
    conn: &mut AnyConnection,
    member: &Member,
    resource: &str,
    action: &str,
    code: ErrorCode,
) -> ApiResult<()> {
    if may(state, conn, member, &access::ask(resource, action)).await? {
        Ok(())
    } else {
        Err(code.into())
    }
}

/// What an operation needs: a permission, and the code that refuses it.
pub struct Needs<'a> {
    pub resource: &'a str,
    pub action: &'a str,
    pub denied: ErrorCode,
}

/// The caller's membership of `organization_id` (403 `not_member` without one), allowed what
/// `needs` names (403 `needs.denied` otherwise).
pub async fn authorized(
    state: &AppState,
    conn: &mut AnyConnection,
    organization_id: &str,
    user_id: &str,
    not_member: ErrorCode,
    needs: Needs<'_>,
) -> ApiResult<Member> {
    let member = membership(conn, organization_id, user_id, not_member).await?;
    require(
        state,
        conn,
        &member,
        needs.resource,
        needs.action,
        needs.denied,
    )
    .await?;
    Ok(member)
}

/// Roles as sent (`"admin"` or `["admin", "sales"]`), checked and joined as stored: every name
/// valid, known to the settings or defined by the organization.
pub async fn checked_roles(
    state: &AppState,
    conn: &mut AnyConnection,
    organization_id: &str,
    roles: &[String],
) -> ApiResult<String> {
    let mut names: Vec<String> = Vec::new();
    for role in roles.iter().flat_map(|r| parse_role_list(r)) {
        if !names.contains(&role) {
            names.push(role);
        }
    }
    // A malformed list is a bad request; a well-formed name nobody defined is not found.
    if names.is_empty() || names.iter().any(|n| !access::valid_role_name(n)) {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("role names one or more roles of 1 to 64 letters, digits, '-' or '_'"));
    }
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !state.access.is_static_role(n))
        .collect();
    if !unknown.is_empty() {
        let defined = store::list_roles(conn, organization_id).await?;
        let missing: Vec<&str> = unknown
            .iter()
            .filter(|n| !defined.iter().any(|d| d.role.as_str() == n.as_str()))
            .map(|n| n.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::from(ErrorCode::RoleNotFound)
                .with_message(format!("Role not found: {}", missing.join(", "))));
        }
    }
    Ok(names.join(","))
}

/// How many members hold the owner role (inside a transaction that locked the organization).
pub async fn owner_count(conn: &mut AnyConnection, organization_id: &str) -> ApiResult<usize> {
    Ok(store::owner_role_lists(conn, organization_id)
        .await?
        .iter()
        .filter(|r| access::is_owner(r))
        .count())
}

/// A slug: 1 to 128 characters, letters, digits, `-`, `_` and `.`.
pub fn checked_slug(raw: &str) -> ApiResult<String> {
    let slug = raw.trim();
    let valid = !slug.is_empty()
        && slug.chars().count() <= MAX_SLUG_CHARS
        && slug
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(
            ApiError::from(ErrorCode::ValidationError).with_message(format!(
                "slug must be 1 to {MAX_SLUG_CHARS} letters, digits, '-', '_' or '.'"
            )),
        );
    }
    Ok(slug.to_owned())
}

/// Metadata must be a JSON object (or absent).
fn checked_metadata(metadata: Option<&serde_json::Value>) -> ApiResult<Option<String>> {
    match metadata {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value @ serde_json::Value::Object(_)) => Ok(Some(value.to_string())),
        Some(_) => Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("metadata must be a JSON object")),
    }
}

/// Forgets cached copies of sessions whose active organization changed.
fn forget_sessions(state: &AppState, ids: &[String]) {
    state.session_cache.forget_sessions(ids);
}

pub struct NewOrganization<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub logo: Option<&'a str>,
    pub metadata: Option<&'a serde_json::Value>,
    pub keep_current_active: bool,
}

/// Creates an organization with the caller as its owner; it becomes the session's active one
/// unless `keep_current_active`.
pub async fn create(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    new: NewOrganization<'_>,
) -> ApiResult<(Organization, Member)> {
    let settings = &state.config.organization;
    let name = checked_name(new.name)?;
    let slug = checked_slug(new.slug)?;
    let logo = checked_image(new.logo)?;
    let metadata = checked_metadata(new.metadata)?;
    if !settings.allow_create {
        return Err(ErrorCode::YouAreNotAllowedToCreateANewOrganization.into());
    }
    let now = state.clock.now_ms();
    let id = random_id();
    let member_id = random_id();
    let mut tx = state.db.begin("organizations: create").await?;
    let count = store::count_memberships(&mut tx, &auth.user.id).await?;
    if u64::try_from(count).unwrap_or(u64::MAX) >= settings.organization_limit {
        return Err(ErrorCode::YouHaveReachedTheMaximumNumberOfOrganizations.into());
    }
    if store::find_organization_by_slug(&mut tx, &slug)
        .await?
        .is_some()
    {
        return Err(ErrorCode::OrganizationAlreadyExists.into());
    }
    let inserted = store::insert_organization(
        &mut tx,
        &store::NewOrganization {
            id: &id,
            name: &name,
            slug: &slug,
            logo: logo.as_deref(),
            metadata: metadata.as_deref(),
            now,
        },
    )
    .await;
    match inserted {
        Err(e) if e.is_unique_violation() => {
            return Err(ErrorCode::OrganizationAlreadyExists.into())
        }
        other => other?,
    }
    store::insert_member(
        &mut tx,
        &store::NewMember {
            id: &member_id,
            organization_id: &id,
            user_id: &auth.user.id,
            role: access::OWNER,
            now,
        },
    )
    .await?;
    if !new.keep_current_active {
        sessions::store::set_active(&mut tx, &auth.session.id, Some(&id), None).await?;
        store::touch_member(&mut tx, &id, &auth.user.id, now).await?;
    }
    let organization = store::find_organization(&mut tx, &id)
        .await?
        .ok_or_else(|| ApiError::internal("created organization vanished"))?;
    let member = store::find_member(&mut tx, &id, &auth.user.id)
        .await?
        .ok_or_else(|| ApiError::internal("created member vanished"))?;
    tx.commit().await.context("organizations: create")?;
    forget_sessions(state, std::slice::from_ref(&auth.session.id));
    record(
        state,
        Event::OrganizationCreated,
        auth,
        client,
        Concerning::organization(&organization),
    )
    .await;
    Ok((organization, member))
}

pub struct OrganizationChanges<'a> {
    pub name: Option<&'a str>,
    pub slug: Option<&'a str>,
    /// `Some(None)`: remove the logo.
    pub logo: Option<Option<&'a str>>,
    pub metadata: Option<&'a serde_json::Value>,
}

/// Updates an organization (`organization: update`).
pub async fn update(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    changes: OrganizationChanges<'_>,
) -> ApiResult<Organization> {
    let organization_id = named_or_active(organization_id, &auth.session)?;
    let mut conn = connection(state).await?;
    authorized(
        state,
        &mut conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::UserIsNotAMemberOfTheOrganization,
        Needs {
            resource: "organization",
            action: "update",
            denied: ErrorCode::YouAreNotAllowedToUpdateThisOrganization,
        },
    )
    .await?;
    let current = store::find_organization(&mut conn, &organization_id)
        .await?
        .ok_or(ErrorCode::OrganizationNotFound)?;
    let name = changes.name.map(checked_name).transpose()?;
    let slug = changes.slug.map(checked_slug).transpose()?;
    let logo = match changes.logo {
        Some(logo) => checked_image(logo)?,
        None => current.logo.clone(),
    };
    let metadata = match changes.metadata {
        Some(m) => checked_metadata(Some(m))?,
        None => current.metadata.as_ref().map(|m| m.to_string()),
    };
    if let Some(slug) = &slug {
        if let Some(other) = store::find_organization_by_slug(&mut conn, slug).await? {
            if other.id != organization_id {
                return Err(ErrorCode::OrganizationSlugAlreadyTaken.into());
            }
        }
    }
    let updated = store::update_organization(
        &mut conn,
        &organization_id,
        &store::OrganizationUpdate {
            name: name.as_deref().unwrap_or(&current.name),
            slug: slug.as_deref().unwrap_or(&current.slug),
            logo: logo.as_deref(),
            metadata: metadata.as_deref(),
        },
        state.clock.now_ms(),
    )
    .await;
    match updated {
        Err(e) if e.is_unique_violation() => {
            return Err(ErrorCode::OrganizationSlugAlreadyTaken.into())
        }
        other => other?,
    }
    let organization = store::find_organization(&mut conn, &organization_id)
        .await?
        .ok_or(ErrorCode::OrganizationNotFound)?;
    record(
        state,
        Event::OrganizationUpdated,
        auth,
        client,
        Concerning::organization(&organization),
    )
    .await;
    Ok(organization)
}

/// Deletes an organization with its members, invitations, teams and roles (`organization:
/// delete`); sessions that had it active lose it.
pub async fn delete(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: &str,
) -> ApiResult<Organization> {
    let mut conn = connection(state).await?;
    authorized(
        state,
        &mut conn,
        organization_id,
        &auth.user.id,
        ErrorCode::UserIsNotAMemberOfTheOrganization,
        Needs {
            resource: "organization",
            action: "delete",
            denied: ErrorCode::YouAreNotAllowedToDeleteThisOrganization,
        },
    )
    .await?;
    let organization = store::find_organization(&mut conn, organization_id)
        .await?
        .ok_or(ErrorCode::OrganizationNotFound)?;
    store::delete_organization(&mut conn, organization_id).await?;
    // Sessions lost it in the database (ON DELETE SET NULL); cached copies go too.
    state.session_cache.forget_user(&auth.user.id);
    record(
        state,
        Event::OrganizationDeleted,
        auth,
        client,
        Concerning::organization(&organization),
    )
    .await;
    Ok(organization)
}

/// What `set-active` was asked.
pub enum ActiveChoice<'a> {
    /// `organizationId: null`: no active organization.
    Clear,
    Id(&'a str),
    Slug(&'a str),
    /// Nothing named: the current one.
    Current,
}

/// Makes an organization the session's active one (the caller must be a member).
pub async fn set_active(
    state: &AppState,
    auth: &Authenticated,
    choice: ActiveChoice<'_>,
) -> ApiResult<Option<Organization>> {
    let mut conn = connection(state).await?;
    let organization_id = match choice {
        ActiveChoice::Clear => {
            if auth.session.active_organization_id.is_some() {
                sessions::store::set_active(&mut conn, &auth.session.id, None, None).await?;
                forget_sessions(state, std::slice::from_ref(&auth.session.id));
            }
            return Ok(None);
        }
        ActiveChoice::Current => match &auth.session.active_organization_id {
            Some(id) => id.clone(),
            None => return Ok(None),
        },
        ActiveChoice::Id(id) => id.to_owned(),
        ActiveChoice::Slug(slug) => {
            store::find_organization_by_slug(&mut conn, slug)
                .await?
                .ok_or(ErrorCode::OrganizationNotFound)?
                .id
        }
    };
    membership(
        &mut conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::UserIsNotAMemberOfTheOrganization,
    )
    .await?;
    let organization = store::find_organization(&mut conn, &organization_id)
        .await?
        .ok_or(ErrorCode::OrganizationNotFound)?;
    if auth.session.active_organization_id.as_deref() != Some(organization_id.as_str()) {
        sessions::store::set_active(&mut conn, &auth.session.id, Some(&organization_id), None)
            .await?;
        forget_sessions(state, std::slice::from_ref(&auth.session.id));
    }
    store::touch_member(
        &mut conn,
        &organization_id,
        &auth.user.id,
        state.clock.now_ms(),
    )
    .await?;
    Ok(Some(organization))
}

/// At sign-in with `organization.remember_active`: the organization the user last worked in
/// becomes the new session's active one.
pub async fn remember_active(
    state: &AppState,
    session_id: &str,
    user_id: &str,
) -> ApiResult<Option<String>> {
    if !state.config.organization.remember_active {
        return Ok(None);
    }
    let mut conn = connection(state).await?;
    let last = store::last_active_organization(&mut conn, user_id).await?;
    if let Some(organization_id) = &last {
        sessions::store::set_active(&mut conn, session_id, Some(organization_id), None).await?;
    }
    Ok(last)
}

/// The active organization's claims for an access token: id, slug, the member's roles and the
/// active team. None when the session has no active organization or the user left it.
pub async fn token_claims(
    state: &AppState,
    session: &Session,
) -> ApiResult<Option<crate::access_tokens::jwt::OrganizationClaims>> {
    let Some(organization_id) = &session.active_organization_id else {
        return Ok(None);
    };
    let mut conn = connection(state).await?;
    let Some(member) = store::find_member(&mut conn, organization_id, &session.user_id).await?
    else {
        return Ok(None);
    };
    let Some(organization) = store::find_organization(&mut conn, organization_id).await? else {
        return Ok(None);
    };
    Ok(Some(crate::access_tokens::jwt::OrganizationClaims {
        org_id: organization.id,
        org_slug: organization.slug,
        org_role: member.role,
        team_id: session.active_team_id.clone(),
    }))
}

/// What an organization event concerns, for the audit trail: the organization always, and the
/// member, invitation, team or role by id (never a secret).
pub struct Concerning<'a> {
    pub organization_id: &'a str,
    /// The member's user when the caller acted on someone else: the event is about them and the
    /// caller is its actor.
    pub user_id: Option<&'a str>,
    pub detail: String,
}

impl<'a> Concerning<'a> {
    pub fn organization(organization: &'a Organization) -> Self {
        Self::note(&organization.id, format!("slug {}", organization.slug))
    }

    /// A member, with a note such as `role admin`.
    pub fn member(member: &'a Member, note: &str) -> Self {
        Self {
            organization_id: &member.organization_id,
            user_id: Some(&member.user_id),
            detail: format!("member {} {note}", member.id).trim_end().to_owned(),
        }
    }

    pub fn invitation(invitation: &'a model::Invitation) -> Self {
        Self::note(
            &invitation.organization_id,
            format!("invitation {} role {}", invitation.id, invitation.role),
        )
    }

    /// Something else in the organization (`team <id>`, `role <name>`).
    pub fn note(organization_id: &'a str, detail: String) -> Self {
        Self {
            organization_id,
            user_id: None,
            detail,
        }
    }
}

/// Writes an audit event of the caller's, naming the organization and what it concerned.
pub async fn record(
    state: &AppState,
    event: Event,
    auth: &Authenticated,
    client: &ClientInfo,
    about: Concerning<'_>,
) {
    let someone_else = about.user_id.filter(|u| *u != auth.user.id);
    let acted = audit::Acted {
        actor: someone_else.map_or("", |_| auth.user.id.as_str()),
        detail: Some(&about.detail),
    };
    audit::record_in_organization(
        state,
        event,
        Some(someone_else.unwrap_or(&auth.user.id)),
        Some(&auth.session.id),
        &acted,
        about.organization_id,
        client,
    )
    .await;
}
