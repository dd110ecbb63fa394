//! The organization pages: `/account/organizations` (the user's organizations, switching the
//! active one, creating one, their pending invitations; for the active organization its members
//! and invitations, managed by those the organization's roles allow) and `/invitations/{id}`
//! (the target of the invitation mail). Every form calls `organizations::*` (the same logic,
//! permission checks, audit events and error codes as `/api/auth/organization/*`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use serde_json::json;

use super::forms::Visit;
use super::routes::{
    again, limit, notice, require_session, signed_in_form, unknown_action, Fields, PageForm,
};
use super::{page, see_other};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::organizations::invitations::{self, Invite};
use crate::organizations::{self, access, members, ActiveChoice, NewOrganization};
use crate::rate_limit::Class;
use crate::sessions::Authenticated;
use crate::state::AppState;
use crate::verification;

const HERE: &str = "/account/organizations";

/// The organization pages under `ui.path_prefix` (none when `ui.enabled` is off).
pub fn router(state: &AppState) -> Router<AppState> {
    if !state.config.ui.enabled {
        return Router::new();
    }
    let p = |path: &str| state.config.ui.path(path);
    Router::new()
        .route(&p(HERE), get(organizations_page).post(organizations_submit))
        .route(
            &p("/invitations/{id}"),
            get(invitation_page).post(invitation_submit),
        )
}
const TEMPLATE: &str = "account_organizations.html";

#[derive(Serialize)]
struct OrganizationRow {
    id: String,
    name: String,
    slug: String,
    active: bool,
}

#[derive(Serialize)]
struct MemberRow {
    id: String,
    name: String,
    email: String,
    role: String,
    me: bool,
    /// Only owners change or remove owners (the API's rule): others get no controls for them.
    owner: bool,
}

#[derive(Serialize)]
struct InvitationRow {
    id: String,
    email: String,
    role: String,
    organization: String,
}

/// What the organizations page shows the signed-in user.
async fn page_values(state: &AppState, auth: &Authenticated) -> ApiResult<serde_json::Value> {
    let active_id = auth.session.active_organization_id.as_deref();
    let organizations: Vec<OrganizationRow> = members::list_organizations(state, auth)
        .await?
        .into_iter()
        .map(|o| OrganizationRow {
            active: Some(o.id.as_str()) == active_id,
            id: o.id,
            name: o.name,
            slug: o.slug,
        })
        .collect();
    // The API's rule: invitations are listed for a verified address only.
    let pending: Vec<InvitationRow> = match invitations::list_for_user(state, auth).await {
        Ok(list) => list
            .into_iter()
            .map(|(i, organization)| InvitationRow {
                id: i.id,
                email: i.email,
                role: i.role,
                organization,
            })
            .collect(),
        Err(e) if e.code == ErrorCode::EmailVerificationRequiredForInvitation => Vec::new(),
        Err(e) => return Err(e),
    };
    let active = match active_id {
        Some(_) => active_values(state, auth).await?,
        None => serde_json::Value::Null,
    };
    Ok(json!({
        "organizations": organizations,
        "pending": pending,
        "active": active,
        "allow_create": state.config.organization.allow_create,
    }))
}

/// The active organization with its members, its invitations and what the user may change.
async fn active_values(state: &AppState, auth: &Authenticated) -> ApiResult<serde_json::Value> {
    let Some(full) = members::full(state, auth, None, None, None).await? else {
        return Ok(serde_json::Value::Null);
    };
    let may = |resource: &'static str, action: &'static str| async move {
        members::has_permission(state, auth, None, &access::ask(resource, action)).await
    };
    let my_role = full
        .members
        .iter()
        .find(|m| m.user_id == auth.user.id)
        .map(|m| m.role.clone())
        .unwrap_or_default();
    let owner = access::is_owner(&my_role);
    let rows: Vec<MemberRow> = full
        .members
        .into_iter()
        .map(|m| {
            let user = m.user.unwrap_or_else(|| organizations::model::MemberUser {
                id: m.user_id.clone(),
                name: String::new(),
                email: String::new(),
                image: None,
            });
            MemberRow {
                me: m.user_id == auth.user.id,
                owner: access::is_owner(&m.role),
                id: m.id,
                name: user.name,
                email: user.email,
                role: m.role,
            }
        })
        .collect();
    let now = state.clock.now_ms();
    let invited: Vec<InvitationRow> = full
        .invitations
        .into_iter()
        .filter(|i| i.status == "pending" && i.expires_at.0 > now)
        .map(|i| InvitationRow {
            id: i.id,
            email: i.email,
            role: i.role,
            organization: full.organization.name.clone(),
        })
        .collect();
    Ok(json!({
        "id": full.organization.id,
        "name": full.organization.name,
        "slug": full.organization.slug,
        "my_role": my_role,
        "owner": owner,
        "may_invite": may("invitation", "create").await?,
        "may_cancel": may("invitation", "cancel").await?,
        "may_update": owner || may("member", "update").await?,
        "may_remove": may("member", "delete").await?,
        "members": rows,
        "invitations": invited,
        "roles": organizations::assignable_roles(state, &full.organization.id).await?,
    }))
}

pub async fn organizations_page(
    State(state): State<AppState>,
    mut visit: Visit,
) -> ApiResult<Response> {
    let auth = match require_session(&state, &mut visit, HERE) {
        Ok(auth) => auth,
        Err(redirect) => return Ok(*redirect),
    };
    let values = page_values(&state, &auth).await?;
    Ok(page(&state, &mut visit, StatusCode::OK, TEMPLATE, values))
}

pub async fn organizations_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let auth = match signed_in_form(&state, &mut visit, HERE, &form) {
        Ok(auth) => auth,
        Err(answer) => return Ok(*answer),
    };
    let client = visit.client.clone();
    let text = |field: &Option<String>| Fields::text(field).to_owned();
    let (organization, invitation, member) = (
        text(&form.organization),
        text(&form.invitation),
        text(&form.member),
    );
    let role = vec![text(&form.role)];
    let done = match Fields::text(&form.action) {
        "create" => {
            let new = NewOrganization {
                name: Fields::text(&form.name),
                slug: Fields::text(&form.slug),
                logo: None,
                metadata: None,
                keep_current_active: false,
            };
            organizations::create(&state, &auth, &client, new)
                .await
                .map(drop)
        }
        "switch" => organizations::set_active(&state, &auth, ActiveChoice::Id(&organization))
            .await
            .map(drop),
        "accept" => invitations::accept(&state, &auth, &client, &invitation)
            .await
            .map(drop),
        "reject" => invitations::reject(&state, &auth, &client, &invitation)
            .await
            .map(drop),
        "invite" => {
            let invite = Invite {
                email: Fields::text(&form.email),
                roles: &role,
                organization_id: None,
                resend: false,
                team_ids: &[],
                language: &visit.language,
            };
            invitations::invite(&state, &auth, &client, invite)
                .await
                .map(drop)
        }
        "cancel" => invitations::cancel(&state, &auth, &client, &invitation)
            .await
            .map(drop),
        "role" => members::update_role(&state, &auth, &client, None, &member, &role)
            .await
            .map(drop),
        "remove" => members::remove(&state, &auth, &client, None, &member)
            .await
            .map(drop),
        _ => return Ok(unknown_action(&state, &mut visit)),
    };
    match done {
        Ok(()) => {
            let to = state.config.ui.path(HERE);
            Ok(see_other(&state, &mut visit, &to, []))
        }
        Err(e) => {
            // A refused form changed nothing: the page as it was, with the refusal.
            let mut values = page_values(&state, &auth).await?;
            values["form"] = json!({
                "action": form.action,
                "name": form.name,
                "slug": form.slug,
                "email": form.email,
            });
            again(&state, &mut visit, TEMPLATE, e, "password", values)
        }
    }
}

// ---- the invitation mail's page -----------------------------------------------------------------

pub async fn invitation_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut visit: Visit,
) -> ApiResult<Response> {
    let here = state.config.ui.path(&format!("/invitations/{id}"));
    let Some(auth) = visit.auth.clone() else {
        let back = verification::with_query("", &[("return_to", &here)]);
        let values = json!({ "state": "signed_out", "return_query": back });
        return Ok(page(
            &state,
            &mut visit,
            StatusCode::OK,
            "invitation.html",
            values,
        ));
    };
    let (status, values) = match invitations::get(&state, &auth, &id).await {
        Ok(details) => (
            StatusCode::OK,
            json!({
                "state": "open",
                "id": id,
                "organization": details.organization_name,
                "inviter": details.inviter_email,
                "role": details.invitation.role,
            }),
        ),
        Err(e) => (e.status, refusal_values(&id, &e)),
    };
    Ok(page(&state, &mut visit, status, "invitation.html", values))
}

/// Why the signed-in user cannot answer this invitation (the API's codes), for the template.
fn refusal_values(id: &str, error: &ApiError) -> serde_json::Value {
    let state = match error.code {
        ErrorCode::EmailVerificationRequiredForInvitation
        | ErrorCode::EmailVerificationRequiredBeforeAcceptingOrRejectingInvitation => "unverified",
        ErrorCode::YouAreNotTheRecipientOfTheInvitation => "other_recipient",
        _ => "invalid",
    };
    json!({ "state": state, "id": id, "code": error.code.as_str() })
}

pub async fn invitation_submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let here = format!("/invitations/{id}");
    let auth = match signed_in_form(&state, &mut visit, &here, &form) {
        Ok(auth) => auth,
        Err(answer) => return Ok(*answer),
    };
    let client = visit.client.clone();
    let answered = match Fields::text(&form.action) {
        "accept" => invitations::accept(&state, &auth, &client, &id)
            .await
            .map(|_| "accepted"),
        "reject" => invitations::reject(&state, &auth, &client, &id)
            .await
            .map(|_| "rejected"),
        "verify" => {
            let back = state.config.ui.path(&here);
            let sent = async {
                limit(&state, &visit, Class::VerificationMail).await?;
                verification::request_verification(
                    &state,
                    &auth.user.email,
                    Some(&auth.user),
                    Some(&back),
                    &visit.language,
                )
                .await
            };
            sent.await.map(|()| "verification_sent")
        }
        _ => return Ok(unknown_action(&state, &mut visit)),
    };
    match answered {
        Ok("accepted") => {
            let to = state.config.ui.path(HERE);
            Ok(see_other(&state, &mut visit, &to, []))
        }
        Ok(outcome) => {
            let values = json!({ "state": outcome, "id": id });
            Ok(page(
                &state,
                &mut visit,
                StatusCode::OK,
                "invitation.html",
                values,
            ))
        }
        Err(e) if e.status.is_server_error() => Err(e),
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            // The refusal in the page's language (a text that is no key shows as it is).
            let message = super::forms::shown_message(&state, &visit.lang, &e);
            Ok(notice(
                &state,
                &mut visit,
                e.status,
                "too-many-requests-title",
                &message,
                true,
            ))
        }
        Err(e) => {
            let values = refusal_values(&id, &e);
            Ok(page(
                &state,
                &mut visit,
                e.status,
                "invitation.html",
                values,
            ))
        }
    }
}
