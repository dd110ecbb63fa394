//! Organization settings (`[organization]`): limits, invitation lifetime and link, the active
//! organization at sign-in, and the application's own resources and roles.

use std::collections::BTreeMap;
use std::time::Duration;

use portcullis_access::Statements;

use crate::settings::parse::{duration, flag, number_in, optional};
use crate::settings_group;

settings_group! {
    /// `[organization]`
    pub struct OrganizationSettings {
        /// Whether signed-in users may create organizations (`403
        /// YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION` otherwise).
        allow_create: bool = Plain("organization.allow_create", Value("true"), flag),
        /// Organizations one user may belong to; creating one more is refused.
        organization_limit: u64 = Plain("organization.organization_limit", Value("100"), number_in(1..=1_000_000)),
        /// Members one organization may have; accepting an invitation beyond it is refused.
        membership_limit: u64 = Plain("organization.membership_limit", Value("10000"), number_in(1..=10_000_000)),
        /// Pending invitations one organization may have at once.
        invitation_limit: u64 = Plain("organization.invitation_limit", Value("100"), number_in(1..=1_000_000)),
        /// How long an invitation can be accepted.
        invitation_ttl: Duration = Plain("organization.invitation_ttl", Value("48h"), duration),
        /// The application's page that accepts invitations, with `{id}` where the invitation id
        /// goes (`https://app.example.com/invite/{id}`); mails link there. Unset: the hosted page
        /// `/invitations/{id}` (with `ui.enabled`), else the mail names the invitation id.
        invitation_url: Option<String> = Plain("organization.invitation_url", Unset("the hosted page /invitations/{id}"), optional(invitation_url)),
        /// Members pages (list-members) each server keeps, in MiB: a page read again is answered
        /// from memory while nothing it shows has changed (checked against the database on every
        /// request); 0 turns it off.
        member_page_cache_mb: u64 = Plain("organization.member_page_cache_mb", Value("8"), number_in(0..=4096)),
        /// At sign-in, make the organization the user last worked in active again.
        remember_active: bool = Plain("organization.remember_active", Value("false"), flag),
        /// Teams one organization may have.
        team_limit: u64 = Plain("organization.team_limit", Value("100"), number_in(1..=1_000_000)),
        /// Roles one organization may define for itself (`create-role`).
        role_limit: u64 = Plain("organization.role_limit", Value("50"), number_in(0..=10_000)),
        /// The application's own resources and actions, as JSON added to the built-in statements:
        /// `{"project": ["create", "deploy"]}`.
        statements: Option<Statements> = Plain("organization.statements", Unset("none"), optional(statements)),
        /// The application's own roles (or more grants for owner, admin, member), as JSON:
        /// `{"deployer": {"project": ["deploy"]}}`; every action must be declared.
        roles: Option<BTreeMap<String, Statements>> = Plain("organization.roles", Unset("none"), optional(roles)),
    }
}

fn invitation_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if !raw.contains("{id}") {
        return Err(format!("`{raw}` must contain {{id}}"));
    }
    let url = url::Url::parse(&raw.replace("{id}", "x")).map_err(|e| format!("`{raw}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{raw}` must be an http or https URL"));
    }
    Ok(raw.to_owned())
}

fn statements(raw: &str) -> Result<Statements, String> {
    serde_json::from_str(raw)
        .map_err(|e| format!("expected JSON like {{\"project\": [\"deploy\"]}}: {e}"))
}

fn roles(raw: &str) -> Result<BTreeMap<String, Statements>, String> {
    let roles: BTreeMap<String, Statements> = serde_json::from_str(raw).map_err(|e| {
        format!("expected JSON like {{\"deployer\": {{\"project\": [\"deploy\"]}}}}: {e}")
    })?;
    if let Some(bad) = roles
        .keys()
        .find(|name| !super::access::valid_role_name(name))
    {
        return Err(format!(
            "`{bad}` is no role name (1-64 letters, digits, `-`, `_`)"
        ));
    }
    Ok(roles)
}
