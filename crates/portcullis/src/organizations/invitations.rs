//! Invitations by email: sent through the outbox, bound to their organization and to the invited
//! address, expiring, single use. Reading, accepting or rejecting one needs a signed-in user whose
//! verified email is the invited one; knowing an invitation id is not enough.

use super::members::{may_grant, visible_invitations};
use super::model::{Invitation, InvitationStatus, Member};
use super::{
    access, authorized, checked_roles, connection, named_or_active, record, store, Concerning,
    Needs,
};
use crate::audit::Event;
use crate::crypto::tokens::random_id;
use crate::db::{millis, Context as _};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::i18n::Requested;
use crate::mail::{self, Context, Kind};
use crate::sessions::{self, Authenticated};
use crate::state::AppState;
use crate::users::email::Email;

pub struct Invite<'a> {
    pub email: &'a str,
    pub roles: &'a [String],
    pub organization_id: Option<&'a str>,
    pub resend: bool,
    pub team_ids: &'a [String],
    /// The language of the invitation mail.
    pub language: &'a Requested,
}

/// The link an invitation mail carries: the application's page (`organization.invitation_url`),
/// else the hosted invitation page when the pages are on.
fn invitation_link(state: &AppState, id: &str) -> Option<String> {
    match &state.config.organization.invitation_url {
        Some(url) => Some(url.replace("{id}", id)),
        None => state
            .config
            .page_path(&format!("/invitations/{id}"))
            .map(|page| format!("{}{page}", state.config.issuer())),
    }
}

/// Invites an address (`invitation: create`). `resend` replaces a pending invitation to the same
/// address with a new one (a new id: the old link stops working).
pub async fn invite(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    invite: Invite<'_>,
) -> ApiResult<Invitation> {
    let email = Email::parse(invite.email)?;
    let email = email.as_str();
    let organization_id = named_or_active(invite.organization_id, &auth.session)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin("organizations: invite").await?;
    store::lock_organization(&mut tx, &organization_id).await?;
    let me = authorized(
        state,
        &mut tx,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
        Needs {
            resource: "invitation",
            action: "create",
            denied: ErrorCode::YouAreNotAllowedToInviteUsersToThisOrganization,
        },
    )
    .await?;
    let role = checked_roles(state, &mut tx, &organization_id, invite.roles).await?;
    may_grant(
        state,
        &mut tx,
        &me,
        &role,
        ErrorCode::YouAreNotAllowedToInviteUserWithThisRole,
    )
    .await?;
    let mut teams = Vec::new();
    for team_id in invite.team_ids {
        let team = store::find_team(&mut tx, &organization_id, team_id)
            .await?
            .ok_or(ErrorCode::TeamNotFound)?;
        if !teams.contains(&team.id) {
            teams.push(team.id);
        }
    }
    if store::find_member_by_id_or_email(&mut tx, &organization_id, email)
        .await?
        .is_some_and(|m| m.user.is_some_and(|u| u.email == email))
    {
        return Err(ErrorCode::UserIsAlreadyAMemberOfThisOrganization.into());
    }
    let pending = store::pending_invitations_for(&mut tx, &organization_id, email, now).await?;
    if !pending.is_empty() {
        if !invite.resend {
            return Err(ErrorCode::UserIsAlreadyInvitedToThisOrganization.into());
        }
        if pending.iter().any(|p| access::is_owner(&p.role)) && !access::is_owner(&me.role) {
            return Err(ErrorCode::YouAreNotAllowedToInviteUserWithThisRole.into());
        }
        for old in &pending {
            store::cancel_invitation(&mut tx, &organization_id, &old.id).await?;
        }
    } else {
        let count = store::count_pending_invitations(&mut tx, &organization_id, now).await?;
        if u64::try_from(count).unwrap_or(u64::MAX) >= state.config.organization.invitation_limit {
            return Err(ErrorCode::InvitationLimitReached.into());
        }
    }
    let organization = store::find_organization(&mut tx, &organization_id)
        .await?
        .ok_or(ErrorCode::OrganizationNotFound)?;
    let id = random_id();
    let ttl = state.config.organization.invitation_ttl;
    let team_id = (!teams.is_empty()).then(|| teams.join(","));
    store::insert_invitation(
        &mut tx,
        &store::NewInvitation {
            id: &id,
            organization_id: &organization_id,
            email,
            role: &role,
            team_id: team_id.as_deref(),
            inviter_id: &auth.user.id,
            now,
            expires_at: now + millis(ttl),
        },
    )
    .await?;
    let link = invitation_link(state, &id);
    let message = state
        .mailer
        .compose(
            Kind::OrganizationInvitation,
            email,
            &Context {
                product: &state.config.mail.product_name,
                name: "",
                email,
                new_email: None,
                link: link.as_deref(),
                expires_in: Some(mail::human_duration(ttl)),
                organization: Some(&organization.name),
                inviter: Some(&auth.user.name),
                code: Some(&id),
            },
            invite.language,
        )
        .map_err(ApiError::internal)?;
    state.mailer.enqueue(&mut tx, &message).await?;
    let invitation = store::find_invitation(&mut tx, &id)
        .await?
        .ok_or_else(|| ApiError::internal("created invitation vanished"))?;
    tx.commit().await.context("organizations: invite")?;
    state.mailer.wake();
    record(
        state,
        Event::InvitationSent,
        auth,
        client,
        Concerning::invitation(&invitation),
    )
    .await;
    Ok(invitation)
}

/// The invitation if the caller is its recipient with a verified address. An unknown id, a used
/// or expired invitation: INVITATION_NOT_FOUND; someone else's: 403.
async fn addressed_to_caller(
    conn: &mut sqlx::AnyConnection,
    auth: &Authenticated,
    id: &str,
    now: i64,
    unverified: ErrorCode,
) -> ApiResult<Invitation> {
    let invitation = store::find_invitation(conn, id)
        .await?
        .ok_or(ErrorCode::InvitationNotFound)?;
    if invitation.email != auth.user.email.to_lowercase() {
        return Err(ErrorCode::YouAreNotTheRecipientOfTheInvitation.into());
    }
    if !auth.user.email_verified {
        return Err(unverified.into());
    }
    if invitation.status != InvitationStatus::Pending.as_str() || invitation.expires_at.0 <= now {
        return Err(ErrorCode::InvitationNotFound.into());
    }
    Ok(invitation)
}

/// Accepts an invitation: the caller becomes a member with its roles (and joins its teams), and
/// the organization becomes the session's active one. Of two concurrent accepts one wins.
pub async fn accept(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    id: &str,
) -> ApiResult<(Invitation, Member)> {
    let now = state.clock.now_ms();
    let invitation = addressed_to_caller(
        &mut *connection(state).await?,
        auth,
        id,
        now,
        ErrorCode::EmailVerificationRequiredBeforeAcceptingOrRejectingInvitation,
    )
    .await?;
    let organization_id = invitation.organization_id.clone();
    let mut tx = state.db.begin("organizations: accept invitation").await?;
    // The lock first: the member count and the settled invitation below see every concurrent
    // accept.
    store::lock_organization(&mut tx, &organization_id).await?;
    let count = store::count_members(&mut tx, &organization_id).await?;
    if u64::try_from(count).unwrap_or(u64::MAX) >= state.config.organization.membership_limit {
        return Err(ErrorCode::OrganizationMembershipLimitReached.into());
    }
    let invitation = store::settle_invitation(&mut tx, id, InvitationStatus::Accepted, now)
        .await?
        .ok_or(ErrorCode::InvitationNotFound)?;
    let inserted = store::insert_member(
        &mut tx,
        &store::NewMember {
            id: &random_id(),
            organization_id: &organization_id,
            user_id: &auth.user.id,
            role: &invitation.role,
            now,
        },
    )
    .await;
    match inserted {
        Err(e) if e.is_unique_violation() => {
            return Err(ErrorCode::UserIsAlreadyAMemberOfThisOrganization.into())
        }
        other => other?,
    }
    let mut joined = Vec::new();
    for team_id in invitation.team_id.iter().flat_map(|t| t.split(',')) {
        // A team deleted since the invitation was sent is skipped.
        if store::find_team(&mut tx, &organization_id, team_id)
            .await?
            .is_some()
        {
            store::add_team_member(&mut tx, &random_id(), team_id, &auth.user.id, now).await?;
            joined.push(team_id.to_owned());
        }
    }
    let active_team = (joined.len() == 1).then(|| joined[0].as_str());
    sessions::store::set_active(
        &mut tx,
        &auth.session.id,
        Some(&organization_id),
        active_team,
    )
    .await?;
    store::touch_member(&mut tx, &organization_id, &auth.user.id, now).await?;
    let member = store::find_member(&mut tx, &organization_id, &auth.user.id)
        .await?
        .ok_or_else(|| ApiError::internal("accepted member vanished"))?;
    tx.commit()
        .await
        .context("organizations: accept invitation")?;
    state
        .session_cache
        .forget_sessions(std::slice::from_ref(&auth.session.id));
    record(
        state,
        Event::InvitationAccepted,
        auth,
        client,
        Concerning::invitation(&invitation),
    )
    .await;
    let note = format!("role {} by invitation {}", member.role, invitation.id);
    record(
        state,
        Event::MemberAdded,
        auth,
        client,
        Concerning::member(&member, &note),
    )
    .await;
    Ok((invitation, member))
}

/// Rejects an invitation addressed to the caller.
pub async fn reject(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    id: &str,
) -> ApiResult<Invitation> {
    let now = state.clock.now_ms();
    let mut conn = connection(state).await?;
    addressed_to_caller(
        &mut conn,
        auth,
        id,
        now,
        ErrorCode::EmailVerificationRequiredBeforeAcceptingOrRejectingInvitation,
    )
    .await?;
    let invitation = store::settle_invitation(&mut conn, id, InvitationStatus::Rejected, now)
        .await?
        .ok_or(ErrorCode::InvitationNotFound)?;
    record(
        state,
        Event::InvitationRejected,
        auth,
        client,
        Concerning::invitation(&invitation),
    )
    .await;
    Ok(invitation)
}

/// Cancels a pending invitation (`invitation: cancel` in its organization).
pub async fn cancel(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
    id: &str,
) -> ApiResult<Invitation> {
    let mut conn = connection(state).await?;
    let invitation = store::find_invitation(&mut conn, id)
        .await?
        .ok_or(ErrorCode::InvitationNotFound)?;
    authorized(
        state,
        &mut conn,
        &invitation.organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAllowedToCancelThisInvitation,
        Needs {
            resource: "invitation",
            action: "cancel",
            denied: ErrorCode::YouAreNotAllowedToCancelThisInvitation,
        },
    )
    .await?;
    let canceled = store::cancel_invitation(&mut conn, &invitation.organization_id, id)
        .await?
        .ok_or(ErrorCode::InvitationNotFound)?;
    record(
        state,
        Event::InvitationCanceled,
        auth,
        client,
        Concerning::invitation(&canceled),
    )
    .await;
    Ok(canceled)
}

pub struct InvitationDetails {
    pub invitation: Invitation,
    pub organization_name: String,
    pub organization_slug: String,
    pub inviter_email: String,
}

/// An invitation addressed to the caller, with its organization and inviter.
pub async fn get(state: &AppState, auth: &Authenticated, id: &str) -> ApiResult<InvitationDetails> {
    let mut conn = connection(state).await?;
    let invitation = addressed_to_caller(
        &mut conn,
        auth,
        id,
        state.clock.now_ms(),
        ErrorCode::EmailVerificationRequiredForInvitation,
    )
    .await?;
    let organization = store::find_organization(&mut conn, &invitation.organization_id)
        .await?
        .ok_or(ErrorCode::OrganizationNotFound)?;
    let inviter = store::find_member(&mut conn, &organization.id, &invitation.inviter_id)
        .await?
        .and_then(|m| m.user)
        .ok_or(ErrorCode::InviterIsNoLongerAMemberOfTheOrganization)?;
    Ok(InvitationDetails {
        invitation,
        organization_name: organization.name,
        organization_slug: organization.slug,
        inviter_email: inviter.email,
    })
}

/// An organization's invitations, for members who may invite.
pub async fn list(
    state: &AppState,
    auth: &Authenticated,
    organization_id: Option<&str>,
) -> ApiResult<Vec<Invitation>> {
    let organization_id = named_or_active(organization_id, &auth.session)?;
    let mut conn = connection(state).await?;
    let me = authorized(
        state,
        &mut conn,
        &organization_id,
        &auth.user.id,
        ErrorCode::YouAreNotAMemberOfThisOrganization,
        Needs {
            resource: "invitation",
            action: "create",
            denied: ErrorCode::YouAreNotAllowedToListInvitations,
        },
    )
    .await?;
    visible_invitations(state, &mut conn, &me).await
}

/// The caller's pending invitations (a verified address is needed), with organization names.
pub async fn list_for_user(
    state: &AppState,
    auth: &Authenticated,
) -> ApiResult<Vec<(Invitation, String)>> {
    if !auth.user.email_verified {
        return Err(ErrorCode::EmailVerificationRequiredForInvitation.into());
    }
    let mut conn = connection(state).await?;
    Ok(store::pending_invitations_of_email(
        &mut conn,
        &auth.user.email.to_lowercase(),
        state.clock.now_ms(),
    )
    .await?)
}
