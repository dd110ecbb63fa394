//! The admin endpoints (`/admin/*`), in better-auth's admin plugin shapes.

use axum::extract::{FromRequestParts, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::query::{Direction, FilterField, FilterOperator, SearchField, SortField, TextMatch};
use super::{Actor, Changes, NewUser};
use crate::api_errors;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::answers::{StatusAnswer, SuccessAnswer};
use crate::http::client::ClientInfo;
use crate::http::cookies::CredentialCookie;
use crate::http::json::{JsonBody, QueryParams};
use crate::i18n::Requested;
use crate::sessions::extract::CurrentSession;
use crate::sessions::Authenticated;
use crate::sessions::{self, SessionView, Via};
use crate::state::AppState;
use crate::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(create_user))
        .routes(routes!(admin_update_user))
        .routes(routes!(set_role))
        .routes(routes!(ban_user))
        .routes(routes!(unban_user))
        .routes(routes!(list_user_sessions))
        .routes(routes!(revoke_user_session))
        .routes(routes!(revoke_user_sessions))
        .routes(routes!(remove_user))
        .routes(routes!(set_user_password))
        .routes(routes!(has_permission))
        .routes(routes!(impersonate_user))
        .routes(routes!(stop_impersonating))
        .routes(routes!(audit_log))
}

/// Who presents credentials to an admin endpoint: an API key (`Authorization: Bearer pk_…`,
/// checked, rate limited), or a live session (possibly an impersonated one); else 401.
pub enum Caller {
    Key(Actor),
    Session(Box<Authenticated>),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        if let Some(key) = bearer.filter(|t| t.starts_with(super::api_keys::PREFIX)) {
            return Ok(Self::Key(super::api_keys::authenticate(state, key).await?));
        }
        let CurrentSession(auth) = CurrentSession::from_request_parts(parts, state).await?;
        Ok(Self::Session(Box::new(auth)))
    }
}

/// The actor of an admin request: an API key, or a live session of the user's own (an
/// impersonated session is refused); else 401.
pub struct Acting(pub Actor);

impl FromRequestParts<AppState> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Key(actor) => Ok(Self(actor)),
            Caller::Session(auth) if auth.session.impersonated_by.is_some() => {
                Err(ApiError::from(ErrorCode::ImpersonationRestricted))
            }
            Caller::Session(auth) => Ok(Self(Actor::Session {
                user: Box::new(auth.user),
                session_id: auth.session.id,
            })),
        }
    }
}

/// One role or several (better-auth accepts both).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Roles {
    One(String),
    Several(Vec<String>),
}

impl Roles {
    fn into_vec(self) -> Vec<String> {
        match self {
            Roles::One(role) => role.split(',').map(str::to_owned).collect(),
            Roles::Several(roles) => roles,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserAnswer {
    user: User,
}

/// A number given as a number or as a string (query strings and better-auth's client send both).
fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("`{t}` is not a whole number"))),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Text to look for in `searchField`.
    #[param(max_length = 256)]
    search_value: Option<String>,
    /// `email` (default) or `name`.
    #[param(inline)]
    search_field: Option<SearchField>,
    /// `contains` (default), `starts_with` or `ends_with`; case-insensitive.
    #[param(inline)]
    search_operator: Option<TextMatch>,
    /// Users per page: 1 to 1000, default 100.
    #[serde(default, deserialize_with = "lenient_number")]
    #[param(minimum = 1, maximum = 1000, value_type = Option<i64>)]
    limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient_number")]
    #[param(minimum = 0, value_type = Option<i64>)]
    offset: Option<i64>,
    /// Default `createdAt`.
    #[param(inline)]
    sort_by: Option<SortField>,
    /// Default `asc`.
    #[param(inline)]
    sort_direction: Option<Direction>,
    /// Default `email`.
    #[param(inline)]
    filter_field: Option<FilterField>,
    /// Text, `true`/`false` for flags, unix ms or RFC 3339 for times.
    #[param(max_length = 256)]
    filter_value: Option<String>,
    /// Default `eq`.
    #[param(inline)]
    filter_operator: Option<FilterOperator>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserList {
    users: Vec<User>,
    total: i64,
    limit: i64,
    offset: i64,
}

api_errors!(ListUsersErrors, ANY; Unauthorized, ImpersonationRestricted, NotAllowedToListUsers, ValidationError);

/// Users, searched, filtered, sorted and paged; `total` counts every match.
#[utoipa::path(get, path = "/admin/list-users", tag = "admin", params(ListUsersQuery),
    responses((status = 200, description = "A page of users", body = UserList), ListUsersErrors))]
async fn list_users(
    State(state): State<AppState>,
    Acting(actor): Acting,
    QueryParams(q): QueryParams<ListUsersQuery>,
) -> ApiResult<Json<UserList>> {
    let asked = super::query::Asked {
        search_value: q.search_value,
        search_field: q.search_field,
        search_operator: q.search_operator,
        limit: q.limit,
        offset: q.offset,
        sort_by: q.sort_by,
        sort_direction: q.sort_direction,
        filter_field: q.filter_field,
        filter_value: q.filter_value,
        filter_operator: q.filter_operator,
    };
    let page = super::list_users(&state, &actor, asked).await?;
    Ok(Json(UserList {
        users: page.users,
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetUserQuery {
    /// The user's id.
    #[param(min_length = 1, max_length = 64)]
    id: String,
}

api_errors!(GetUserErrors, ANY; Unauthorized, ImpersonationRestricted, NotAllowedToGetUser, UserNotFound, ValidationError);

/// One user.
#[utoipa::path(get, path = "/admin/get-user", tag = "admin", params(GetUserQuery),
    responses((status = 200, description = "The user", body = User), GetUserErrors))]
async fn get_user(
    State(state): State<AppState>,
    Acting(actor): Acting,
    QueryParams(q): QueryParams<GetUserQuery>,
) -> ApiResult<Json<User>> {
    Ok(Json(super::get_user(&state, &actor, &q.id).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUserData {
    email_verified: Option<bool>,
    #[schema(max_length = 2048)]
    image: Option<String>,
    /// Also accepted here, as better-auth does.
    role: Option<Roles>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateUserBody {
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
    /// Without one, the account has no password (a reset link or social sign-in sets one).
    #[schema(min_length = 8, max_length = 128)]
    password: Option<String>,
    #[schema(min_length = 1, max_length = 256)]
    name: String,
    /// `user` unless given; needs `user:set-role`.
    role: Option<Roles>,
    /// `emailVerified`, `image`; nothing else.
    data: Option<NewUserData>,
}

api_errors!(CreateUserErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToCreateUsers, NotAllowedToChangeUsersRole, NonExistentRole, InvalidEmail, InvalidName, InvalidImage, PasswordTooShort, PasswordTooLong, PasswordTooWeak, UserAlreadyExistsUseAnotherEmail = 400);

/// Creates a user (not signed in).
#[utoipa::path(post, path = "/admin/create-user", tag = "admin", request_body = CreateUserBody,
    responses((status = 200, description = "The new user", body = UserAnswer), CreateUserErrors))]
async fn create_user(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<CreateUserBody>,
) -> ApiResult<Json<UserAnswer>> {
    let data = body.data.unwrap_or_default();
    let new = NewUser {
        email: body.email,
        password: body.password,
        name: body.name,
        roles: body.role.or(data.role).map(Roles::into_vec),
        email_verified: data.email_verified.unwrap_or(false),
        image: data.image,
    };
    let user = super::create_user(&state, &actor, new, &client).await?;
    Ok(Json(UserAnswer { user }))
}

/// Accepts a field that may be absent, `null` or a value, keeping the three apart.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserChanges {
    #[schema(min_length = 1, max_length = 256)]
    name: Option<String>,
    /// A URL, or `null` to remove the image.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    image: Option<Option<String>>,
    /// Needs `user:set-email`; the new address is unverified unless `emailVerified` says so.
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    email_verified: Option<bool>,
    /// Needs `user:set-role`.
    role: Option<Roles>,
    /// Refused: use set-user-password.
    #[schema(value_type = Option<String>)]
    password: Option<serde_json::Value>,
    /// Refused: ids never change.
    #[schema(value_type = Option<String>)]
    id: Option<serde_json::Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminUpdateUserBody)]
pub struct UpdateUserBody {
    #[schema(min_length = 1, max_length = 64)]
    user_id: String,
    data: UserChanges,
}

api_errors!(UpdateUserErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToUpdateUsers, NotAllowedToSetUsersEmail, NotAllowedToChangeUsersRole, NonExistentRole, CannotChangeYourOwnRole, LastAdmin, NoDataToUpdate, PasswordCannotBeUpdatedViaUpdateUser, UserIdCannotBeUpdated, UserNotFound, InvalidEmail, InvalidName, InvalidImage, UserAlreadyExistsUseAnotherEmail = 400);

/// Changes a user's name, image, email, email verification or role. Bans go through ban-user,
/// passwords through set-user-password.
#[utoipa::path(post, path = "/admin/update-user", tag = "admin", request_body = UpdateUserBody,
    responses((status = 200, description = "The user as changed", body = User), UpdateUserErrors))]
async fn admin_update_user(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<UpdateUserBody>,
) -> ApiResult<Json<User>> {
    let data = body.data;
    if data.password.is_some() {
        return Err(ApiError::from(
            ErrorCode::PasswordCannotBeUpdatedViaUpdateUser,
        ));
    }
    if data.id.is_some() {
        return Err(ApiError::from(ErrorCode::UserIdCannotBeUpdated));
    }
    let changes = Changes {
        name: data.name,
        image: data.image,
        email: data.email,
        email_verified: data.email_verified,
        roles: data.role.map(Roles::into_vec),
    };
    let nothing = changes.name.is_none()
        && changes.image.is_none()
        && changes.email.is_none()
        && changes.email_verified.is_none()
        && changes.roles.is_none();
    if nothing {
        return Err(ApiError::from(ErrorCode::NoDataToUpdate));
    }
    let user = super::update_user(&state, &actor, &body.user_id, changes, &client).await?;
    Ok(Json(user))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetRoleBody {
    #[schema(min_length = 1, max_length = 64)]
    user_id: String,
    /// A role or a list of roles (`admin`, `user`, or one from `admin.roles`).
    role: Roles,
}

api_errors!(SetRoleErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToChangeUsersRole, NonExistentRole, CannotChangeYourOwnRole, LastAdmin, UserNotFound);

/// Sets a user's role(s). Their access tokens issued before are refused from now on.
#[utoipa::path(post, path = "/admin/set-role", tag = "admin", request_body = SetRoleBody,
    responses((status = 200, description = "The user with the new role", body = UserAnswer), SetRoleErrors))]
async fn set_role(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<SetRoleBody>,
) -> ApiResult<Json<UserAnswer>> {
    let roles = body.role.into_vec();
    let user = super::set_role(&state, &actor, &body.user_id, &roles, &client).await?;
    Ok(Json(UserAnswer { user }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BanUserBody {
    #[schema(min_length = 1, max_length = 64)]
    user_id: String,
    /// Stored and shown to administrators (default "No reason").
    #[schema(max_length = 500)]
    ban_reason: Option<String>,
    /// Seconds until the ban lifts itself; none: never.
    #[schema(minimum = 1, maximum = 3153600000_i64)]
    ban_expires_in: Option<i64>,
}

api_errors!(BanUserErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToBanUsers, CannotBanYourself, LastAdmin, UserNotFound);

/// Bans a user: every session and refresh token ends now, services learn it through the
/// revocation feed, and every sign-in is refused (403 `BANNED_USER`) until the ban ends.
#[utoipa::path(post, path = "/admin/ban-user", tag = "admin", request_body = BanUserBody,
    responses((status = 200, description = "The banned user", body = UserAnswer), BanUserErrors))]
async fn ban_user(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<BanUserBody>,
) -> ApiResult<Json<UserAnswer>> {
    let user = super::ban(
        &state,
        &actor,
        &body.user_id,
        body.ban_reason.as_deref(),
        body.ban_expires_in,
        &client,
    )
    .await?;
    Ok(Json(UserAnswer { user }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIdBody {
    #[schema(min_length = 1, max_length = 64)]
    user_id: String,
}

api_errors!(UnbanUserErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToBanUsers, UserNotFound);

/// Lifts a user's ban.
#[utoipa::path(post, path = "/admin/unban-user", tag = "admin", request_body = UserIdBody,
    responses((status = 200, description = "The user, no longer banned", body = UserAnswer), UnbanUserErrors))]
async fn unban_user(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<UserIdBody>,
) -> ApiResult<Json<UserAnswer>> {
    let user = super::unban(&state, &actor, &body.user_id, &client).await?;
    Ok(Json(UserAnswer { user }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionView>,
}

api_errors!(ListUserSessionsErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToListUsersSessions);

/// A user's live sessions, newest first. `token` carries the session id, never its secret.
#[utoipa::path(post, path = "/admin/list-user-sessions", tag = "admin", request_body = UserIdBody,
    responses((status = 200, description = "The user's live sessions", body = SessionList), ListUserSessionsErrors))]
async fn list_user_sessions(
    State(state): State<AppState>,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<UserIdBody>,
) -> ApiResult<Json<SessionList>> {
    let sessions = super::user_sessions(&state, &actor, &body.user_id).await?;
    Ok(Json(SessionList {
        sessions: sessions.iter().map(|s| SessionView::of(s, false)).collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokeUserSessionBody {
    /// The session's id, as list-user-sessions gives it in `token` (or the session's token).
    #[schema(min_length = 1, max_length = 4096)]
    session_token: String,
}

api_errors!(RevokeUserSessionErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToRevokeUsersSessions);

/// Ends one session.
#[utoipa::path(post, path = "/admin/revoke-user-session", tag = "admin", request_body = RevokeUserSessionBody,
    responses((status = 200, description = "The session is ended", body = SuccessAnswer), RevokeUserSessionErrors))]
async fn revoke_user_session(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<RevokeUserSessionBody>,
) -> ApiResult<Json<SuccessAnswer>> {
    super::revoke_session(&state, &actor, &body.session_token, &client).await?;
    Ok(Json(SuccessAnswer::OK))
}

api_errors!(RevokeUserSessionsErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToRevokeUsersSessions);

/// Ends every session of a user.
#[utoipa::path(post, path = "/admin/revoke-user-sessions", tag = "admin", request_body = UserIdBody,
    responses((status = 200, description = "Every session is ended", body = SuccessAnswer), RevokeUserSessionsErrors))]
async fn revoke_user_sessions(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<UserIdBody>,
) -> ApiResult<Json<SuccessAnswer>> {
    super::revoke_sessions(&state, &actor, &body.user_id, &client).await?;
    Ok(Json(SuccessAnswer::OK))
}

api_errors!(RemoveUserErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToDeleteUsers, CannotRemoveYourself, LastAdmin, UserNotFound);

/// Deletes a user, their sessions and tokens. Cannot be undone.
#[utoipa::path(post, path = "/admin/remove-user", tag = "admin", request_body = UserIdBody,
    responses((status = 200, description = "The user is deleted", body = SuccessAnswer), RemoveUserErrors))]
async fn remove_user(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    JsonBody(body): JsonBody<UserIdBody>,
) -> ApiResult<Json<SuccessAnswer>> {
    super::remove(&state, &actor, &body.user_id, &client).await?;
    Ok(Json(SuccessAnswer::OK))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetUserPasswordBody {
    #[schema(min_length = 1, max_length = 64)]
    user_id: String,
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

api_errors!(SetUserPasswordErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToSetUsersPassword, UserNotFound, PasswordTooShort, PasswordTooLong, PasswordTooWeak);

/// Sets a user's password: their other sessions end and they get the password-changed notice.
#[utoipa::path(post, path = "/admin/set-user-password", tag = "admin", request_body = SetUserPasswordBody,
    responses((status = 200, description = "The password is set", body = StatusAnswer), SetUserPasswordErrors))]
async fn set_user_password(
    State(state): State<AppState>,
    client: ClientInfo,
    Acting(actor): Acting,
    language: Requested,
    JsonBody(body): JsonBody<SetUserPasswordBody>,
) -> ApiResult<Json<StatusAnswer>> {
    let (user_id, password) = (&body.user_id, &body.new_password);
    super::set_password(&state, &actor, user_id, password, &client, &language).await?;
    Ok(Json(StatusAnswer::OK))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminHasPermissionBody)]
pub struct HasPermissionBody {
    /// `{"user": ["ban"]}`: every action asked must be allowed.
    #[schema(value_type = Option<Object>)]
    permissions: Option<portcullis_access::Request>,
    /// The older name of `permissions`.
    #[schema(value_type = Option<Object>)]
    permission: Option<portcullis_access::Request>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AdminPermissionAnswer)]
pub struct PermissionAnswer {
    #[schema(value_type = Option<String>)]
    error: Option<()>,
    success: bool,
}

api_errors!(HasPermissionErrors, POST_JSON; Unauthorized);

/// Whether the caller may do every action asked: a session's user by their roles (better-auth's
/// `userId` and `role` fields are ignored, as with a session in better-auth), an API key by its
/// grants, so a backend can check its key before acting.
#[utoipa::path(post, path = "/admin/has-permission", operation_id = "admin_has_permission", tag = "admin", request_body = HasPermissionBody,
    responses((status = 200, description = "`success` says whether it is allowed", body = PermissionAnswer), HasPermissionErrors))]
async fn has_permission(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<HasPermissionBody>,
) -> ApiResult<Json<PermissionAnswer>> {
    let Some(request) = body.permissions.or(body.permission) else {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("invalid permission check. no permission(s) were passed."));
    };
    let success = match caller {
        Caller::Key(actor) => actor.allows_request(&state, &request),
        // An impersonated session holds no administrator's permissions.
        Caller::Session(auth) => {
            auth.session.impersonated_by.is_none()
                && super::role_allows(&state, &auth.user.role, &request)
        }
    };
    Ok(Json(PermissionAnswer {
        error: None,
        success,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpersonateBody {
    #[schema(min_length = 1, max_length = 64)]
    user_id: String,
    /// Why (a support ticket, a complaint): required, stored with the session and audited.
    #[schema(min_length = 1, max_length = 500)]
    reason: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImpersonationAnswer {
    session: SessionView,
    user: User,
    /// The impersonated session's token (also set as the session cookie), for bearer clients.
    token: String,
}

api_errors!(ImpersonateErrors, POST_JSON; Unauthorized, ImpersonationRestricted, NotAllowedToImpersonateUsers, CannotImpersonateAdmins, ImpersonationReasonRequired, SessionNotFresh, UserNotFound, BannedUser);

/// Starts a session as another user (at most 1 hour, no sliding), for an administrator signed
/// in recently, with a reason. A browser's session cookie becomes the impersonated session's and
/// the administrator's own is kept aside for stop-impersonating.
#[utoipa::path(post, path = "/admin/impersonate-user", tag = "admin", request_body = ImpersonateBody,
    responses((status = 200, description = "Now acting as the user", body = ImpersonationAnswer), ImpersonateErrors))]
async fn impersonate_user(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<ImpersonateBody>,
) -> ApiResult<Response> {
    if auth.session.impersonated_by.is_some() {
        return Err(ApiError::from(ErrorCode::ImpersonationRestricted));
    }
    let own_session = auth.session.clone();
    let via = auth.via;
    let actor = Actor::Session {
        user: Box::new(auth.user),
        session_id: auth.session.id,
    };
    let reason = body.reason.as_deref().unwrap_or_default();
    let started =
        super::impersonate(&state, &actor, &own_session, &body.user_id, reason, &client).await?;
    let mut response = Json(ImpersonationAnswer {
        session: SessionView::of(&started.session, true),
        user: started.user,
        token: started.token.clone(),
    })
    .into_response();
    if via == Via::Cookie {
        if let Some(own_token) = state.session_cookie.read(&headers) {
            let keep = CredentialCookie::admin_session(&state.config)
                .set(own_token, Some(super::impersonation_lifetime(&state)));
            response.headers_mut().append(SET_COOKIE, keep);
        }
        let cookie = sessions::cookie_for(&state, &started.token, &started.session);
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StopAnswer {
    /// The administrator's own session, restored (`null` when it was not kept: bearer clients
    /// use their own token again).
    session: Option<SessionView>,
    user: Option<User>,
}

api_errors!(StopImpersonatingErrors, POST; Unauthorized, NotImpersonating);

/// Ends the impersonated session and gives a browser back the administrator's own.
#[utoipa::path(post, path = "/admin/stop-impersonating", tag = "admin",
    responses((status = 200, description = "Back to the administrator's session", body = StopAnswer), StopImpersonatingErrors))]
async fn stop_impersonating(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    CurrentSession(auth): CurrentSession,
) -> ApiResult<Response> {
    let admin_id = super::stop_impersonating(&state, &auth.session, &client).await?;
    let kept = CredentialCookie::admin_session(&state.config);
    let restored = match kept.read(&headers) {
        Some(token) => sessions::authenticate(&state, token, Via::Cookie)
            .await?
            .filter(|own| own.user.id == admin_id)
            .map(|own| (token.to_owned(), own)),
        None => None,
    };
    let mut response = match &restored {
        Some((_, own)) => Json(StopAnswer {
            session: Some(SessionView::of(&own.session, true)),
            user: Some(own.user.clone()),
        }),
        None => Json(StopAnswer {
            session: None,
            user: None,
        }),
    }
    .into_response();
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, kept.clear());
    match restored {
        Some((token, own)) => {
            headers.append(
                SET_COOKIE,
                sessions::cookie_for(&state, &token, &own.session),
            );
        }
        None if auth.via == Via::Cookie => {
            headers.append(SET_COOKIE, state.session_cookie.clear());
        }
        None => {}
    }
    Ok(response)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events about this user.
    #[param(max_length = 64)]
    user_id: Option<String>,
    /// Events this administrator (user id) or `operator` caused.
    #[param(max_length = 64)]
    actor: Option<String>,
    /// One kind (`sign_in`, `user_banned`, `impersonation_started`, ...).
    #[param(max_length = 64, pattern = "^[a-z_]+$")]
    kind: Option<String>,
    /// Events in this organization (its id): members added, removed or changed, invitations,
    /// teams, roles.
    #[param(max_length = 64)]
    organization_id: Option<String>,
    /// From (inclusive): unix milliseconds or RFC 3339.
    #[param(max_length = 40)]
    since: Option<String>,
    /// Until (exclusive): unix milliseconds or RFC 3339.
    #[param(max_length = 40)]
    until: Option<String>,
    /// The previous page's `nextCursor`.
    #[param(max_length = 100)]
    cursor: Option<String>,
    /// 1 to 1000, default 100.
    #[serde(default, deserialize_with = "lenient_number")]
    #[param(minimum = 1, maximum = 1000, value_type = Option<i64>)]
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditAnswer {
    events: Vec<super::audit_log::AuditEvent>,
    /// Pass as `cursor` for older events; `null` at the end.
    next_cursor: Option<String>,
}

api_errors!(AuditLogErrors, ANY; Unauthorized, ImpersonationRestricted, NotAllowedToReadAuditLog, ValidationError);

/// The audit trail, newest first: filter by user, actor, kind, organization and time; page with
/// `cursor`.
/// Needs `audit:list` (the `admin` role has it).
#[utoipa::path(get, path = "/admin/audit-log", tag = "admin", params(AuditQuery),
    responses((status = 200, description = "A page of events, newest first", body = AuditAnswer), AuditLogErrors))]
async fn audit_log(
    State(state): State<AppState>,
    Acting(actor): Acting,
    QueryParams(q): QueryParams<AuditQuery>,
) -> ApiResult<Json<AuditAnswer>> {
    use super::audit_log::{parse_cursor, parse_time, AuditFilter};
    let filter = AuditFilter {
        user_id: q.user_id,
        actor: q.actor,
        kind: q.kind,
        organization_id: q.organization_id,
        since: q.since.as_deref().map(parse_time).transpose()?,
        until: q.until.as_deref().map(parse_time).transpose()?,
        before: q.cursor.as_deref().map(parse_cursor).transpose()?,
    };
    let page = super::audit_log::list(&state, &actor, filter, q.limit).await?;
    Ok(Json(AuditAnswer {
        events: page.events,
        next_cursor: page.next_cursor,
    }))
}
