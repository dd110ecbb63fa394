//! Roles and permission statements, evaluated the way better-auth's access control does, so that
//! the server and the services that verify its tokens (`portcullis-verify`) reach the same answer
//! offline.
//!
//! - A set of **statements** declares what can be asked: resources and their actions
//!   (`member: [create, update, delete]`).
//! - A **role** grants some of those actions. A role may only grant declared actions.
//! - A **request** names actions per resource (`{"member": ["create"]}`). By default every action
//!   of every resource is needed ("AND"); a resource may ask for any one of its actions instead
//!   (`{"member": {"actions": ["create", "update"], "connector": "OR"}}`). A resource the role
//!   does not know denies the request.
//! - Someone holding **several roles** (a comma-separated list, as stored) is allowed when any one
//!   of the roles allows the whole request; roles are never merged across a request.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Resources and the actions that exist on each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Statements(BTreeMap<String, BTreeSet<String>>);

impl Statements {
    pub fn new<R, A>(resources: impl IntoIterator<Item = (R, A)>) -> Self
    where
        R: Into<String>,
        A: IntoIterator,
        A::Item: Into<String>,
    {
        Self(
            resources
                .into_iter()
                .map(|(resource, actions)| {
                    (
                        resource.into(),
                        actions.into_iter().map(Into::into).collect(),
                    )
                })
                .collect(),
        )
    }

    /// Adds resources and actions (an application's own, from settings) to these.
    pub fn extend(&mut self, more: &Statements) {
        for (resource, actions) in &more.0 {
            self.0
                .entry(resource.clone())
                .or_default()
                .extend(actions.iter().cloned());
        }
    }

    pub fn contains(&self, resource: &str, action: &str) -> bool {
        self.0.get(resource).is_some_and(|a| a.contains(action))
    }

    pub fn resources(&self) -> impl Iterator<Item = (&str, &BTreeSet<String>)> {
        self.0.iter().map(|(r, a)| (r.as_str(), a))
    }

    /// A role granting `grants`, if every grant is a declared action.
    pub fn role(&self, grants: Statements) -> Result<Role, UndeclaredAction> {
        for (resource, actions) in &grants.0 {
            for action in actions {
                if !self.contains(resource, action) {
                    return Err(UndeclaredAction {
                        resource: resource.clone(),
                        action: action.clone(),
                    });
                }
            }
        }
        Ok(Role { grants })
    }
}

/// A role names an action no statement declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeclaredAction {
    pub resource: String,
    pub action: String,
}

impl fmt::Display for UndeclaredAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an action of `{}`",
            self.action, self.resource
        )
    }
}

impl std::error::Error for UndeclaredAction {}

/// What a role may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Role {
    grants: Statements,
}

impl Role {
    pub fn grants(&self) -> &Statements {
        &self.grants
    }

    /// This role with more grants (a dynamic role stored for one organization adds to the
    /// built-in role of the same name).
    pub fn with(&self, more: &Statements) -> Role {
        let mut grants = self.grants.clone();
        grants.extend(more);
        Role { grants }
    }

    /// Whether this role alone allows the whole request.
    pub fn allows(&self, request: &Request) -> bool {
        if request.0.is_empty() {
            return false;
        }
        request.0.iter().all(|(resource, asked)| {
            let Some(allowed) = self.grants.0.get(resource) else {
                return false;
            };
            let (actions, any) = asked.parts();
            if actions.is_empty() {
                return false;
            }
            if any {
                actions.iter().any(|a| allowed.contains(a))
            } else {
                actions.iter().all(|a| allowed.contains(a))
            }
        })
    }
}

/// Roles by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(BTreeMap<String, Role>);

impl Roles {
    pub fn new<N: Into<String>>(roles: impl IntoIterator<Item = (N, Role)>) -> Self {
        Self(roles.into_iter().map(|(n, r)| (n.into(), r)).collect())
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.0.get(name)
    }

    pub fn insert(&mut self, name: impl Into<String>, role: Role) {
        self.0.insert(name.into(), role);
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether someone holding `role_list` (comma-separated, as stored) may do `request`: true
    /// when any one of the roles allows all of it. Unknown role names allow nothing.
    pub fn allow(&self, role_list: &str, request: &Request) -> bool {
        parse_role_list(role_list)
            .iter()
            .any(|name| self.0.get(name).is_some_and(|role| role.allows(request)))
    }
}

/// `"admin, member"` → `["admin", "member"]`: trimmed, blanks dropped.
pub fn parse_role_list(role_list: &str) -> Vec<String> {
    role_list
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What a request asks for, resource by resource (better-auth's `permissions` body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Request(BTreeMap<String, Asked>);

impl Request {
    /// Every one of `actions` on each resource.
    pub fn all<R, A>(resources: impl IntoIterator<Item = (R, A)>) -> Self
    where
        R: Into<String>,
        A: IntoIterator,
        A::Item: Into<String>,
    {
        Self(
            resources
                .into_iter()
                .map(|(r, a)| {
                    (
                        r.into(),
                        Asked::All(a.into_iter().map(Into::into).collect()),
                    )
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The actions asked on one resource: a list (all of them), or a list with a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Asked {
    All(Vec<String>),
    WithConnector {
        actions: Vec<String>,
        #[serde(default)]
        connector: Connector,
    },
}

impl Asked {
    /// The actions, and whether any one of them is enough.
    fn parts(&self) -> (&[String], bool) {
        match self {
            Asked::All(actions) => (actions, false),
            Asked::WithConnector { actions, connector } => (actions, *connector == Connector::Or),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Connector {
    #[default]
    #[serde(rename = "AND", alias = "and")]
    And,
    #[serde(rename = "OR", alias = "or")]
    Or,
}

/// better-auth's organization plugin: statements and the owner, admin and member roles, plus
/// `member: manage-admins` (Portcullis's): changing the roles of, or removing, another member who
/// holds the admin role. Owners have it, admins do not (like the admin plugin's
/// `user: impersonate-admins`).
pub mod organization {
    use super::*;

    /// The action that lets a member change or remove another admin.
    pub const MANAGE_ADMINS: &str = "manage-admins";

    pub fn statements() -> Statements {
        Statements::new([
            ("organization", vec!["update", "delete"]),
            ("member", vec!["create", "update", "delete", MANAGE_ADMINS]),
            ("invitation", vec!["create", "cancel"]),
            ("team", vec!["create", "update", "delete"]),
            ("ac", vec!["create", "read", "update", "delete"]),
        ])
    }

    pub fn default_roles() -> Roles {
        let s = statements();
        let role = |grants: Statements| s.role(grants).expect("declared actions");
        let manage = |org: Vec<&'static str>, member: Vec<&'static str>| {
            Statements::new([
                ("organization", org),
                ("member", member),
                ("invitation", vec!["create", "cancel"]),
                ("team", vec!["create", "update", "delete"]),
                ("ac", vec!["create", "read", "update", "delete"]),
            ])
        };
        Roles::new([
            (
                "owner",
                role(manage(
                    vec!["update", "delete"],
                    vec!["create", "update", "delete", MANAGE_ADMINS],
                )),
            ),
            (
                "admin",
                role(manage(vec!["update"], vec!["create", "update", "delete"])),
            ),
            ("member", role(Statements::new([("ac", vec!["read"])]))),
        ])
    }
}

/// better-auth's admin plugin: statements about users and sessions, and the admin and user roles.
pub mod admin {
    use super::*;

    const USER_ACTIONS: [&str; 12] = [
        "create",
        "list",
        "set-role",
        "ban",
        "impersonate",
        "impersonate-admins",
        "delete",
        "set-password",
        "set-email",
        "set-phone",
        "get",
        "update",
    ];

    pub fn statements() -> Statements {
        Statements::new([
            ("user", USER_ACTIONS.to_vec()),
            ("session", vec!["list", "revoke", "delete"]),
        ])
    }

    pub fn default_roles() -> Roles {
        let s = statements();
        // Impersonating other administrators is not granted by default.
        let admin_user: Vec<&str> = USER_ACTIONS
            .iter()
            .copied()
            .filter(|a| *a != "impersonate-admins")
            .collect();
        let admin = s
            .role(Statements::new([
                ("user", admin_user),
                ("session", vec!["list", "revoke", "delete"]),
            ]))
            .expect("declared actions");
        Roles::new([("admin", admin), ("user", Role::default())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Request {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn organization_roles_match_better_auth() {
        let roles = organization::default_roles();
        assert!(roles.allow("owner", &request(r#"{"organization": ["delete"]}"#)));
        assert!(!roles.allow("admin", &request(r#"{"organization": ["delete"]}"#)));
        assert!(roles.allow("admin", &request(r#"{"member": ["create", "delete"]}"#)));
        assert!(!roles.allow("member", &request(r#"{"member": ["create"]}"#)));
        assert!(roles.allow("member", &request(r#"{"ac": ["read"]}"#)));
        // Several roles: any one must allow the whole request; unknown names allow nothing.
        assert!(roles.allow("member, admin", &request(r#"{"invitation": ["create"]}"#)));
        assert!(!roles.allow("nobody", &request(r#"{"ac": ["read"]}"#)));
    }

    #[test]
    fn every_resource_and_action_is_needed_unless_a_resource_says_or() {
        let roles = organization::default_roles();
        let both = request(r#"{"organization": ["update"], "member": ["create"]}"#);
        assert!(roles.allow("admin", &both));
        let one_unknown = request(r#"{"organization": ["update"], "billing": ["read"]}"#);
        assert!(
            !roles.allow("owner", &one_unknown),
            "an unknown resource denies"
        );
        let any =
            request(r#"{"organization": {"actions": ["delete", "update"], "connector": "OR"}}"#);
        assert!(roles.allow("admin", &any));
        let all = request(r#"{"organization": {"actions": ["delete", "update"]}}"#);
        assert!(!roles.allow("admin", &all), "the connector defaults to AND");
        assert!(
            !roles.allow("owner", &request("{}")),
            "an empty request is no permission"
        );
        assert!(!roles.allow("owner", &request(r#"{"member": []}"#)));
    }

    #[test]
    fn roles_grant_only_declared_actions_and_dynamic_grants_add_to_a_role() {
        let mut statements = organization::statements();
        assert!(statements
            .role(Statements::new([("project", vec!["deploy"])]))
            .is_err());
        statements.extend(&Statements::new([("project", vec!["deploy", "read"])]));
        let deployer = statements
            .role(Statements::new([("project", vec!["deploy"])]))
            .unwrap();
        let member = organization::default_roles().get("member").unwrap().clone();
        let widened = member.with(deployer.grants());
        assert!(widened.allows(&request(r#"{"project": ["deploy"], "ac": ["read"]}"#)));
        assert!(!member.allows(&request(r#"{"project": ["deploy"]}"#)));
    }

    #[test]
    fn only_owners_manage_admins() {
        let roles = organization::default_roles();
        let manage = request(r#"{"member": ["manage-admins"]}"#);
        assert!(roles.allow("owner", &manage));
        assert!(!roles.allow("admin", &manage));
        assert!(roles.allow("admin", &request(r#"{"member": ["update", "delete"]}"#)));
    }

    #[test]
    fn admin_roles_match_better_auth() {
        let roles = admin::default_roles();
        assert!(roles.allow(
            "admin",
            &request(r#"{"user": ["ban", "list"], "session": ["revoke"]}"#)
        ));
        assert!(!roles.allow("admin", &request(r#"{"user": ["impersonate-admins"]}"#)));
        assert!(!roles.allow("user", &request(r#"{"user": ["list"]}"#)));
        assert_eq!(parse_role_list(" admin ,, user"), vec!["admin", "user"]);
    }
}
