//! One error type for every route: it becomes better-auth's `{"message","code"}` body with a
//! status. Every code the API can answer is declared once below, with its status and message; an
//! endpoint names the codes it answers (`api_errors!`) and the OpenAPI document lists them from
//! there.
//!
//! Building an error has no side effect. An internal failure keeps its cause (with the context
//! that names the failed step, e.g. "insert session: ..."), the client gets a generic answer
//! (ASVS 16.5.1), and one layer (`log_server_errors`) logs the cause once, inside the request's
//! span, so the line carries the request id.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $status:ident, $code:literal, $message:literal; )+) => {
        /// Every error code the API answers, with its status and default message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode { $( $(#[doc = $doc])* $variant ),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code on the wire (better-auth's where one exists).
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),+ }
            }

            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message),+ }
            }
        }
    };
}

error_codes! {
    // Any request.
    Unauthorized = UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized";
    NotFound = NOT_FOUND, "NOT_FOUND", "Not found";
    MethodNotAllowed = METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "Method not allowed";
    RequestTimeout = REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "The request took too long";
    PayloadTooLarge = PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "Request body is too large";
    UnsupportedMediaType = UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "Expected a body with Content-Type: application/json";
    /// The message says how long to wait; `Retry-After` too.
    TooManyRequests = TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "Too many requests";
    InternalServerError = INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "Internal server error";
    DatabaseUnreachable = SERVICE_UNAVAILABLE, "DATABASE_UNREACHABLE", "The database does not answer";
    /// The database (or another dependency) cannot serve the request now; `Retry-After` says when
    /// to try again.
    ServiceUnavailable = SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "The service is unavailable; try again shortly";
    // Request bodies and parameters: the message says what is wrong.
    ValidationError = BAD_REQUEST, "VALIDATION_ERROR", "Invalid request";
    InvalidJson = BAD_REQUEST, "INVALID_JSON", "Invalid JSON";
    InvalidBody = BAD_REQUEST, "INVALID_BODY", "Invalid body";
    // Where requests come from and where they lead.
    InvalidOrigin = FORBIDDEN, "INVALID_ORIGIN", "Invalid origin";
    MissingOrNullOrigin = FORBIDDEN, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin";
    InvalidCallbackUrl = FORBIDDEN, "INVALID_CALLBACK_URL", "Invalid callbackURL";
    InvalidRedirectUrl = FORBIDDEN, "INVALID_REDIRECT_URL", "Invalid callbackURL";
    // Users' values.
    InvalidEmail = BAD_REQUEST, "INVALID_EMAIL", "Invalid email";
    InvalidName = BAD_REQUEST, "INVALID_NAME", "Invalid name";
    InvalidImage = BAD_REQUEST, "INVALID_IMAGE", "Invalid image";
    PasswordTooShort = BAD_REQUEST, "PASSWORD_TOO_SHORT", "Password too short";
    PasswordTooLong = BAD_REQUEST, "PASSWORD_TOO_LONG", "Password too long";
    /// The message says why (zxcvbn's warning).
    PasswordTooWeak = BAD_REQUEST, "PASSWORD_TOO_WEAK", "Password too weak";
    UserAlreadyExistsUseAnotherEmail = UNPROCESSABLE_ENTITY, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.";
    EmailCanNotBeUpdated = BAD_REQUEST, "EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated";
    NoFieldsToUpdate = BAD_REQUEST, "NO_FIELDS_TO_UPDATE", "No fields to update";
    // Signing in and re-authenticating.
    InvalidEmailOrPassword = UNAUTHORIZED, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password";
    EmailNotVerified = FORBIDDEN, "EMAIL_NOT_VERIFIED", "Email not verified";
    InvalidPassword = BAD_REQUEST, "INVALID_PASSWORD", "Invalid password";
    CredentialAccountNotFound = BAD_REQUEST, "CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found";
    SessionNotFresh = FORBIDDEN, "SESSION_NOT_FRESH", "Sign in again to make this change";
    // Emailed links.
    /// `verify-email` answers it with 401, as better-auth does.
    InvalidToken = BAD_REQUEST, "INVALID_TOKEN", "Invalid token";
    /// `verify-email` answers it with 401, as better-auth does.
    TokenExpired = BAD_REQUEST, "TOKEN_EXPIRED", "Token expired";
    EmailMismatch = BAD_REQUEST, "EMAIL_MISMATCH", "Email mismatch";
    EmailAlreadyVerified = BAD_REQUEST, "EMAIL_ALREADY_VERIFIED", "Email is already verified";
    EmailIsTheSame = BAD_REQUEST, "EMAIL_IS_THE_SAME", "Email is the same";
    // Two-factor.
    InvalidIssuer = BAD_REQUEST, "INVALID_ISSUER", "Invalid issuer";
    TotpAlreadyEnabled = BAD_REQUEST, "TOTP_ALREADY_ENABLED", "TOTP is already enabled";
    TotpNotEnabled = BAD_REQUEST, "TOTP_NOT_ENABLED", "TOTP not enabled";
    TwoFactorNotEnabled = BAD_REQUEST, "TWO_FACTOR_NOT_ENABLED", "Two factor isn't enabled";
    BackupCodesNotEnabled = BAD_REQUEST, "BACKUP_CODES_NOT_ENABLED", "Backup codes aren't enabled";
    InvalidCode = UNAUTHORIZED, "INVALID_CODE", "Invalid code";
    InvalidBackupCode = UNAUTHORIZED, "INVALID_BACKUP_CODE", "Invalid backup code";
    InvalidTwoFactorCookie = UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE", "Invalid two factor cookie";
    TooManyAttemptsRequestNewCode = UNAUTHORIZED, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE", "Too many attempts. Please sign in again.";
    // Social sign-in.
    ProviderNotFound = NOT_FOUND, "PROVIDER_NOT_FOUND", "Provider not found";
    IdTokenNotSupported = NOT_FOUND, "ID_TOKEN_NOT_SUPPORTED", "id_token not supported";
    /// The provider cannot be reached (down, slow, discovery failed): try again later. Not a 5xx:
    /// this server is fine.
    ProviderUnavailable = FAILED_DEPENDENCY, "PROVIDER_UNAVAILABLE", "The sign-in provider cannot be reached; try again shortly";
    AccountNotLinked = UNAUTHORIZED, "ACCOUNT_NOT_LINKED", "This email belongs to an account that is not linked to the provider; sign in and link it";
    UserEmailNotFound = BAD_REQUEST, "USER_EMAIL_NOT_FOUND", "User email not found";
    SignUpDisabled = FORBIDDEN, "SIGNUP_DISABLED", "Sign-up is disabled";
    AccountNotFound = BAD_REQUEST, "ACCOUNT_NOT_FOUND", "Account not found";
    FailedToUnlinkLastAccount = BAD_REQUEST, "FAILED_TO_UNLINK_LAST_ACCOUNT", "You can't unlink your last account";
    /// No stored provider token (social.store_provider_tokens is off, or the provider gave none),
    /// or the provider refused to refresh it.
    SocialAccountAlreadyLinked = CONFLICT, "SOCIAL_ACCOUNT_ALREADY_LINKED", "Social account already linked to another user";
    EmailDoesNotMatch = BAD_REQUEST, "EMAIL_DOES_NOT_MATCH", "The provider's email is not this user's";
    FailedToGetAccessToken = BAD_REQUEST, "FAILED_TO_GET_ACCESS_TOKEN", "Failed to get a valid access token";
    // Organizations (better-auth's organization plugin). A signed-in caller without the permission,
    // or not a member of the organization named, gets 403; an organization, member, invitation,
    // team or role they cannot see (another organization's, or none) gets 404 (better-auth: 400).
    OrganizationAlreadyExists = BAD_REQUEST, "ORGANIZATION_ALREADY_EXISTS", "Organization already exists";
    OrganizationSlugAlreadyTaken = BAD_REQUEST, "ORGANIZATION_SLUG_ALREADY_TAKEN", "Organization slug already taken";
    OrganizationNotFound = NOT_FOUND, "ORGANIZATION_NOT_FOUND", "Organization not found";
    UserIsNotAMemberOfTheOrganization = FORBIDDEN, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION", "User is not a member of the organization";
    YouAreNotAMemberOfThisOrganization = FORBIDDEN, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION", "You are not a member of this organization";
    YouAreNotAllowedToCreateANewOrganization = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION", "You are not allowed to create a new organization";
    YouHaveReachedTheMaximumNumberOfOrganizations = FORBIDDEN, "YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_ORGANIZATIONS", "You have reached the maximum number of organizations";
    YouAreNotAllowedToUpdateThisOrganization = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION", "You are not allowed to update this organization";
    YouAreNotAllowedToDeleteThisOrganization = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION", "You are not allowed to delete this organization";
    NoActiveOrganization = BAD_REQUEST, "NO_ACTIVE_ORGANIZATION", "No active organization";
    MemberNotFound = NOT_FOUND, "MEMBER_NOT_FOUND", "Member not found";
    RoleNotFound = NOT_FOUND, "ROLE_NOT_FOUND", "Role not found";
    YouCannotLeaveTheOrganizationAsTheOnlyOwner = BAD_REQUEST, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER", "You cannot leave the organization as the only owner";
    YouCannotLeaveTheOrganizationWithoutAnOwner = BAD_REQUEST, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER", "You cannot leave the organization without an owner";
    YouAreNotAllowedToDeleteThisMember = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER", "You are not allowed to delete this member";
    YouAreNotAllowedToUpdateThisMember = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER", "You are not allowed to update this member";
    OrganizationMembershipLimitReached = FORBIDDEN, "ORGANIZATION_MEMBERSHIP_LIMIT_REACHED", "Organization membership limit reached";
    YouAreNotAllowedToInviteUsersToThisOrganization = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION", "You are not allowed to invite users to this organization";
    YouAreNotAllowedToInviteUserWithThisRole = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE", "You are not allowed to invite a user with this role";
    UserIsAlreadyAMemberOfThisOrganization = BAD_REQUEST, "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION", "User is already a member of this organization";
    UserIsAlreadyInvitedToThisOrganization = BAD_REQUEST, "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION", "User is already invited to this organization";
    InvitationNotFound = NOT_FOUND, "INVITATION_NOT_FOUND", "Invitation not found";
    InvitationLimitReached = FORBIDDEN, "INVITATION_LIMIT_REACHED", "Invitation limit reached";
    YouAreNotTheRecipientOfTheInvitation = FORBIDDEN, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION", "You are not the recipient of the invitation";
    EmailVerificationRequiredBeforeAcceptingOrRejectingInvitation = FORBIDDEN, "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION", "Email verification required before accepting or rejecting invitation";
    EmailVerificationRequiredForInvitation = FORBIDDEN, "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION", "Email verification required to view or list invitations for the session email";
    YouAreNotAllowedToCancelThisInvitation = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION", "You are not allowed to cancel this invitation";
    YouAreNotAllowedToListInvitations = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS", "You are not allowed to list invitations for this organization";
    InviterIsNoLongerAMemberOfTheOrganization = BAD_REQUEST, "INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION", "Inviter is no longer a member of the organization";
    TeamNotFound = NOT_FOUND, "TEAM_NOT_FOUND", "Team not found";
    YouAreNotAllowedToCreateTeamsInThisOrganization = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION", "You are not allowed to create teams in this organization";
    YouHaveReachedTheMaximumNumberOfTeams = BAD_REQUEST, "YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_TEAMS", "You have reached the maximum number of teams";
    YouAreNotAllowedToUpdateThisTeam = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM", "You are not allowed to update this team";
    YouAreNotAllowedToDeleteThisTeam = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_TEAM", "You are not allowed to delete this team";
    UserIsNotAMemberOfTheTeam = FORBIDDEN, "USER_IS_NOT_A_MEMBER_OF_THE_TEAM", "User is not a member of the team";
    YouDoNotHaveAnActiveTeam = BAD_REQUEST, "YOU_DO_NOT_HAVE_AN_ACTIVE_TEAM", "You do not have an active team";
    YouAreNotAllowedToCreateANewTeamMember = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER", "You are not allowed to create a new member";
    YouAreNotAllowedToRemoveATeamMember = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_REMOVE_A_TEAM_MEMBER", "You are not allowed to remove a team member";
    YouAreNotAllowedToCreateARole = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE", "You are not allowed to create a role";
    YouAreNotAllowedToUpdateARole = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE", "You are not allowed to update a role";
    YouAreNotAllowedToDeleteARole = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE", "You are not allowed to delete a role";
    YouAreNotAllowedToReadARole = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_READ_A_ROLE", "You are not allowed to read a role";
    YouAreNotAllowedToListARole = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_LIST_A_ROLE", "You are not allowed to list a role";
    TooManyRoles = BAD_REQUEST, "TOO_MANY_ROLES", "This organization has too many roles";
    InvalidResource = BAD_REQUEST, "INVALID_RESOURCE", "The provided permission includes an invalid resource";
    RoleNameIsAlreadyTaken = BAD_REQUEST, "ROLE_NAME_IS_ALREADY_TAKEN", "That role name is already taken";
    CannotDeleteAPreDefinedRole = BAD_REQUEST, "CANNOT_DELETE_A_PRE_DEFINED_ROLE", "Cannot delete a pre-defined role";
    RoleIsAssignedToMembers = BAD_REQUEST, "ROLE_IS_ASSIGNED_TO_MEMBERS", "Cannot delete a role that is assigned to members. Please reassign the members to a different role first";
    // User management (the admin API); better-auth's admin plugin codes where one exists.
    BannedUser = FORBIDDEN, "BANNED_USER", "You have been banned from this application";
    UserNotFound = NOT_FOUND, "USER_NOT_FOUND", "User not found";
    NotAllowedToCreateUsers = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS", "You are not allowed to create users";
    NotAllowedToListUsers = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS", "You are not allowed to list users";
    NotAllowedToGetUser = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_GET_USER", "You are not allowed to get user";
    NotAllowedToUpdateUsers = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS", "You are not allowed to update users";
    NotAllowedToSetUsersEmail = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL", "You are not allowed to update users email";
    NotAllowedToChangeUsersRole = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE", "You are not allowed to change users role";
    NotAllowedToBanUsers = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", "You are not allowed to ban users";
    NotAllowedToImpersonateUsers = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS", "You are not allowed to impersonate users";
    NotAllowedToListUsersSessions = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS", "You are not allowed to list users sessions";
    NotAllowedToRevokeUsersSessions = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS", "You are not allowed to revoke users sessions";
    NotAllowedToDeleteUsers = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS", "You are not allowed to delete users";
    NotAllowedToSetUsersPassword = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD", "You are not allowed to set users password";
    NonExistentRole = BAD_REQUEST, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE", "You are not allowed to set a non-existent role value";
    CannotBanYourself = BAD_REQUEST, "YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself";
    CannotRemoveYourself = BAD_REQUEST, "YOU_CANNOT_REMOVE_YOURSELF", "You cannot remove yourself";
    CannotChangeYourOwnRole = BAD_REQUEST, "YOU_CANNOT_CHANGE_YOUR_OWN_ROLE", "You cannot change your own role";
    CannotImpersonateAdmins = FORBIDDEN, "YOU_CANNOT_IMPERSONATE_ADMINS", "You cannot impersonate admins";
    LastAdmin = BAD_REQUEST, "LAST_ADMIN", "This is the last administrator: make another one first";
    NoDataToUpdate = BAD_REQUEST, "NO_DATA_TO_UPDATE", "No data to update";
    PasswordCannotBeUpdatedViaUpdateUser = BAD_REQUEST, "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER", "Password cannot be updated through update-user. Use the set-user-password endpoint instead";
    UserIdCannotBeUpdated = BAD_REQUEST, "USER_ID_CANNOT_BE_UPDATED", "User id cannot be updated";
    /// An impersonated session reaches neither the admin API nor the account's credentials.
    ImpersonationRestricted = FORBIDDEN, "IMPERSONATED_SESSION_RESTRICTED", "Not allowed while impersonating a user";
    ImpersonationReasonRequired = BAD_REQUEST, "IMPERSONATION_REASON_REQUIRED", "Say why you impersonate this user (reason)";
    NotImpersonating = BAD_REQUEST, "NOT_IMPERSONATING", "You are not impersonating anyone";
    NotAllowedToReadAuditLog = FORBIDDEN, "YOU_ARE_NOT_ALLOWED_TO_READ_THE_AUDIT_LOG", "You are not allowed to read the audit log";
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    /// The code's status, unless an endpoint answers this code with another (documented there).
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    /// Seconds, for a `Retry-After` header (rate limits).
    pub retry_after: Option<u64>,
    /// What went wrong inside, for the log; never sent.
    cause: Option<anyhow::Error>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Human-readable explanation.
    pub message: String,
    /// Stable machine-readable code (better-auth's codes where one exists).
    pub code: String,
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self {
            code,
            status: code.status(),
            message: Cow::Borrowed(code.message()),
            retry_after: None,
            cause: None,
        }
    }
}

impl ApiError {
    /// The code with a message that says more than its default.
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// The code answered with another status than its own (see the code's documentation).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// An unexpected failure: the client gets nothing it could use; the cause is logged once, by
    /// `log_server_errors`, with the request id.
    pub fn internal<E>(cause: E) -> Self
    where
        E: std::fmt::Display + std::fmt::Debug + Send + Sync + 'static,
    {
        let mut error = Self::from(ErrorCode::InternalServerError);
        error.cause = Some(anyhow::Error::msg(cause));
        error
    }

    /// An unexpected failure carrying its error chain.
    pub fn caused_by(cause: anyhow::Error) -> Self {
        let mut error = Self::from(ErrorCode::InternalServerError);
        error.cause = Some(cause);
        error
    }

    /// Moves the internal cause (if any) onto another answer built from this error (the token
    /// endpoint answers in OAuth's shape), so `log_server_errors` still finds it.
    pub fn carry_cause_into(self, response: &mut Response) {
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(Cause(Arc::new(cause)));
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code.as_str(),
            self.message
        )?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause:#})")?;
        }
        Ok(())
    }
}

/// A 5xx answer's cause, carried from the handler to `log_server_errors` in the response.
#[derive(Clone)]
struct Cause(Arc<anyhow::Error>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            message: self.message.into_owned(),
            code: self.code.as_str().to_owned(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is never read, so this connection cannot carry another
            // request; say so, or a client reusing it sees the next request cut off.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(Cause(Arc::new(cause)));
        }
        response
    }
}

/// Logs a 5xx answer, once, with its cause when there is one, and the request's id, method and
/// path (the request span is at debug level: building it for every request at info level cost a
/// tenth of the request pipeline, and only failures need it).
pub fn log_server_error(
    response: &Response,
    request_id: &axum::http::HeaderValue,
    method: &axum::http::Method,
    path: &str,
) {
    let id = request_id.to_str().unwrap_or("-");
    let status = response.status().as_u16();
    match response.extensions().get::<Cause>() {
        Some(Cause(cause)) => {
            tracing::error!(id, %method, path, status, error = %format!("{cause:#}"), "request failed");
        }
        None => tracing::error!(id, %method, path, status, "request failed"),
    }
}

/// Seconds a client is asked to wait when the database is unavailable.
const RETRY_UNAVAILABLE_AFTER_SECS: u64 = 5;

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        let unavailable = e.is_unavailable();
        let mut error = Self::caused_by(e.into());
        if unavailable {
            error.code = ErrorCode::ServiceUnavailable;
            error.status = ErrorCode::ServiceUnavailable.status();
            error.message = Cow::Borrowed(ErrorCode::ServiceUnavailable.message());
            error.retry_after = Some(RETRY_UNAVAILABLE_AFTER_SECS);
        }
        error
    }
}

impl ApiError {
    /// The database did not answer within `database_timeout`.
    pub fn database_unavailable() -> Self {
        let mut error = Self::from(ErrorCode::ServiceUnavailable);
        error.retry_after = Some(RETRY_UNAVAILABLE_AFTER_SECS);
        error
    }
}

impl From<crate::crypto::passwords::HashError> for ApiError {
    fn from(e: crate::crypto::passwords::HashError) -> Self {
        Self::caused_by(anyhow::Error::new(e).context("password hashing"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The OpenAPI responses of a list of error codes, one per status, each naming its codes.
pub fn openapi_responses(
    errors: &[(ErrorCode, StatusCode)],
) -> BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for (code, status) in errors {
        by_status.entry(status.as_u16()).or_default().push(*code);
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            let content = ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(names.join(", "))
                .content("application/json", content)
                .build();
            (status.to_string(), response.into())
        })
        .collect()
}

/// Errors any request can meet on its way through the middleware, by the kind of endpoint.
pub mod common {
    use super::ErrorCode::{self, *};

    /// Every request: rate limits, the deadline, failures.
    pub const ANY: &[ErrorCode] = &[
        TooManyRequests,
        RequestTimeout,
        InternalServerError,
        ServiceUnavailable,
    ];
    /// A state-changing request: the origin check too.
    pub const POST: &[ErrorCode] = &[
        TooManyRequests,
        RequestTimeout,
        InternalServerError,
        ServiceUnavailable,
        InvalidOrigin,
        MissingOrNullOrigin,
    ];
    /// A state-changing request with a JSON body: the body's checks too.
    pub const POST_JSON: &[ErrorCode] = &[
        TooManyRequests,
        RequestTimeout,
        InternalServerError,
        ServiceUnavailable,
        InvalidOrigin,
        MissingOrNullOrigin,
        InvalidJson,
        ValidationError,
        InvalidBody,
        UnsupportedMediaType,
        PayloadTooLarge,
    ];
}

/// Declares the errors an endpoint answers, as a type its `#[utoipa::path]` lists among its
/// `responses`, so the OpenAPI document names every code from `ErrorCode`: the common errors of
/// its kind (`ANY`, `POST`, `POST_JSON`, see `common`) and its own. A code answered with another
/// status than its own is written `Code = 401`.
#[macro_export]
macro_rules! api_errors {
    ($name:ident, $kind:ident $(; $($code:ident $(= $status:literal)?),+)? $(,)?) => {
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                #[allow(unused_imports)]
                use $crate::error::ErrorCode;
                #[allow(unused_mut)]
                let mut errors: Vec<(ErrorCode, axum::http::StatusCode)> = $crate::error::common::$kind
                    .iter()
                    .map(|code| (*code, code.status()))
                    .collect();
                $($(
                    errors.push((
                        ErrorCode::$code,
                        $crate::api_errors!(@status ErrorCode::$code $(, $status)?),
                    ));
                )+)?
                $crate::error::openapi_responses(&errors)
            }
        }
    };
    (@status $code:expr) => { $code.status() };
    (@status $code:expr, $status:literal) => {
        axum::http::StatusCode::from_u16($status).expect("a valid status")
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_declared_once() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
            assert!(code.status().is_client_error() || code.status().is_server_error());
            assert!(!code.message().is_empty());
        }
    }

    #[test]
    fn internal_errors_keep_their_cause_and_tell_the_client_nothing() {
        let error = ApiError::internal("insert session: disk full");
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.message, "Internal server error");
        assert!(error.to_string().contains("insert session: disk full"));
    }
}
