//! The organization endpoints of better-auth's organization plugin (`/organization/*`).

use axum::extract::State;
use axum::Json;
use portcullis_access::{Request, Statements};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{Invitation, Member, Organization, OrganizationRole, Team, TeamMember};
use super::{invitations, members, roles, teams};
use crate::api_errors;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::answers::{StatusAnswer, SuccessAnswer};
use crate::http::client::ClientInfo;
use crate::http::json::{JsonBody, QueryParams};
use crate::i18n::Requested;
use crate::sessions::extract::CurrentSession;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(update))
        .routes(routes!(delete))
        .routes(routes!(set_active))
        .routes(routes!(get_full_organization))
        .routes(routes!(list))
        .routes(routes!(check_slug))
        .routes(routes!(list_members))
        .routes(routes!(remove_member))
        .routes(routes!(update_member_role))
        .routes(routes!(leave))
        .routes(routes!(get_active_member))
        .routes(routes!(get_active_member_role))
        .routes(routes!(has_permission))
        .routes(routes!(invite_member))
        .routes(routes!(accept_invitation))
        .routes(routes!(reject_invitation))
        .routes(routes!(cancel_invitation))
        .routes(routes!(get_invitation))
        .routes(routes!(list_invitations))
        .routes(routes!(list_user_invitations))
        .routes(routes!(create_team))
        .routes(routes!(update_team))
        .routes(routes!(remove_team))
        .routes(routes!(list_teams))
        .routes(routes!(list_user_teams))
        .routes(routes!(set_active_team))
        .routes(routes!(list_team_members))
        .routes(routes!(add_team_member))
        .routes(routes!(remove_team_member))
        .routes(routes!(create_role))
        .routes(routes!(update_role))
        .routes(routes!(delete_role))
        .routes(routes!(list_roles))
        .routes(routes!(get_role))
}

/// A field that may be absent, `null` or a value, the three kept apart.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// One value or a list of them (`role: "admin"` or `role: ["admin", "sales"]`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

fn statements(value: serde_json::Value) -> ApiResult<Statements> {
    serde_json::from_value(value).map_err(|_| {
        ApiError::from(ErrorCode::ValidationError)
            .with_message("permission must be an object of resources to lists of actions")
    })
}

// ---- organizations

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    #[schema(min_length = 1, max_length = 256)]
    name: String,
    #[schema(min_length = 1, max_length = 128)]
    slug: String,
    logo: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    keep_current_active_organization: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreateAnswer {
    #[serde(flatten)]
    organization: Organization,
    members: Vec<Member>,
}

api_errors!(CreateErrors, POST_JSON; Unauthorized, InvalidName, InvalidImage, OrganizationAlreadyExists,
    YouAreNotAllowedToCreateANewOrganization, YouHaveReachedTheMaximumNumberOfOrganizations);

/// Creates an organization; the caller becomes its owner and (unless
/// `keepCurrentActiveOrganization`) it becomes the session's active organization.
#[utoipa::path(post, path = "/organization/create", tag = "organizations", request_body = CreateBody,
    responses((status = 200, description = "The new organization with its owner", body = CreateAnswer), CreateErrors))]
async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Json<CreateAnswer>> {
    let (organization, member) = super::create(
        &state,
        &auth,
        &client,
        super::NewOrganization {
            name: &body.name,
            slug: &body.slug,
            logo: body.logo.as_deref(),
            metadata: body.metadata.as_ref(),
            keep_current_active: body.keep_current_active_organization,
        },
    )
    .await?;
    Ok(Json(CreateAnswer {
        organization,
        members: vec![member],
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateData {
    #[schema(min_length = 1, max_length = 256)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    slug: Option<String>,
    /// A URL, or `null` to remove the logo.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    logo: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    data: UpdateData,
    /// Default: the active organization.
    organization_id: Option<String>,
}

api_errors!(UpdateErrors, POST_JSON; Unauthorized, InvalidName, InvalidImage, NoActiveOrganization, OrganizationNotFound,
    UserIsNotAMemberOfTheOrganization, YouAreNotAllowedToUpdateThisOrganization, OrganizationSlugAlreadyTaken);

/// Updates an organization's name, slug, logo or metadata (`organization: update`).
#[utoipa::path(post, path = "/organization/update", tag = "organizations", request_body = UpdateBody,
    responses((status = 200, description = "The updated organization", body = Organization), UpdateErrors))]
async fn update(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<UpdateBody>,
) -> ApiResult<Json<Organization>> {
    let data = body.data;
    let organization = super::update(
        &state,
        &auth,
        &client,
        body.organization_id.as_deref(),
        super::OrganizationChanges {
            name: data.name.as_deref(),
            slug: data.slug.as_deref(),
            logo: data.logo.as_ref().map(|l| l.as_deref()),
            metadata: data.metadata.as_ref(),
        },
    )
    .await?;
    Ok(Json(organization))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationIdBody {
    #[schema(min_length = 1)]
    organization_id: String,
}

api_errors!(DeleteErrors, POST_JSON; Unauthorized, OrganizationNotFound, UserIsNotAMemberOfTheOrganization,
    YouAreNotAllowedToDeleteThisOrganization);

/// Deletes an organization with its members, invitations, teams and roles
/// (`organization: delete`).
#[utoipa::path(post, path = "/organization/delete", tag = "organizations", request_body = OrganizationIdBody,
    responses((status = 200, description = "The deleted organization", body = Organization), DeleteErrors))]
async fn delete(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<OrganizationIdBody>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(
        super::delete(&state, &auth, &client, &body.organization_id).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetActiveBody {
    /// An organization id, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    organization_id: Option<Option<String>>,
    organization_slug: Option<String>,
}

api_errors!(SetActiveErrors, POST_JSON; Unauthorized, OrganizationNotFound, UserIsNotAMemberOfTheOrganization);

/// Sets (or, with `organizationId: null`, clears) the session's active organization; access
/// tokens issued afterwards carry it.
#[utoipa::path(post, path = "/organization/set-active", tag = "organizations", request_body = SetActiveBody,
    responses((status = 200, description = "The active organization, or null", body = Option<Organization>), SetActiveErrors))]
async fn set_active(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<SetActiveBody>,
) -> ApiResult<Json<Option<Organization>>> {
    let choice = match (&body.organization_id, &body.organization_slug) {
        (Some(None), _) => super::ActiveChoice::Clear,
        (Some(Some(id)), _) => super::ActiveChoice::Id(id),
        (None, Some(slug)) => super::ActiveChoice::Slug(slug),
        (None, None) => super::ActiveChoice::Current,
    };
    Ok(Json(super::set_active(&state, &auth, choice).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct FullQuery {
    organization_id: Option<String>,
    organization_slug: Option<String>,
    /// Members to include (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    members_limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FullAnswer {
    #[serde(flatten)]
    organization: Organization,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    teams: Vec<Team>,
}

api_errors!(FullErrors, ANY; Unauthorized, ValidationError, OrganizationNotFound, UserIsNotAMemberOfTheOrganization);

/// The organization (by slug, id, or the active one) with its members and their users, its
/// invitations (for members who may invite) and its teams; `null` without an active one.
#[utoipa::path(get, path = "/organization/get-full-organization", tag = "organizations", params(FullQuery),
    responses((status = 200, description = "The organization, or null", body = Option<FullAnswer>), FullErrors))]
async fn get_full_organization(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<FullQuery>,
) -> ApiResult<Json<Option<FullAnswer>>> {
    let full = members::full(
        &state,
        &auth,
        query.organization_id.as_deref(),
        query.organization_slug.as_deref(),
        query.members_limit,
    )
    .await?;
    Ok(Json(full.map(|f| FullAnswer {
        organization: f.organization,
        members: f.members,
        invitations: f.invitations,
        teams: f.teams,
    })))
}

api_errors!(ListErrors, ANY; Unauthorized);

/// The organizations the caller is a member of.
#[utoipa::path(get, path = "/organization/list", tag = "organizations",
    responses((status = 200, description = "The caller's organizations", body = Vec<Organization>), ListErrors))]
async fn list(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> ApiResult<Json<Vec<Organization>>> {
    Ok(Json(members::list_organizations(&state, &auth).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SlugBody {
    #[schema(min_length = 1, max_length = 128)]
    slug: String,
}

api_errors!(CheckSlugErrors, POST_JSON; Unauthorized, OrganizationSlugAlreadyTaken);

/// `{"status": true}` when the slug is free.
#[utoipa::path(post, path = "/organization/check-slug", tag = "organizations", request_body = SlugBody,
    responses((status = 200, description = "The slug is free", body = StatusAnswer), CheckSlugErrors))]
async fn check_slug(
    State(state): State<AppState>,
    CurrentSession(_auth): CurrentSession,
    JsonBody(body): JsonBody<SlugBody>,
) -> ApiResult<Json<StatusAnswer>> {
    members::check_slug(&state, &body.slug).await?;
    Ok(Json(StatusAnswer::OK))
}

// ---- members

#[derive(Deserialize, utoipa::ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListMembersQuery {
    /// Members per page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// id, userId, role, createdAt (default), email or name.
    sort_by: Option<String>,
    #[param(inline)]
    sort_direction: Option<SortDirection>,
    /// id, userId, role, createdAt (unix ms), email or name.
    filter_field: Option<String>,
    /// The value; for `in` and `not_in` a comma-separated list.
    filter_value: Option<String>,
    /// eq (default), ne, lt, lte, gt, gte, in, not_in, contains, starts_with, ends_with.
    filter_operator: Option<String>,
    organization_id: Option<String>,
    organization_slug: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MembersAnswer {
    /// The page's members, as the database wrote them (`store::list_members_json`).
    #[schema(value_type = Vec<Member>)]
    members: Box<serde_json::value::RawValue>,
    /// Members matching the filter, in all pages.
    total: i64,
}

api_errors!(ListMembersErrors, ANY; Unauthorized, ValidationError, NoActiveOrganization, OrganizationNotFound,
    YouAreNotAMemberOfThisOrganization);

/// A page of an organization's members with their users, and the total.
#[utoipa::path(get, path = "/organization/list-members", tag = "organizations", params(ListMembersQuery),
    responses((status = 200, description = "A page of members", body = MembersAnswer), ListMembersErrors))]
async fn list_members(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<ListMembersQuery>,
) -> ApiResult<Json<MembersAnswer>> {
    let (members, total) = members::list_members(
        &state,
        &auth,
        query.organization_id.as_deref(),
        query.organization_slug.as_deref(),
        &members::PageQuery {
            limit: query.limit,
            offset: query.offset,
            sort_by: query.sort_by.as_deref(),
            descending: matches!(query.sort_direction, Some(SortDirection::Desc)),
            filter_field: query.filter_field.as_deref(),
            filter_value: query.filter_value.as_deref(),
            filter_operator: query.filter_operator.as_deref(),
        },
    )
    .await?;
    let members = serde_json::value::RawValue::from_string(members).map_err(|e| {
        ApiError::internal(format!("organizations: the members page is not JSON: {e}"))
    })?;
    Ok(Json(MembersAnswer { members, total }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoveMemberBody {
    /// A member id, or the member's email.
    #[schema(min_length = 1)]
    member_id_or_email: String,
    organization_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberAnswer {
    member: Member,
}

api_errors!(RemoveMemberErrors, POST_JSON; Unauthorized, NoActiveOrganization, MemberNotFound,
    YouAreNotAMemberOfThisOrganization, YouAreNotAllowedToDeleteThisMember, YouCannotLeaveTheOrganizationAsTheOnlyOwner);

/// Removes a member (`member: delete`; only owners remove owners; never the last owner).
#[utoipa::path(post, path = "/organization/remove-member", tag = "organizations", request_body = RemoveMemberBody,
    responses((status = 200, description = "The removed member", body = MemberAnswer), RemoveMemberErrors))]
async fn remove_member(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<RemoveMemberBody>,
) -> ApiResult<Json<MemberAnswer>> {
    let member = members::remove(
        &state,
        &auth,
        &client,
        body.organization_id.as_deref(),
        &body.member_id_or_email,
    )
    .await?;
    Ok(Json(MemberAnswer { member }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateMemberRoleBody {
    role: OneOrMany,
    #[schema(min_length = 1)]
    member_id: String,
    organization_id: Option<String>,
}

api_errors!(UpdateMemberRoleErrors, POST_JSON; Unauthorized, NoActiveOrganization, MemberNotFound, RoleNotFound,
    YouAreNotAMemberOfThisOrganization, YouAreNotAllowedToUpdateThisMember, YouCannotLeaveTheOrganizationWithoutAnOwner);

/// Sets a member's roles (`member: update`; only owners grant or take the owner role; the last
/// owner keeps it). Takes effect on the next request.
#[utoipa::path(post, path = "/organization/update-member-role", tag = "organizations", request_body = UpdateMemberRoleBody,
    responses((status = 200, description = "The member with its new roles", body = Member), UpdateMemberRoleErrors))]
async fn update_member_role(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<UpdateMemberRoleBody>,
) -> ApiResult<Json<Member>> {
    let roles = body.role.into_vec();
    Ok(Json(
        members::update_role(
            &state,
            &auth,
            &client,
            body.organization_id.as_deref(),
            &body.member_id,
            &roles,
        )
        .await?,
    ))
}

api_errors!(LeaveErrors, POST_JSON; Unauthorized, MemberNotFound, YouCannotLeaveTheOrganizationAsTheOnlyOwner);

/// Leaves an organization (not as its last owner).
#[utoipa::path(post, path = "/organization/leave", tag = "organizations", request_body = OrganizationIdBody,
    responses((status = 200, description = "The membership that ended", body = Member), LeaveErrors))]
async fn leave(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<OrganizationIdBody>,
) -> ApiResult<Json<Member>> {
    Ok(Json(
        members::leave(&state, &auth, &client, &body.organization_id).await?,
    ))
}

api_errors!(ActiveMemberErrors, ANY; Unauthorized, NoActiveOrganization, MemberNotFound);

/// The caller's membership of the active organization, with the user.
#[utoipa::path(get, path = "/organization/get-active-member", tag = "organizations",
    responses((status = 200, description = "The caller's membership", body = Member), ActiveMemberErrors))]
async fn get_active_member(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> ApiResult<Json<Member>> {
    Ok(Json(members::active_member(&state, &auth).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct MemberRoleQuery {
    /// Another member's user id (default: the caller).
    user_id: Option<String>,
    organization_id: Option<String>,
    organization_slug: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RoleAnswer {
    role: String,
}

api_errors!(MemberRoleErrors, ANY; Unauthorized, ValidationError, NoActiveOrganization, OrganizationNotFound,
    YouAreNotAMemberOfThisOrganization);

/// The roles of the caller (or of another member) in an organization.
#[utoipa::path(get, path = "/organization/get-active-member-role", tag = "organizations", params(MemberRoleQuery),
    responses((status = 200, description = "The roles, comma-separated", body = RoleAnswer), MemberRoleErrors))]
async fn get_active_member_role(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<MemberRoleQuery>,
) -> ApiResult<Json<RoleAnswer>> {
    let role = members::member_role(
        &state,
        &auth,
        query.user_id.as_deref(),
        query.organization_id.as_deref(),
        query.organization_slug.as_deref(),
    )
    .await?;
    Ok(Json(RoleAnswer { role }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HasPermissionBody {
    /// `{"member": ["create"]}`; a resource may say `{"actions": [...], "connector": "OR"}`.
    #[schema(value_type = Option<Object>)]
    permissions: Option<serde_json::Value>,
    /// Deprecated spelling of `permissions` (better-auth ignores it; here it works).
    #[schema(value_type = Option<Object>)]
    permission: Option<serde_json::Value>,
    organization_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PermissionAnswer {
    /// Always null.
    #[schema(value_type = Option<String>)]
    error: Option<()>,
    success: bool,
}

api_errors!(HasPermissionErrors, POST_JSON; Unauthorized, NoActiveOrganization, UserIsNotAMemberOfTheOrganization);

/// Whether the caller's roles in the organization allow every action asked.
#[utoipa::path(post, path = "/organization/has-permission", operation_id = "organization_has_permission", tag = "organizations", request_body = HasPermissionBody,
    responses((status = 200, description = "Whether the roles allow it", body = PermissionAnswer), HasPermissionErrors))]
async fn has_permission(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<HasPermissionBody>,
) -> ApiResult<Json<PermissionAnswer>> {
    let asked = match (body.permissions, body.permission) {
        (Some(p), None) | (None, Some(p)) => p,
        _ => {
            return Err(ApiError::from(ErrorCode::ValidationError)
                .with_message("Send either permissions or permission"))
        }
    };
    let request: Request = serde_json::from_value(asked).map_err(|_| {
        ApiError::from(ErrorCode::ValidationError)
            .with_message("permissions must be an object of resources to lists of actions")
    })?;
    // An empty request is no permission (`Roles::allow` says so), but membership is checked first.
    let success =
        members::has_permission(&state, &auth, body.organization_id.as_deref(), &request).await?;
    Ok(Json(PermissionAnswer {
        error: None,
        success,
    }))
}

// ---- invitations

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteBody {
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
    role: OneOrMany,
    organization_id: Option<String>,
    #[serde(default)]
    resend: bool,
    team_id: Option<OneOrMany>,
}

api_errors!(InviteErrors, POST_JSON; Unauthorized, InvalidEmail, NoActiveOrganization, OrganizationNotFound, RoleNotFound, TeamNotFound,
    YouAreNotAMemberOfThisOrganization, YouAreNotAllowedToInviteUsersToThisOrganization, YouAreNotAllowedToInviteUserWithThisRole,
    UserIsAlreadyAMemberOfThisOrganization, UserIsAlreadyInvitedToThisOrganization, InvitationLimitReached);

/// Invites an address with one or several roles (`invitation: create`); the mail goes through
/// the outbox. `resend` replaces a pending invitation with a new one.
#[utoipa::path(post, path = "/organization/invite-member", tag = "organizations", request_body = InviteBody,
    responses((status = 200, description = "The invitation", body = Invitation), InviteErrors))]
async fn invite_member(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    language: Requested,
    JsonBody(body): JsonBody<InviteBody>,
) -> ApiResult<Json<Invitation>> {
    let roles = body.role.into_vec();
    let team_ids = body.team_id.map(OneOrMany::into_vec).unwrap_or_default();
    let invitation = invitations::invite(
        &state,
        &auth,
        &client,
        invitations::Invite {
            email: &body.email,
            roles: &roles,
            organization_id: body.organization_id.as_deref(),
            resend: body.resend,
            team_ids: &team_ids,
            language: &language,
        },
    )
    .await?;
    Ok(Json(invitation))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationIdBody {
    #[schema(min_length = 1)]
    invitation_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationAnswer {
    invitation: Invitation,
    member: Option<Member>,
}

api_errors!(AcceptErrors, POST_JSON; Unauthorized, InvitationNotFound, YouAreNotTheRecipientOfTheInvitation,
    EmailVerificationRequiredBeforeAcceptingOrRejectingInvitation, OrganizationMembershipLimitReached,
    UserIsAlreadyAMemberOfThisOrganization);

/// Accepts an invitation addressed to the caller's verified email: the caller becomes a member
/// and the organization the session's active one.
#[utoipa::path(post, path = "/organization/accept-invitation", tag = "organizations", request_body = InvitationIdBody,
    responses((status = 200, description = "The invitation and the new membership", body = InvitationAnswer), AcceptErrors))]
async fn accept_invitation(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<InvitationIdBody>,
) -> ApiResult<Json<InvitationAnswer>> {
    let (invitation, member) =
        invitations::accept(&state, &auth, &client, &body.invitation_id).await?;
    Ok(Json(InvitationAnswer {
        invitation,
        member: Some(member),
    }))
}

api_errors!(RejectErrors, POST_JSON; Unauthorized, InvitationNotFound, YouAreNotTheRecipientOfTheInvitation,
    EmailVerificationRequiredBeforeAcceptingOrRejectingInvitation);

/// Rejects an invitation addressed to the caller's verified email.
#[utoipa::path(post, path = "/organization/reject-invitation", tag = "organizations", request_body = InvitationIdBody,
    responses((status = 200, description = "The rejected invitation", body = InvitationAnswer), RejectErrors))]
async fn reject_invitation(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<InvitationIdBody>,
) -> ApiResult<Json<InvitationAnswer>> {
    let invitation = invitations::reject(&state, &auth, &client, &body.invitation_id).await?;
    Ok(Json(InvitationAnswer {
        invitation,
        member: None,
    }))
}

api_errors!(CancelErrors, POST_JSON; Unauthorized, InvitationNotFound, YouAreNotAllowedToCancelThisInvitation);

/// Cancels a pending invitation (`invitation: cancel`).
#[utoipa::path(post, path = "/organization/cancel-invitation", tag = "organizations", request_body = InvitationIdBody,
    responses((status = 200, description = "The canceled invitation", body = Invitation), CancelErrors))]
async fn cancel_invitation(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<InvitationIdBody>,
) -> ApiResult<Json<Invitation>> {
    Ok(Json(
        invitations::cancel(&state, &auth, &client, &body.invitation_id).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvitationQuery {
    #[param(min_length = 1)]
    id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationDetailsAnswer {
    #[serde(flatten)]
    invitation: Invitation,
    organization_name: String,
    organization_slug: String,
    inviter_email: String,
}

api_errors!(GetInvitationErrors, ANY; Unauthorized, ValidationError, InvitationNotFound, YouAreNotTheRecipientOfTheInvitation,
    EmailVerificationRequiredForInvitation, OrganizationNotFound, InviterIsNoLongerAMemberOfTheOrganization);

/// An invitation addressed to the caller's verified email, with its organization and inviter.
#[utoipa::path(get, path = "/organization/get-invitation", tag = "organizations", params(InvitationQuery),
    responses((status = 200, description = "The invitation", body = InvitationDetailsAnswer), GetInvitationErrors))]
async fn get_invitation(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<InvitationQuery>,
) -> ApiResult<Json<InvitationDetailsAnswer>> {
    let details = invitations::get(&state, &auth, &query.id).await?;
    Ok(Json(InvitationDetailsAnswer {
        invitation: details.invitation,
        organization_name: details.organization_name,
        organization_slug: details.organization_slug,
        inviter_email: details.inviter_email,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationQuery {
    /// Default: the active organization.
    organization_id: Option<String>,
}

api_errors!(ListInvitationsErrors, ANY; Unauthorized, ValidationError, NoActiveOrganization,
    YouAreNotAMemberOfThisOrganization, YouAreNotAllowedToListInvitations);

/// An organization's invitations, for members who may invite.
#[utoipa::path(get, path = "/organization/list-invitations", tag = "organizations", params(OrganizationQuery),
    responses((status = 200, description = "The invitations", body = Vec<Invitation>), ListInvitationsErrors))]
async fn list_invitations(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<OrganizationQuery>,
) -> ApiResult<Json<Vec<Invitation>>> {
    Ok(Json(
        invitations::list(&state, &auth, query.organization_id.as_deref()).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserInvitationsQuery {
    /// Refused: only server-side calls of better-auth may name an address.
    email: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInvitation {
    #[serde(flatten)]
    invitation: Invitation,
    organization_name: String,
}

api_errors!(UserInvitationsErrors, ANY; Unauthorized, ValidationError, EmailVerificationRequiredForInvitation);

/// The caller's pending invitations (a verified email is needed).
#[utoipa::path(get, path = "/organization/list-user-invitations", tag = "organizations", params(UserInvitationsQuery),
    responses((status = 200, description = "Pending invitations to the caller's email", body = Vec<UserInvitation>), UserInvitationsErrors))]
async fn list_user_invitations(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<UserInvitationsQuery>,
) -> ApiResult<Json<Vec<UserInvitation>>> {
    if query.email.is_some() {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("User email cannot be passed for client side API calls."));
    }
    let found = invitations::list_for_user(&state, &auth).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|(invitation, organization_name)| UserInvitation {
                invitation,
                organization_name,
            })
            .collect(),
    ))
}

// ---- teams

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTeamBody {
    #[schema(min_length = 1, max_length = 256)]
    name: String,
    organization_id: Option<String>,
}

api_errors!(CreateTeamErrors, POST_JSON; Unauthorized, InvalidName, NoActiveOrganization, YouAreNotAMemberOfThisOrganization,
    YouAreNotAllowedToCreateTeamsInThisOrganization, YouHaveReachedTheMaximumNumberOfTeams);

/// Creates a team (`team: create`).
#[utoipa::path(post, path = "/organization/create-team", tag = "organizations", request_body = CreateTeamBody,
    responses((status = 200, description = "The team", body = Team), CreateTeamErrors))]
async fn create_team(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<CreateTeamBody>,
) -> ApiResult<Json<Team>> {
    Ok(Json(
        teams::create(
            &state,
            &auth,
            &client,
            body.organization_id.as_deref(),
            &body.name,
        )
        .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamData {
    #[schema(min_length = 1, max_length = 256)]
    name: Option<String>,
    organization_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTeamBody {
    #[schema(min_length = 1)]
    team_id: String,
    data: TeamData,
}

api_errors!(UpdateTeamErrors, POST_JSON; Unauthorized, InvalidName, NoActiveOrganization, TeamNotFound,
    YouAreNotAMemberOfThisOrganization, YouAreNotAllowedToUpdateThisTeam);

/// Renames a team (`team: update`).
#[utoipa::path(post, path = "/organization/update-team", tag = "organizations", request_body = UpdateTeamBody,
    responses((status = 200, description = "The team", body = Team), UpdateTeamErrors))]
async fn update_team(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<UpdateTeamBody>,
) -> ApiResult<Json<Team>> {
    Ok(Json(
        teams::update(
            &state,
            &auth,
            &client,
            body.data.organization_id.as_deref(),
            &body.team_id,
            body.data.name.as_deref(),
        )
        .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamIdBody {
    #[schema(min_length = 1)]
    team_id: String,
    organization_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageAnswer {
    message: &'static str,
}

api_errors!(RemoveTeamErrors, POST_JSON; Unauthorized, NoActiveOrganization, TeamNotFound,
    YouAreNotAMemberOfThisOrganization, YouAreNotAllowedToDeleteThisTeam);

/// Deletes a team (`team: delete`).
#[utoipa::path(post, path = "/organization/remove-team", tag = "organizations", request_body = TeamIdBody,
    responses((status = 200, description = "Removed", body = MessageAnswer), RemoveTeamErrors))]
async fn remove_team(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<TeamIdBody>,
) -> ApiResult<Json<MessageAnswer>> {
    teams::remove(
        &state,
        &auth,
        &client,
        body.organization_id.as_deref(),
        &body.team_id,
    )
    .await?;
    Ok(Json(MessageAnswer {
        message: "Team removed successfully.",
    }))
}

api_errors!(ListTeamsErrors, ANY; Unauthorized, ValidationError, NoActiveOrganization, YouAreNotAMemberOfThisOrganization);

/// An organization's teams.
#[utoipa::path(get, path = "/organization/list-teams", tag = "organizations", params(OrganizationQuery),
    responses((status = 200, description = "The teams", body = Vec<Team>), ListTeamsErrors))]
async fn list_teams(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<OrganizationQuery>,
) -> ApiResult<Json<Vec<Team>>> {
    Ok(Json(
        teams::list(&state, &auth, query.organization_id.as_deref()).await?,
    ))
}

/// The teams the caller belongs to.
#[utoipa::path(get, path = "/organization/list-user-teams", tag = "organizations",
    responses((status = 200, description = "The caller's teams", body = Vec<Team>), ListErrors))]
async fn list_user_teams(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> ApiResult<Json<Vec<Team>>> {
    Ok(Json(teams::list_of_user(&state, &auth).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetActiveTeamBody {
    /// A team id, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    team_id: Option<Option<String>>,
}

api_errors!(SetActiveTeamErrors, POST_JSON; Unauthorized, TeamNotFound, UserIsNotAMemberOfTheTeam);

/// Sets (or, with `teamId: null`, clears) the session's active team.
#[utoipa::path(post, path = "/organization/set-active-team", tag = "organizations", request_body = SetActiveTeamBody,
    responses((status = 200, description = "The active team, or null", body = Option<Team>), SetActiveTeamErrors))]
async fn set_active_team(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<SetActiveTeamBody>,
) -> ApiResult<Json<Option<Team>>> {
    let team = match body.team_id {
        Some(choice) => teams::set_active(&state, &auth, choice.as_deref()).await?,
        None => None,
    };
    Ok(Json(team))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct TeamQuery {
    /// Default: the active team.
    team_id: Option<String>,
}

api_errors!(TeamMembersErrors, ANY; Unauthorized, ValidationError, YouDoNotHaveAnActiveTeam, UserIsNotAMemberOfTheTeam);

/// The members of a team the caller belongs to.
#[utoipa::path(get, path = "/organization/list-team-members", tag = "organizations", params(TeamQuery),
    responses((status = 200, description = "The team's members", body = Vec<TeamMember>), TeamMembersErrors))]
async fn list_team_members(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<TeamQuery>,
) -> ApiResult<Json<Vec<TeamMember>>> {
    Ok(Json(
        teams::members(&state, &auth, query.team_id.as_deref()).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamMemberBody {
    #[schema(min_length = 1)]
    team_id: String,
    #[schema(min_length = 1)]
    user_id: String,
}

api_errors!(AddTeamMemberErrors, POST_JSON; Unauthorized, TeamNotFound, UserIsNotAMemberOfTheOrganization,
    YouAreNotAllowedToCreateANewTeamMember);

/// Adds a member of the organization to a team (`member: update`).
#[utoipa::path(post, path = "/organization/add-team-member", tag = "organizations", request_body = TeamMemberBody,
    responses((status = 200, description = "The team membership", body = TeamMember), AddTeamMemberErrors))]
async fn add_team_member(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<TeamMemberBody>,
) -> ApiResult<Json<TeamMember>> {
    teams::change_member(&state, &auth, &client, &body.team_id, &body.user_id, true)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::internal("team member not added"))
}

api_errors!(RemoveTeamMemberErrors, POST_JSON; Unauthorized, TeamNotFound, UserIsNotAMemberOfTheTeam,
    YouAreNotAllowedToRemoveATeamMember);

/// Removes a user from a team (`member: delete`).
#[utoipa::path(post, path = "/organization/remove-team-member", tag = "organizations", request_body = TeamMemberBody,
    responses((status = 200, description = "Removed", body = MessageAnswer), RemoveTeamMemberErrors))]
async fn remove_team_member(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<TeamMemberBody>,
) -> ApiResult<Json<MessageAnswer>> {
    teams::change_member(&state, &auth, &client, &body.team_id, &body.user_id, false).await?;
    Ok(Json(MessageAnswer {
        message: "Team member removed successfully.",
    }))
}

// ---- roles defined by organizations

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoleBody {
    #[schema(min_length = 1, max_length = 64)]
    role: String,
    /// `{"resource": ["action", ...]}`: declared actions the caller holds.
    #[schema(value_type = Object)]
    permission: serde_json::Value,
    organization_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleDataAnswer {
    success: bool,
    role_data: OrganizationRole,
}

api_errors!(CreateRoleErrors, POST_JSON; Unauthorized, NoActiveOrganization, YouAreNotAMemberOfThisOrganization,
    YouAreNotAllowedToCreateARole, RoleNameIsAlreadyTaken, TooManyRoles, InvalidResource, RoleNotFound);

/// Defines a role for the organization (`ac: create`).
#[utoipa::path(post, path = "/organization/create-role", tag = "organizations", request_body = CreateRoleBody,
    responses((status = 200, description = "The role", body = RoleDataAnswer), CreateRoleErrors))]
async fn create_role(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<CreateRoleBody>,
) -> ApiResult<Json<RoleDataAnswer>> {
    let permission = statements(body.permission)?;
    let role = roles::create(
        &state,
        &auth,
        &client,
        body.organization_id.as_deref(),
        &body.role,
        &permission,
    )
    .await?;
    Ok(Json(RoleDataAnswer {
        success: true,
        role_data: role,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleChanges {
    #[schema(value_type = Option<Object>)]
    permission: Option<serde_json::Value>,
    /// A new name.
    role_name: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRoleBody {
    role_name: Option<String>,
    role_id: Option<String>,
    data: RoleChanges,
    organization_id: Option<String>,
}

api_errors!(UpdateRoleErrors, POST_JSON; Unauthorized, NoActiveOrganization, YouAreNotAMemberOfThisOrganization,
    YouAreNotAllowedToUpdateARole, RoleNotFound, RoleNameIsAlreadyTaken, InvalidResource);

/// Changes an organization's role (`ac: update`).
#[utoipa::path(post, path = "/organization/update-role", tag = "organizations", request_body = UpdateRoleBody,
    responses((status = 200, description = "The role", body = RoleDataAnswer), UpdateRoleErrors))]
async fn update_role(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<UpdateRoleBody>,
) -> ApiResult<Json<RoleDataAnswer>> {
    let permission = body.data.permission.map(statements).transpose()?;
    let role = roles::update(
        &state,
        &auth,
        &client,
        body.organization_id.as_deref(),
        roles::RoleRef {
            id: body.role_id.as_deref(),
            name: body.role_name.as_deref(),
        },
        body.data.role_name.as_deref(),
        permission.as_ref(),
    )
    .await?;
    Ok(Json(RoleDataAnswer {
        success: true,
        role_data: role,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleRefBody {
    role_name: Option<String>,
    role_id: Option<String>,
    organization_id: Option<String>,
}

api_errors!(DeleteRoleErrors, POST_JSON; Unauthorized, NoActiveOrganization, YouAreNotAMemberOfThisOrganization,
    YouAreNotAllowedToDeleteARole, RoleNotFound, CannotDeleteAPreDefinedRole, RoleIsAssignedToMembers);

/// Deletes an organization's role nobody holds (`ac: delete`).
#[utoipa::path(post, path = "/organization/delete-role", tag = "organizations", request_body = RoleRefBody,
    responses((status = 200, description = "Deleted", body = SuccessAnswer), DeleteRoleErrors))]
async fn delete_role(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<RoleRefBody>,
) -> ApiResult<Json<SuccessAnswer>> {
    roles::delete(
        &state,
        &auth,
        &client,
        body.organization_id.as_deref(),
        roles::RoleRef {
            id: body.role_id.as_deref(),
            name: body.role_name.as_deref(),
        },
    )
    .await?;
    Ok(Json(SuccessAnswer::OK))
}

api_errors!(ListRolesErrors, ANY; Unauthorized, ValidationError, NoActiveOrganization, YouAreNotAMemberOfThisOrganization,
    YouAreNotAllowedToListARole);

/// The roles an organization defined (`ac: read`).
#[utoipa::path(get, path = "/organization/list-roles", tag = "organizations", params(OrganizationQuery),
    responses((status = 200, description = "The roles", body = Vec<OrganizationRole>), ListRolesErrors))]
async fn list_roles(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<OrganizationQuery>,
) -> ApiResult<Json<Vec<OrganizationRole>>> {
    Ok(Json(
        roles::list(&state, &auth, query.organization_id.as_deref()).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RoleQuery {
    role_name: Option<String>,
    role_id: Option<String>,
    organization_id: Option<String>,
}

api_errors!(GetRoleErrors, ANY; Unauthorized, ValidationError, NoActiveOrganization, YouAreNotAMemberOfThisOrganization,
    YouAreNotAllowedToReadARole, RoleNotFound);

/// One of the organization's roles (`ac: read`).
#[utoipa::path(get, path = "/organization/get-role", tag = "organizations", params(RoleQuery),
    responses((status = 200, description = "The role", body = OrganizationRole), GetRoleErrors))]
async fn get_role(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<RoleQuery>,
) -> ApiResult<Json<OrganizationRole>> {
    Ok(Json(
        roles::get(
            &state,
            &auth,
            query.organization_id.as_deref(),
            roles::RoleRef {
                id: query.role_id.as_deref(),
                name: query.role_name.as_deref(),
            },
        )
        .await?,
    ))
}
