//! The audit trail of authentication events (ASVS 16.3.1): who, what, when, from where.
//! Never a password, token or secret.

use crate::crypto::tokens::random_id;
use crate::http::client::ClientInfo;
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub enum Event {
    SignUp,
    SignIn,
    SignInFailed,
    SignOut,
    PasswordChanged,
    UserDeleted,
    SessionsRevoked,
    RefreshTokenReused,
    PasswordReset,
    SignUpWithTakenEmail,
    TwoFactorEnabled,
    TwoFactorDisabled,
    TwoFactorFailed,
    BackupCodeUsed,
    BackupCodesGenerated,
    SocialSignIn,
    SocialSignUp,
    AccountLinked,
    AccountUnlinked,
    OrganizationCreated,
    OrganizationUpdated,
    OrganizationDeleted,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    InvitationSent,
    InvitationAccepted,
    InvitationRejected,
    InvitationCanceled,
    TeamChanged,
    OrganizationRoleChanged,
    UserCreated,
    UserUpdated,
    RoleChanged,
    UserBanned,
    UserUnbanned,
    UserRemoved,
    PasswordSetByAdmin,
    ImpersonationStarted,
    ImpersonationStopped,
    ApiKeyCreated,
    ApiKeyRevoked,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::SignUp => "sign_up",
            Event::SignIn => "sign_in",
            Event::SignInFailed => "sign_in_failed",
            Event::SignOut => "sign_out",
            Event::PasswordChanged => "password_changed",
            Event::UserDeleted => "user_deleted",
            Event::SessionsRevoked => "sessions_revoked",
            Event::RefreshTokenReused => "refresh_token_reused",
            Event::PasswordReset => "password_reset",
            Event::SignUpWithTakenEmail => "sign_up_with_taken_email",
            Event::TwoFactorEnabled => "two_factor_enabled",
            Event::TwoFactorDisabled => "two_factor_disabled",
            Event::TwoFactorFailed => "two_factor_failed",
            Event::BackupCodeUsed => "backup_code_used",
            Event::BackupCodesGenerated => "backup_codes_generated",
            Event::SocialSignIn => "sign_in_social",
            Event::SocialSignUp => "sign_up_social",
            Event::AccountLinked => "account_linked",
            Event::AccountUnlinked => "account_unlinked",
            Event::OrganizationCreated => "organization_created",
            Event::OrganizationUpdated => "organization_updated",
            Event::OrganizationDeleted => "organization_deleted",
            Event::MemberAdded => "member_added",
            Event::MemberRemoved => "member_removed",
            Event::MemberRoleChanged => "member_role_changed",
            Event::InvitationSent => "invitation_sent",
            Event::InvitationAccepted => "invitation_accepted",
            Event::InvitationRejected => "invitation_rejected",
            Event::InvitationCanceled => "invitation_canceled",
            Event::TeamChanged => "team_changed",
            Event::OrganizationRoleChanged => "organization_role_changed",
            Event::UserCreated => "user_created",
            Event::UserUpdated => "user_updated",
            Event::RoleChanged => "role_changed",
            Event::UserBanned => "user_banned",
            Event::UserUnbanned => "user_unbanned",
            Event::UserRemoved => "user_removed",
            Event::PasswordSetByAdmin => "password_set_by_admin",
            Event::ImpersonationStarted => "impersonation_started",
            Event::ImpersonationStopped => "impersonation_stopped",
            Event::ApiKeyCreated => "api_key_created",
            Event::ApiKeyRevoked => "api_key_revoked",
        }
    }
}

/// Records an event. A failure to write the trail is logged, not turned into a failed request:
/// the user's action has already happened.
pub async fn record(
    state: &AppState,
    event: Event,
    user_id: Option<&str>,
    session_id: Option<&str>,
    client: &ClientInfo,
) {
    let nobody = Acted {
        actor: "",
        detail: None,
    };
    record_acted(state, event, user_id, session_id, &nobody, client).await;
}

/// Who acted on the user (an administrator's id, `api-key:<id>`, `operator`; empty: the user
/// themselves) and a short note without secrets (a role, a ban's reason).
pub struct Acted<'a> {
    pub actor: &'a str,
    pub detail: Option<&'a str>,
}

/// `record`, for an action someone took on a user's account.
pub async fn record_acted(
    state: &AppState,
    event: Event,
    user_id: Option<&str>,
    session_id: Option<&str>,
    acted: &Acted<'_>,
    client: &ClientInfo,
) {
    write(state, event, user_id, session_id, acted, None, client).await;
}

/// `record_acted`, for an action in an organization: the event names it, so the trail can be
/// filtered by organization (`detail` names the member, invitation, team or role concerned).
pub async fn record_in_organization(
    state: &AppState,
    event: Event,
    user_id: Option<&str>,
    session_id: Option<&str>,
    acted: &Acted<'_>,
    organization_id: &str,
    client: &ClientInfo,
) {
    write(
        state,
        event,
        user_id,
        session_id,
        acted,
        Some(organization_id),
        client,
    )
    .await;
}

async fn write(
    state: &AppState,
    event: Event,
    user_id: Option<&str>,
    session_id: Option<&str>,
    acted: &Acted<'_>,
    organization_id: Option<&str>,
    client: &ClientInfo,
) {
    let actor = Some(acted.actor).filter(|a| !a.is_empty());
    tracing::info!(event = event.as_str(), user_id, session_id, actor, organization_id, ip = %client.ip, "audit");
    let result = sqlx::query(
        "INSERT INTO audit_events (id, at, kind, user_id, session_id, ip_address, user_agent, actor, detail, organization_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(random_id())
    .bind(state.clock.now_ms())
    .bind(event.as_str())
    .bind(user_id)
    .bind(session_id)
    .bind(client.ip.to_string())
    .bind(client.user_agent.as_deref())
    .bind(actor)
    .bind(acted.detail)
    .bind(organization_id)
    .execute(&state.db.pool)
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, event = event.as_str(), "could not write the audit trail");
    }
}
