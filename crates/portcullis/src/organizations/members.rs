//! Members: the full organization, member pages, roles, removal, leaving, the active member, and
//! permission questions.

use portcullis_access::Request;

use super::member_pages::CachedPage;
use super::model::{Invitation, Member, Organization, Team};
use super::store::{FilterOperator, MemberField, MemberFilter, MemberPage};
use super::{
    access, authorized, checked_roles, checked_slug, connection, may, membership, named_or_active,
    owner_count, record, require, roles_for, store, Concerning, Needs,
};
use crate::audit::{self, Event};
use crate::db::Context as _;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::sessions::{self, Authenticated};
use crate::state::AppState;

/// Members a page shows unless asked otherwise (better-auth's default).
pub const DEFAULT_PAGE: i64 = 100;
/// The most members one page may show.
pub const MAX_PAGE: i64 = 1000;

pub struct FullOrganization {
    pub organization: Organization,
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
    pub teams: Vec<Team>,
}

/// Which organization a read names: a slug, an id, or the session's active one (`None` when
/// there is none).
pub async fn resolve(
    conn: &mut sqlx::AnyConnection,
    auth: &Authenticated,
    id: Option<&str>,
    slug: Option<&str>,
) -> ApiResult<Option<String>> {
    if let Some(slug) = slug.filter(|s| !s.is_empty()) {
        return Ok(Some(
            store::find_organization_by_slug(conn, slug)
                .await?
                .ok_or(ErrorCode::OrganizationNotFound)?
                .id,
        ));
    }
    Ok(id
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .or_else(|| auth.session.active_organization_id.clone()))
}

/// The organization with its first members (and their users), its invitations (for those who
/// may invite; invitations granting the owner role only for owners) and its teams.
pub async fn full(
    state: &AppState,
    auth: &Authenticated,
    id: Option<&str>,
    slug: Option<&str>,
    members_limit: Option<i64>,
) -> ApiResult<Option<FullOrganization>> {
    let mut conn = connection(state).await?;
    let Some(organization_id) = resolve(&mut conn, auth, id, slug).await? else {
        return Ok(None);
    };
    let me = membership(
        &mut conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::UserIsNotAMemberOfTheOrganization,
    )
    .await?;
    let organization = store::find_organization(&mut conn, &organization_id)
        .await?
        .ok_or(ErrorCode::OrganizationNotFound)?;
    let limit = members_limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid("membersLimit must be 1 to 1000"));
    }
    let (members, _) = store::list_members(
        &mut conn,
        &organization_id,
        &MemberPage {
            limit,
            offset: 0,
            sort: MemberField::CreatedAt,
            descending: false,
            filter: None,
        },
    )
    .await?;
    let invitations = visible_invitations(state, &mut conn, &me).await?;
    let teams = store::list_teams(&mut conn, &organization_id).await?;
    Ok(Some(FullOrganization {
        organization,
        members,
        invitations,
        teams,
    }))
}

/// The organization's invitations as `me` may see them: none without `invitation: create`;
/// those granting the owner role only to owners.
pub async fn visible_invitations(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    me: &Member,
) -> ApiResult<Vec<Invitation>> {
    if !may(state, conn, me, &access::ask("invitation", "create")).await? {
        return Ok(Vec::new());
    }
    let owner = access::is_owner(&me.role);
    Ok(store::list_invitations(conn, &me.organization_id)
        .await?
        .into_iter()
        .filter(|i| owner || !access::is_owner(&i.role))
        .collect())
}

pub async fn list_organizations(
    state: &AppState,
    auth: &Authenticated,
) -> ApiResult<Vec<Organization>> {
    let mut conn = connection(state).await?;
    Ok(store::list_organizations_of_user(&mut conn, &auth.user.id).await?)
}

/// 400 ORGANIZATION_SLUG_ALREADY_TAKEN if taken.
pub async fn check_slug(state: &AppState, slug: &str) -> ApiResult<()> {
    let slug = checked_slug(slug)?;
    let mut conn = connection(state).await?;
    if store::find_organization_by_slug(&mut conn, &slug)
        .await?
        .is_some()
    {
        return Err(ErrorCode::OrganizationSlugAlreadyTaken.into());
    }
    Ok(())
}

/// A members page as asked (better-auth's `list-members` query).
pub struct PageQuery<'a> {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub sort_by: Option<&'a str>,
    pub descending: bool,
    pub filter_field: Option<&'a str>,
    pub filter_value: Option<&'a str>,
    pub filter_operator: Option<&'a str>,
}

fn invalid(message: &'static str) -> ApiError {
    ApiError::from(ErrorCode::ValidationError).with_message(message)
}

impl PageQuery<'_> {
    fn checked(&self) -> ApiResult<MemberPage> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid("limit must be 1 to 1000"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(invalid("offset must not be negative"));
        }
        let sort = match self.sort_by {
            None => MemberField::CreatedAt,
            Some(field) => MemberField::parse(field).ok_or_else(|| {
                invalid("sortBy must be id, userId, role, createdAt, email or name")
            })?,
        };
        let filter = match self.filter_field {
            None => None,
            Some(field) => {
                let field = MemberField::parse(field).ok_or_else(|| {
                    invalid("filterField must be id, userId, role, createdAt, email or name")
                })?;
                let operator = match self.filter_operator {
                    None => FilterOperator::Eq,
                    Some(op) => FilterOperator::parse(op).ok_or_else(|| {
                        invalid("filterOperator must be eq, ne, lt, lte, gt, gte, in, not_in, contains, starts_with or ends_with")
                    })?,
                };
                let value = self
                    .filter_value
                    .ok_or_else(|| invalid("filterValue is required with filterField"))?;
                let values = if matches!(operator, FilterOperator::In | FilterOperator::NotIn) {
                    value.split(',').map(|v| v.trim().to_owned()).collect()
                } else {
                    vec![value.to_owned()]
                };
                if values.len() > 100 {
                    return Err(invalid("filterValue lists at most 100 values"));
                }
                Some(MemberFilter {
                    field,
                    operator,
                    values,
                })
            }
        };
        Ok(MemberPage {
            limit,
            offset,
            sort,
            descending: self.descending,
            filter,
        })
    }
}

/// A page of members with their users, as a JSON array (see `store::list_members_json`), and
/// how many match in all.
pub async fn list_members(
    state: &AppState,
    auth: &Authenticated,
    id: Option<&str>,
    slug: Option<&str>,
    query: &PageQuery<'_>,
) -> ApiResult<(String, i64)> {
    let page = query.checked()?;
    let mut conn = connection(state).await?;
    let organization_id = resolve(&mut conn, auth, id, slug)
        .await?
        .ok_or(ErrorCode::NoActiveOrganization)?;
    let version = store::members_version_for_member(&mut conn, &organization_id, &auth.user.id)
        .await?
        .ok_or(ErrorCode::YouAreNotAMemberOfThisOrganization)?;
    let key = page.key(&organization_id);
    if let Some(kept) = state.member_pages.get(&key, version) {
        metrics::counter!("organization_member_pages_total", "answered" => "kept").increment(1);
        return Ok((kept.members.clone(), kept.total));
    }
    let (members, total, read_at) =
        store::list_members_json(&mut conn, &organization_id, &page).await?;
    metrics::counter!("organization_member_pages_total", "answered" => "read").increment(1);
    state.member_pages.put(
        key,
        CachedPage {
            version: read_at,
            members: members.clone(),
            total,
        },
    );
    Ok((members, total))
}

/// 403 with `denied` unless `me` may change or remove `target`: an owner only if `me` is one,
/// another admin only with `member: manage-admins` (owners have it, admins do not).
async fn may_handle(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    me: &Member,
    target: &Member,
    denied: ErrorCode,
) -> ApiResult<()> {
    if access::is_owner(&target.role) && !access::is_owner(&me.role) {
        return Err(denied.into());
    }
    if access::is_admin(&target.role) && target.id != me.id {
        require(state, conn, me, "member", access::MANAGE_ADMINS, denied).await?;
    }
    Ok(())
}

/// 403 with `denied` unless `me` may give the roles `role_list`: the owner role only an owner,
/// and roles that manage admins only someone who may (else an admin could hand themselves such
/// a role and so get round `may_handle`).
pub async fn may_grant(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    me: &Member,
    role_list: &str,
    denied: ErrorCode,
) -> ApiResult<()> {
    if access::is_owner(role_list) && !access::is_owner(&me.role) {
        return Err(denied.into());
    }
    let manage = access::ask("member", access::MANAGE_ADMINS);
    let granted = roles_for(state, conn, &me.organization_id, role_list).await?;
    if access::allows(&granted, role_list, &manage) && !may(state, conn, me, &manage).await? {
        return Err(denied.into());
    }
    Ok(())
}

/// Removes a member (`member: delete`). Only owners remove owners, only those who may manage
/// admins remove another admin; the last owner stays.
pub async fn remove(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    member_id_or_email: &str,
) -> ApiResult<Member> {
    let organization_id = named_or_active(organization_id, &auth.session)?;
    let mut tx = state.db.begin("organizations: remove member").await?;
    // The lock comes first: owner counts below see every concurrent change, and SQLite's
    // transaction is a writer from its first statement.
    store::lock_organization(&mut tx, &organization_id).await?;
    let me = authorized(
        state,
        &mut tx,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
        Needs {
            resource: "member",
            action: "delete",
            denied: ErrorCode::YouAreNotAllowedToDeleteThisMember,
        },
    )
    .await?;
    let target = store::find_member_by_id_or_email(&mut tx, &organization_id, member_id_or_email)
        .await?
        .ok_or(ErrorCode::MemberNotFound)?;
    may_handle(
        state,
        &mut tx,
        &me,
        &target,
        ErrorCode::YouAreNotAllowedToDeleteThisMember,
    )
    .await?;
    if access::is_owner(&target.role) && owner_count(&mut tx, &organization_id).await? <= 1 {
        return Err(ErrorCode::YouCannotLeaveTheOrganizationAsTheOnlyOwner.into());
    }
    store::delete_member(&mut tx, &organization_id, &target.id, &target.user_id).await?;
    let cleared =
        sessions::store::clear_active_organization(&mut tx, &target.user_id, &organization_id)
            .await?;
    tx.commit().await.context("organizations: remove member")?;
    state.session_cache.forget_sessions(&cleared);
    record(
        state,
        Event::MemberRemoved,
        auth,
        client,
        Concerning::member(&target, "removed"),
    )
    .await;
    Ok(target)
}

/// Changes a member's roles (`member: update`; owners always may). Only owners grant or change
/// the owner role, only those who may manage admins change another admin; the last owner keeps
/// it.
pub async fn update_role(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: Option<&str>,
    member_id: &str,
    roles: &[String],
) -> ApiResult<Member> {
    let organization_id = named_or_active(organization_id, &auth.session)?;
    let mut tx = state.db.begin("organizations: update member role").await?;
    store::lock_organization(&mut tx, &organization_id).await?;
    let me = membership(
        &mut tx,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
    )
    .await?;
    if !access::is_owner(&me.role) {
        require(
            state,
            &mut tx,
            &me,
            "member",
            "update",
            ErrorCode::YouAreNotAllowedToUpdateThisMember,
        )
        .await?;
    }
    let role = checked_roles(state, &mut tx, &organization_id, roles).await?;
    let target = store::find_member_by_id_or_email(&mut tx, &organization_id, member_id)
        .await?
        .filter(|m| m.id == member_id)
        .ok_or(ErrorCode::MemberNotFound)?;
    let denied = ErrorCode::YouAreNotAllowedToUpdateThisMember;
    may_handle(state, &mut tx, &me, &target, denied).await?;
    may_grant(state, &mut tx, &me, &role, denied).await?;
    let was_owner = access::is_owner(&target.role);
    let becomes_owner = access::is_owner(&role);
    if was_owner && !becomes_owner && owner_count(&mut tx, &organization_id).await? <= 1 {
        return Err(ErrorCode::YouCannotLeaveTheOrganizationWithoutAnOwner.into());
    }
    store::update_member_role(&mut tx, &organization_id, &target.id, &role).await?;
    tx.commit()
        .await
        .context("organizations: update member role")?;
    let note = format!("role {} -> {role}", target.role);
    let updated = Member { role, ..target };
    record(
        state,
        Event::MemberRoleChanged,
        auth,
        client,
        Concerning::member(&updated, &note),
    )
    .await;
    Ok(updated)
}

/// Leaves an organization; the last owner cannot.
pub async fn leave(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    organization_id: &str,
) -> ApiResult<Member> {
    let mut tx = state.db.begin("organizations: leave").await?;
    store::lock_organization(&mut tx, organization_id).await?;
    let me = store::find_member(&mut tx, organization_id, &auth.user.id)
        .await?
        .ok_or(ErrorCode::MemberNotFound)?;
    if access::is_owner(&me.role) && owner_count(&mut tx, organization_id).await? <= 1 {
        return Err(ErrorCode::YouCannotLeaveTheOrganizationAsTheOnlyOwner.into());
    }
    store::delete_member(&mut tx, organization_id, &me.id, &me.user_id).await?;
    let cleared =
        sessions::store::clear_active_organization(&mut tx, &auth.user.id, organization_id).await?;
    tx.commit().await.context("organizations: leave")?;
    state.session_cache.forget_sessions(&cleared);
    record(
        state,
        Event::MemberRemoved,
        auth,
        client,
        Concerning::member(&me, "left"),
    )
    .await;
    Ok(me)
}

/// The memberships a user's deletion ends, read before the user row goes (the foreign keys remove
/// the memberships with it), so that each organization's trail records the departure and says
/// when it took the last owner: such an organization keeps its admins, and only the trail tells
/// the operator that it needs an owner again.
pub struct EndedByDeletion {
    /// Each membership, and whether its user was the organization's only owner.
    departures: Vec<(Member, bool)>,
}

pub async fn ended_by_deletion(state: &AppState, user_id: &str) -> ApiResult<EndedByDeletion> {
    let mut conn = connection(state).await?;
    let memberships = store::list_memberships_of_user(&mut conn, user_id).await?;
    let mut departures = Vec::with_capacity(memberships.len());
    for member in memberships {
        let last_owner = access::is_owner(&member.role)
            && owner_count(&mut conn, &member.organization_id).await? <= 1;
        departures.push((member, last_owner));
    }
    Ok(EndedByDeletion { departures })
}

impl EndedByDeletion {
    /// Writes `member_removed` to each organization's trail, once the user is deleted. `actor` is
    /// who deleted them (empty: the user themselves).
    pub async fn record(&self, state: &AppState, actor: &str, client: &ClientInfo) {
        for (member, last_owner) in &self.departures {
            let note = if *last_owner {
                "account deleted, the last owner"
            } else {
                "account deleted"
            };
            let about = Concerning::member(member, note);
            let acted = audit::Acted {
                actor,
                detail: Some(&about.detail),
            };
            audit::record_in_organization(
                state,
                Event::MemberRemoved,
                Some(&member.user_id),
                None,
                &acted,
                &member.organization_id,
                client,
            )
            .await;
        }
    }
}

/// The caller's membership of the active organization.
pub async fn active_member(state: &AppState, auth: &Authenticated) -> ApiResult<Member> {
    let organization_id = named_or_active(None, &auth.session)?;
    let mut conn = connection(state).await?;
    Ok(
        store::find_member(&mut conn, &organization_id, &auth.user.id)
            .await?
            .ok_or(ErrorCode::MemberNotFound)?,
    )
}

/// The roles of the caller (or of `user_id`, a member too) in an organization.
pub async fn member_role(
    state: &AppState,
    auth: &Authenticated,
    user_id: Option<&str>,
    id: Option<&str>,
    slug: Option<&str>,
) -> ApiResult<String> {
    let mut conn = connection(state).await?;
    let organization_id = resolve(&mut conn, auth, id, slug)
        .await?
        .ok_or(ErrorCode::NoActiveOrganization)?;
    let me = membership(
        &mut conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
    )
    .await?;
    match user_id.filter(|u| *u != auth.user.id) {
        None => Ok(me.role),
        Some(other) => Ok(membership(
            &mut conn,
            &organization_id,
            other,
            ErrorCode::YouAreNotAMemberOfThisOrganization,
        )
        .await?
        .role),
    }
}

/// Whether the caller may do `request` in an organization.
pub async fn has_permission(
    state: &AppState,
    auth: &Authenticated,
    organization_id: Option<&str>,
    request: &Request,
) -> ApiResult<bool> {
    let organization_id = named_or_active(organization_id, &auth.session)?;
    let mut conn = connection(state).await?;
    let me = membership(
        &mut conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::UserIsNotAMemberOfTheOrganization,
    )
    .await?;
    may(state, &mut conn, &me, request).await
}
