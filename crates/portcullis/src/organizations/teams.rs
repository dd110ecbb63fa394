//! Teams inside an organization, their members, and each session's active team.

use super::model::{Team, TeamMember};
use super::{
    authorized, connection, membership, named_or_active, record, require, store, Concerning, Needs,
};
use crate::audit::Event;
use crate::crypto::tokens::random_id;
use crate::error::{ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::sessions::{self, Authenticated};
use crate::state::AppState;
use crate::users::profile::checked_name;

/// Creates a team (`team: create`).
pub async fn create(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    name: &str,
) -> ApiResult<Team> {
    let name = checked_name(name)?;
    let organization_id = named_or_active(organization_id, &auth.session)?;
    let mut conn = connection(state).await?;
    authorized(
        state,
        &mut conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
        Needs {
            resource: "team",
            action: "create",
            denied: ErrorCode::YouAreNotAllowedToCreateTeamsInThisOrganization,
        },
    )
    .await?;
    let count = store::count_teams(&mut conn, &organization_id).await?;
    if u64::try_from(count).unwrap_or(u64::MAX) >= state.config.organization.team_limit {
        return Err(ErrorCode::YouHaveReachedTheMaximumNumberOfTeams.into());
    }
    let id = random_id();
    store::insert_team(
        &mut conn,
        &id,
        &organization_id,
        &name,
        state.clock.now_ms(),
    )
    .await?;
    record(
        state,
        Event::TeamChanged,
        auth,
        client,
        Concerning::note(&organization_id, format!("team {id} created")),
    )
    .await;
    Ok(store::find_team(&mut conn, &organization_id, &id)
        .await?
        .ok_or(ErrorCode::TeamNotFound)?)
}

/// The caller's organization for a team operation, checked for `team: <action>`.
async fn managing(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    auth: &Authenticated,
    organization_id: Option<&str>,
    action: &str,
    denied: ErrorCode,
) -> ApiResult<String> {
    let organization_id = named_or_active(organization_id, &auth.session)?;
    authorized(
        state,
        conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
        Needs {
            resource: "team",
            action,
            denied,
        },
    )
    .await?;
    Ok(organization_id)
}

/// Renames a team of the organization (`team: update`).
pub async fn update(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    team_id: &str,
    name: Option<&str>,
) -> ApiResult<Team> {
    let name = name.map(checked_name).transpose()?;
    let mut conn = connection(state).await?;
    let organization_id = managing(
        state,
        &mut conn,
        auth,
        organization_id,
        "update",
        ErrorCode::YouAreNotAllowedToUpdateThisTeam,
    )
    .await?;
    let team = store::find_team(&mut conn, &organization_id, team_id)
        .await?
        .ok_or(ErrorCode::TeamNotFound)?;
    if let Some(name) = name {
        store::rename_team(
            &mut conn,
            &organization_id,
            &team.id,
            &name,
            state.clock.now_ms(),
        )
        .await?;
        record(
            state,
            Event::TeamChanged,
            auth,
            client,
            Concerning::note(&organization_id, format!("team {} renamed", team.id)),
        )
        .await;
    }
    Ok(store::find_team(&mut conn, &organization_id, team_id)
        .await?
        .ok_or(ErrorCode::TeamNotFound)?)
}

/// Deletes a team of the organization (`team: delete`); sessions lose it as active team.
pub async fn remove(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    team_id: &str,
) -> ApiResult<()> {
    let mut conn = connection(state).await?;
    let organization_id = managing(
        state,
        &mut conn,
        auth,
        organization_id,
        "delete",
        ErrorCode::YouAreNotAllowedToDeleteThisTeam,
    )
    .await?;
    if !store::delete_team(&mut conn, &organization_id, team_id).await? {
        return Err(ErrorCode::TeamNotFound.into());
    }
    state.session_cache.forget_user(&auth.user.id);
    record(
        state,
        Event::TeamChanged,
        auth,
        client,
        Concerning::note(&organization_id, format!("team {team_id} deleted")),
    )
    .await;
    Ok(())
}

/// The teams of an organization the caller belongs to.
pub async fn list(
    state: &AppState,
    auth: &Authenticated,
    organization_id: Option<&str>,
) -> ApiResult<Vec<Team>> {
    let organization_id = named_or_active(organization_id, &auth.session)?;
    let mut conn = connection(state).await?;
    membership(
        &mut conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
    )
    .await?;
    Ok(store::list_teams(&mut conn, &organization_id).await?)
}

/// The teams the caller belongs to.
pub async fn list_of_user(state: &AppState, auth: &Authenticated) -> ApiResult<Vec<Team>> {
    let mut conn = connection(state).await?;
    Ok(store::list_user_teams(&mut conn, &auth.user.id).await?)
}

/// Makes a team the caller belongs to the session's active team (and its organization the
/// active organization); `None` clears it.
pub async fn set_active(
    state: &AppState,
    auth: &Authenticated,
    team_id: Option<&str>,
) -> ApiResult<Option<Team>> {
    let mut conn = connection(state).await?;
    let Some(team_id) = team_id else {
        sessions::store::set_active_team(&mut conn, &auth.session.id, None).await?;
        state
            .session_cache
            .forget_sessions(std::slice::from_ref(&auth.session.id));
        return Ok(None);
    };
    let team = store::find_team_anywhere(&mut conn, team_id)
        .await?
        .ok_or(ErrorCode::TeamNotFound)?;
    if !store::is_team_member(&mut conn, &team.id, &auth.user.id).await? {
        return Err(ErrorCode::UserIsNotAMemberOfTheTeam.into());
    }
    membership(
        &mut conn,
        &team.organization_id,
        &auth.user.id,
        ErrorCode::UserIsNotAMemberOfTheTeam,
    )
    .await?;
    sessions::store::set_active(
        &mut conn,
        &auth.session.id,
        Some(&team.organization_id),
        Some(&team.id),
    )
    .await?;
    state
        .session_cache
        .forget_sessions(std::slice::from_ref(&auth.session.id));
    Ok(Some(team))
}

/// The members of a team the caller belongs to (the active team unless named).
pub async fn members(
    state: &AppState,
    auth: &Authenticated,
    team_id: Option<&str>,
) -> ApiResult<Vec<TeamMember>> {
    let team_id = team_id
        .map(str::to_owned)
        .or_else(|| auth.session.active_team_id.clone())
        .ok_or(ErrorCode::YouDoNotHaveAnActiveTeam)?;
    let mut conn = connection(state).await?;
    if !store::is_team_member(&mut conn, &team_id, &auth.user.id).await? {
        return Err(ErrorCode::UserIsNotAMemberOfTheTeam.into());
    }
    Ok(store::list_team_members(&mut conn, &team_id).await?)
}

/// Adds a member of the organization to one of its teams (`member: update`), or removes one
/// (`member: delete`).
pub async fn change_member(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    team_id: &str,
    user_id: &str,
    add: bool,
) -> ApiResult<Option<TeamMember>> {
    let mut conn = connection(state).await?;
    let team = store::find_team_anywhere(&mut conn, team_id)
        .await?
        .ok_or(ErrorCode::TeamNotFound)?;
    // A team of an organization the caller is not in is answered as if it did not exist.
    let me = store::find_member(&mut conn, &team.organization_id, &auth.user.id)
        .await?
        .ok_or(ErrorCode::TeamNotFound)?;
    let (action, denied) = if add {
        ("update", ErrorCode::YouAreNotAllowedToCreateANewTeamMember)
    } else {
        ("delete", ErrorCode::YouAreNotAllowedToRemoveATeamMember)
    };
    require(state, &mut conn, &me, "member", action, denied).await?;
    let changed = if add {
        store::find_member(&mut conn, &team.organization_id, user_id)
            .await?
            .ok_or(ErrorCode::UserIsNotAMemberOfTheOrganization)?;
        let member = store::add_team_member(
            &mut conn,
            &random_id(),
            &team.id,
            user_id,
            state.clock.now_ms(),
        )
        .await?;
        Some(member)
    } else {
        if !store::remove_team_member(&mut conn, &team.id, user_id).await? {
            return Err(ErrorCode::UserIsNotAMemberOfTheTeam.into());
        }
        None
    };
    let about = Concerning {
        user_id: Some(user_id),
        ..Concerning::note(
            &team.organization_id,
            format!(
                "team {} member {}",
                team.id,
                if add { "added" } else { "removed" }
            ),
        )
    };
    record(state, Event::TeamChanged, auth, client, about).await;
    Ok(changed)
}
