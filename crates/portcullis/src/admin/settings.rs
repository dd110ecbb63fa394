//! User management settings (`[admin]`): which roles exist, which of them are administrators, and
//! how long an impersonation may last.

use std::time::Duration;

use portcullis_access::{admin, parse_role_list, Role, Roles, Statements};

use crate::settings::parse::{duration, list};
use crate::settings_group;

/// The longest an impersonation may last, whatever the settings say.
pub const MAX_IMPERSONATION: Duration = Duration::from_secs(3600);

settings_group! {
    /// `[admin]`
    pub struct AdminSettings {
        /// Roles beside better-auth's `admin` and `user`, each `name=resource:action ...`,
        /// separated by `;` (e.g. `support=user:list user:get session:list; billing=user:ban`).
        /// Actions are those of the admin statements (`user`: create, list, set-role, ban,
        /// impersonate, delete, set-password, get, update, ...; `session`: list, revoke, delete).
        roles: Roles = Plain("admin.roles", Value(""), roles),
        /// Roles whose holders count as administrators (comma-separated): the last one of them
        /// cannot be banned, demoted or removed, and they can only be impersonated with
        /// `user:impersonate-admins`.
        admin_roles: Vec<String> = Plain("admin.admin_roles", Value("admin"), list),
        /// How long an impersonated session lasts (at most 1h).
        impersonation_lifetime: Duration = Plain("admin.impersonation_lifetime", Value("1h"), impersonation),
        /// How long audit events are kept (swept like expired sessions).
        audit_retention: Duration = Plain("audit.retention", Value("180d"), duration),
    }
}

impl AdminSettings {
    /// Every administrator role must be a known role.
    pub fn check(&self) -> Result<(), crate::settings::SettingError> {
        if let Some(unknown) = self
            .admin_roles
            .iter()
            .find(|r| self.roles.get(r).is_none())
        {
            return Err(crate::settings::SettingError::new(
                "admin.admin_roles",
                format!("`{unknown}` is not a role (admin.roles defines more)"),
            ));
        }
        Ok(())
    }

    /// Whether a stored role list holds an administrator role.
    pub fn is_admin_role_list(&self, role_list: &str) -> bool {
        parse_role_list(role_list)
            .iter()
            .any(|r| self.admin_roles.contains(r))
    }
}

fn impersonation(raw: &str) -> Result<Duration, String> {
    let lifetime = duration(raw)?;
    if lifetime > MAX_IMPERSONATION {
        return Err("must be at most 1h".to_owned());
    }
    Ok(lifetime)
}

/// Portcullis' statement beside better-auth's: reading the audit trail.
pub fn audit_statement() -> Statements {
    Statements::new([("audit", ["list"])])
}

/// Every statement a role or an API key may grant: better-auth's admin statements and `audit`.
pub fn statements() -> Statements {
    let mut statements = admin::statements();
    statements.extend(&audit_statement());
    statements
}

/// Grants written `resource:action`, separated by `sep`, checked against `statements()`.
pub fn grants(raw: &str, sep: char) -> Result<Role, String> {
    let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
    for grant in raw.split(sep).map(str::trim).filter(|g| !g.is_empty()) {
        let (resource, action) = grant
            .split_once(':')
            .ok_or_else(|| format!("`{grant}`: write resource:action"))?;
        pairs.push((resource.to_owned(), vec![action.to_owned()]));
    }
    if pairs.is_empty() {
        return Err("grant at least one resource:action".to_owned());
    }
    statements().role(merge(pairs)).map_err(|e| e.to_string())
}

/// better-auth's default roles (the administrator may also read the audit trail), plus the ones
/// the setting defines (`name=resource:action ...;`).
fn roles(raw: &str) -> Result<Roles, String> {
    let mut roles = admin::default_roles();
    if let Some(admin) = roles.get("admin").cloned() {
        roles.insert("admin", admin.with(&audit_statement()));
    }
    for definition in raw.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let (name, grants) = definition
            .split_once('=')
            .ok_or_else(|| format!("`{definition}`: write name=resource:action ..."))?;
        let name = name.trim();
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(format!("`{name}`: a role name is letters, digits, - and _"));
        }
        if roles.get(name).is_some() {
            return Err(format!("role `{name}` is defined twice"));
        }
        let role = self::grants(grants, ' ').map_err(|e| format!("role `{name}`: {e}"))?;
        roles.insert(name, role);
    }
    Ok(roles)
}

fn merge(pairs: Vec<(String, Vec<String>)>) -> Statements {
    let mut merged = Statements::default();
    for (resource, actions) in pairs {
        merged.extend(&Statements::new([(resource, actions)]));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_access::Request;

    #[test]
    fn extra_roles_are_read_and_checked() {
        let defined = roles("support=user:list user:get session:list; billing=user:ban").unwrap();
        assert!(defined.allow("support", &Request::all([("user", ["list", "get"])])));
        assert!(!defined.allow("support", &Request::all([("user", ["ban"])])));
        assert!(defined.allow("billing", &Request::all([("user", ["ban"])])));
        assert!(defined.allow("admin", &Request::all([("user", ["ban"])])));
        assert!(defined.allow("admin", &Request::all([("audit", ["list"])])));
        assert!(roles("auditor=audit:list").is_ok());
        assert!(roles("x=user:fly").is_err());
        assert!(roles("admin=user:list").is_err());
        assert!(roles("bad name=user:list").is_err());
        assert!(impersonation("2h").is_err());
    }
}
