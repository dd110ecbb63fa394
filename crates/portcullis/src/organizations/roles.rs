//! Roles an organization defines for itself (better-auth's dynamic access control). A role may
//! only grant declared actions, and only those the member creating or changing it holds: nobody
//! grants more than they have.

use portcullis_access::Statements;

use super::model::OrganizationRole;
use super::{
    access, authorized, connection, may, named_or_active, record, store, Concerning, Needs,
};
use crate::audit::Event;
use crate::crypto::tokens::random_id;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::sessions::Authenticated;
use crate::state::AppState;

/// Names are stored lower-case, as better-auth does.
fn normalized(name: &str) -> ApiResult<String> {
    let name = name.trim().to_lowercase();
    if !access::valid_role_name(&name) {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("role must be 1 to 64 letters, digits, '-' or '_'"));
    }
    Ok(name)
}

/// The caller's membership, checked for `ac: <action>`.
async fn acting(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    auth: &Authenticated,
    organization_id: Option<&str>,
    action: &str,
    denied: ErrorCode,
) -> ApiResult<super::model::Member> {
    let organization_id = named_or_active(organization_id, &auth.session)?;
    let me = authorized(
        state,
        conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
        Needs {
            resource: "ac",
            action,
            denied,
        },
    )
    .await?;
    Ok(me)
}

/// Grants must be declared and held by `me`, one by one.
async fn checked_grants(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    me: &super::model::Member,
    permission: &Statements,
    denied: ErrorCode,
) -> ApiResult<()> {
    if state.access.checked_role(permission.clone()).is_none() {
        return Err(ErrorCode::InvalidResource.into());
    }
    for (resource, actions) in permission.resources() {
        for action in actions {
            if !may(state, conn, me, &access::ask(resource, action)).await? {
                return Err(ApiError::from(denied)
                    .with_message(format!("You do not hold {resource}:{action}")));
            }
        }
    }
    Ok(())
}

pub async fn create(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    name: &str,
    permission: &Statements,
) -> ApiResult<OrganizationRole> {
    let name = normalized(name)?;
    let mut conn = connection(state).await?;
    let me = acting(
        state,
        &mut conn,
        auth,
        organization_id,
        "create",
        ErrorCode::YouAreNotAllowedToCreateARole,
    )
    .await?;
    if state.access.is_static_role(&name) {
        return Err(ErrorCode::RoleNameIsAlreadyTaken.into());
    }
    let count = store::count_roles(&mut conn, &me.organization_id).await?;
    if u64::try_from(count).unwrap_or(u64::MAX) >= state.config.organization.role_limit {
        return Err(ErrorCode::TooManyRoles.into());
    }
    checked_grants(
        state,
        &mut conn,
        &me,
        permission,
        ErrorCode::YouAreNotAllowedToCreateARole,
    )
    .await?;
    let id = random_id();
    let json = serde_json::to_string(permission).map_err(ApiError::internal)?;
    let inserted = store::insert_role(
        &mut conn,
        &id,
        &me.organization_id,
        &name,
        &json,
        state.clock.now_ms(),
    )
    .await;
    match inserted {
        Err(e) if e.is_unique_violation() => return Err(ErrorCode::RoleNameIsAlreadyTaken.into()),
        other => other?,
    }
    record(
        state,
        Event::OrganizationRoleChanged,
        auth,
        client,
        Concerning::note(&me.organization_id, format!("role {name} created")),
    )
    .await;
    Ok(
        store::find_role(&mut conn, &me.organization_id, Some(&id), None)
            .await?
            .ok_or(ErrorCode::RoleNotFound)?,
    )
}

/// A role named by id or by name.
pub struct RoleRef<'a> {
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
}

impl RoleRef<'_> {
    fn checked(&self) -> ApiResult<(Option<&str>, Option<String>)> {
        let name = self.name.map(|n| n.trim().to_lowercase());
        if self.id.is_none() && name.is_none() {
            return Err(ApiError::from(ErrorCode::ValidationError)
                .with_message("roleName or roleId is required"));
        }
        Ok((self.id, name))
    }
}

pub async fn update(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    which: RoleRef<'_>,
    new_name: Option<&str>,
    permission: Option<&Statements>,
) -> ApiResult<OrganizationRole> {
    let (id, name) = which.checked()?;
    let new_name = new_name.map(normalized).transpose()?;
    let mut conn = connection(state).await?;
    let me = acting(
        state,
        &mut conn,
        auth,
        organization_id,
        "update",
        ErrorCode::YouAreNotAllowedToUpdateARole,
    )
    .await?;
    let role = store::find_role(&mut conn, &me.organization_id, id, name.as_deref())
        .await?
        .ok_or(ErrorCode::RoleNotFound)?;
    if let Some(permission) = permission {
        checked_grants(
            state,
            &mut conn,
            &me,
            permission,
            ErrorCode::YouAreNotAllowedToUpdateARole,
        )
        .await?;
    }
    if let Some(new_name) = &new_name {
        if state.access.is_static_role(new_name) {
            return Err(ErrorCode::RoleNameIsAlreadyTaken.into());
        }
    }
    let json = match permission {
        Some(p) => serde_json::to_string(p).map_err(ApiError::internal)?,
        None => role.permission.to_string(),
    };
    let updated = store::update_role(
        &mut conn,
        &me.organization_id,
        &role.id,
        new_name.as_deref().unwrap_or(&role.role),
        &json,
        state.clock.now_ms(),
    )
    .await;
    match updated {
        Err(e) if e.is_unique_violation() => return Err(ErrorCode::RoleNameIsAlreadyTaken.into()),
        other => other?,
    }
    record(
        state,
        Event::OrganizationRoleChanged,
        auth,
        client,
        Concerning::note(&me.organization_id, format!("role {} updated", role.role)),
    )
    .await;
    Ok(
        store::find_role(&mut conn, &me.organization_id, Some(&role.id), None)
            .await?
            .ok_or(ErrorCode::RoleNotFound)?,
    )
}

pub async fn delete(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    which: RoleRef<'_>,
) -> ApiResult<()> {
    let (id, name) = which.checked()?;
    let mut conn = connection(state).await?;
    let me = acting(
        state,
        &mut conn,
        auth,
        organization_id,
        "delete",
        ErrorCode::YouAreNotAllowedToDeleteARole,
    )
    .await?;
    if name
        .as_deref()
        .is_some_and(|n| state.access.is_static_role(n))
    {
        return Err(ErrorCode::CannotDeleteAPreDefinedRole.into());
    }
    let role = store::find_role(&mut conn, &me.organization_id, id, name.as_deref())
        .await?
        .ok_or(ErrorCode::RoleNotFound)?;
    let assigned = store::role_lists_mentioning(&mut conn, &me.organization_id, &role.role)
        .await?
        .iter()
        .any(|list| portcullis_access::parse_role_list(list).contains(&role.role));
    if assigned {
        return Err(ErrorCode::RoleIsAssignedToMembers.into());
    }
    store::delete_role(&mut conn, &me.organization_id, &role.id).await?;
    record(
        state,
        Event::OrganizationRoleChanged,
        auth,
        client,
        Concerning::note(&me.organization_id, format!("role {} deleted", role.role)),
    )
    .await;
    Ok(())
}

pub async fn list(
    state: &AppState,
    auth: &Authenticated,
    organization_id: Option<&str>,
) -> ApiResult<Vec<OrganizationRole>> {
    let mut conn = connection(state).await?;
    let me = acting(
        state,
        &mut conn,
        auth,
        organization_id,
        "read",
        ErrorCode::YouAreNotAllowedToListARole,
    )
    .await?;
    Ok(store::list_roles(&mut conn, &me.organization_id).await?)
}

pub async fn get(
    state: &AppState,
    auth: &Authenticated,
    organization_id: Option<&str>,
    which: RoleRef<'_>,
) -> ApiResult<OrganizationRole> {
    let (id, name) = which.checked()?;
    let mut conn = connection(state).await?;
    let me = acting(
        state,
        &mut conn,
        auth,
        organization_id,
        "read",
        ErrorCode::YouAreNotAllowedToReadARole,
    )
    .await?;
    Ok(
        store::find_role(&mut conn, &me.organization_id, id, name.as_deref())
            .await?
            .ok_or(ErrorCode::RoleNotFound)?,
    )
}
