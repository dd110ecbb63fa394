//! Who may do what in an organization: better-auth's statements and roles (owner, admin,
//! member), the application's resources and roles from settings, and roles an organization
//! defines for itself, evaluated by `portcullis_access` exactly as `portcullis-verify` does.
//!
//! Every check reads the member's role from the database on the request that needs it (no
//! cache), so a role change applies on the next request, on every instance.

use std::collections::BTreeMap;

use portcullis_access::{organization, parse_role_list, Request, Role, Roles, Statements};

/// The role whose holders own an organization (better-auth's `creatorRole`).
pub const OWNER: &str = "owner";
/// The role a new member gets unless another is named.
pub const MEMBER: &str = "member";
/// The role whose holders only `member: manage-admins` may change or remove.
pub const ADMIN: &str = "admin";
pub use portcullis_access::organization::MANAGE_ADMINS;

/// The statements and the built-in and configured roles.
#[derive(Debug, Clone)]
pub struct AccessControl {
    statements: Statements,
    roles: Roles,
}

impl AccessControl {
    /// better-auth's statements and roles, extended by the application's (settings). A role that
    /// grants an undeclared action stops start-up with a message naming it.
    pub fn new(
        extra_statements: Option<&Statements>,
        extra_roles: Option<&BTreeMap<String, Statements>>,
    ) -> anyhow::Result<Self> {
        let mut statements = organization::statements();
        if let Some(extra) = extra_statements {
            statements.extend(extra);
        }
        let mut roles = organization::default_roles();
        for (name, grants) in extra_roles.into_iter().flatten() {
            let role = statements
                .role(grants.clone())
                .map_err(|e| anyhow::anyhow!("organization.roles: role `{name}`: {e}"))?;
            let role = match roles.get(name) {
                Some(built_in) => built_in.with(role.grants()),
                None => role,
            };
            roles.insert(name.clone(), role);
        }
        Ok(Self { statements, roles })
    }

    pub fn statements(&self) -> &Statements {
        &self.statements
    }

    /// A role defined by better-auth or the settings (not by an organization).
    pub fn is_static_role(&self, name: &str) -> bool {
        self.roles.get(name).is_some()
    }

    /// The static role names for a picker: better-auth's in rising order of power (member,
    /// admin, owner), then the configured ones by name.
    pub fn static_role_names(&self) -> Vec<String> {
        let built_in = [MEMBER, ADMIN, OWNER];
        let configured = self.roles.names().filter(|name| !built_in.contains(name));
        built_in
            .into_iter()
            .chain(configured)
            .map(str::to_owned)
            .collect()
    }

    /// Whether every role in `role_list` is static (no organization's roles need reading).
    pub fn all_static(&self, role_list: &str) -> bool {
        parse_role_list(role_list)
            .iter()
            .all(|name| self.is_static_role(name))
    }

    /// The static roles plus an organization's own (`dynamic`: name → grants).
    pub fn roles_with(&self, dynamic: &[(String, Statements)]) -> Roles {
        let mut roles = self.roles.clone();
        for (name, grants) in dynamic {
            // Stored grants were checked against the statements when written; a statement
            // removed from the settings since then simply grants nothing more.
            let granted: Vec<(String, Vec<String>)> = grants
                .resources()
                .map(|(resource, actions)| {
                    let kept = actions
                        .iter()
                        .filter(|a| self.statements.contains(resource, a))
                        .cloned()
                        .collect();
                    (resource.to_owned(), kept)
                })
                .collect();
            let role = self
                .statements
                .role(Statements::new(granted))
                .unwrap_or_default();
            let role = match roles.get(name) {
                Some(existing) => existing.with(role.grants()),
                None => role,
            };
            roles.insert(name.clone(), role);
        }
        roles
    }

    /// Checks `grants` against the statements (a role an organization defines).
    pub fn checked_role(&self, grants: Statements) -> Option<Role> {
        self.statements.role(grants).ok()
    }
}

/// Whether someone with `role_list` may do `request`, given the organization's roles.
pub fn allows(roles: &Roles, role_list: &str, request: &Request) -> bool {
    roles.allow(role_list, request)
}

/// The single-resource request `{resource: [action]}`.
pub fn ask(resource: &str, action: &str) -> Request {
    Request::all([(resource, [action])])
}

/// Whether `role_list` includes the owner role.
pub fn is_owner(role_list: &str) -> bool {
    holds(role_list, OWNER)
}

/// Whether `role_list` includes the admin role.
pub fn is_admin(role_list: &str) -> bool {
    holds(role_list, ADMIN)
}

fn holds(role_list: &str, role: &str) -> bool {
    parse_role_list(role_list).iter().any(|r| r == role)
}

/// 1–64 characters: ASCII letters, digits, `-` and `_` (role lists are comma-separated).
pub fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_roles_must_grant_declared_actions() {
        let extra = Statements::new([("project", vec!["deploy", "read"])]);
        let mut roles = BTreeMap::new();
        roles.insert(
            "deployer".to_owned(),
            Statements::new([("project", vec!["deploy"])]),
        );
        let ac = AccessControl::new(Some(&extra), Some(&roles)).unwrap();
        assert!(ac.is_static_role("deployer"));
        assert!(ac.roles.allow("deployer", &ask("project", "deploy")));
        assert!(!ac.roles.allow("member", &ask("project", "deploy")));

        roles.insert(
            "bad".to_owned(),
            Statements::new([("billing", vec!["read"])]),
        );
        let error = AccessControl::new(Some(&extra), Some(&roles)).unwrap_err();
        assert!(error.to_string().contains("bad"), "{error}");
    }

    #[test]
    fn organization_roles_widen_nothing_undeclared() {
        let ac = AccessControl::new(None, None).unwrap();
        let roles = ac.roles_with(&[(
            "auditor".to_owned(),
            Statements::new([("member", vec!["update"]), ("billing", vec!["read"])]),
        )]);
        assert!(roles.allow("auditor", &ask("member", "update")));
        assert!(!roles.allow("auditor", &ask("billing", "read")));
        assert!(is_owner("admin, owner"));
        assert!(!is_owner("owners"));
        assert!(valid_role_name("sales-lead_2"));
        assert!(!valid_role_name("a,b"));
    }
}
