//! `portcullis users ...`: the operator's way to manage users on the server's host, with the same
//! rules as the admin API (the last administrator stays, bans end every session, the audit trail
//! says `operator`). Effects reach running instances through the database: revocations through
//! the feed their pollers read.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::Subcommand;

use super::query::{Asked, FilterField, FilterOperator, SearchField, TextMatch};
use super::{Actor, NewUser};
use crate::error::ApiError;
use crate::http::client::ClientInfo;
use crate::http::timestamp::Timestamp;
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::{store as users, User};

#[derive(Subcommand)]
pub enum UsersAction {
    /// Create a user (the way to make the first administrator: `--role admin`).
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (one line); without it the account has none.
        #[arg(long)]
        password_stdin: bool,
        /// Display name (default: the email's local part).
        #[arg(long)]
        name: Option<String>,
        /// `user` (default), `admin`, or a role from `admin.roles`; comma-separated for several.
        #[arg(long)]
        role: Option<String>,
        /// Mark the email address verified.
        #[arg(long)]
        verified: bool,
    },
    /// List users, oldest first.
    List {
        /// Part of an email address.
        #[arg(long)]
        search: Option<String>,
        /// Only users with exactly this role.
        #[arg(long)]
        role: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One user (by id or email), as JSON.
    Show {
        user: String,
    },
    /// Set a user's role(s).
    SetRole {
        user: String,
        role: String,
    },
    /// Ban a user: every session ends now, every sign-in is refused.
    Ban {
        user: String,
        #[arg(long)]
        reason: Option<String>,
        /// How long (e.g. 7d, 12h); without it the ban has no end.
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
    Unban {
        user: String,
    },
    /// Set a user's password, read from standard input; their sessions end.
    SetPassword {
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// End every session of a user.
    RevokeSessions {
        user: String,
    },
    /// Delete a user, their sessions and tokens.
    Delete {
        user: String,
    },
}

fn operator_client() -> ClientInfo {
    ClientInfo {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        user_agent: Some("portcullis-cli".to_owned()),
    }
}

/// An API refusal, as the command line says it.
fn plain(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e.message, e.code.as_str())
}

/// A user by id, or by email when it has an `@`.
async fn resolve(state: &AppState, user: &str) -> anyhow::Result<User> {
    let found = if user.contains('@') {
        let email = Email::parse(user).map_err(plain)?;
        users::find_by_email(&state.db, email.as_str())
            .await?
            .map(|(u, _)| u)
    } else {
        users::find_by_id(&state.db, user).await?
    };
    found.ok_or_else(|| anyhow::anyhow!("no user {user}"))
}

fn read_password() -> anyhow::Result<String> {
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw)?;
    let password = raw.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(password)
}

fn print_user(user: &User) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(user)?);
    Ok(())
}

pub async fn run(state: &AppState, action: UsersAction) -> anyhow::Result<()> {
    let actor = Actor::Operator;
    let client = operator_client();
    match action {
        UsersAction::Create {
            email,
            password_stdin,
            name,
            role,
            verified,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            let name =
                name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
            let new = NewUser {
                email,
                password,
                name,
                roles: role.map(|r| r.split(',').map(str::to_owned).collect()),
                email_verified: verified,
                image: None,
            };
            let user = super::create_user(state, &actor, new, &client)
                .await
                .map_err(plain)?;
            print_user(&user)?;
        }
        UsersAction::List {
            search,
            role,
            limit,
            offset,
            json,
        } => {
            let asked = Asked {
                search_value: search,
                search_field: Some(SearchField::Email),
                search_operator: Some(TextMatch::Contains),
                limit: Some(limit),
                offset: Some(offset),
                sort_by: None,
                sort_direction: None,
                filter_field: role.is_some().then_some(FilterField::Role),
                filter_value: role,
                filter_operator: None::<FilterOperator>,
            };
            let page = super::list_users(state, &actor, asked)
                .await
                .map_err(plain)?;
            for user in &page.users {
                if json {
                    print_user(user)?;
                } else {
                    println!(
                        "{}  {:<8}  {}{}  created {}",
                        user.id,
                        user.role,
                        user.email,
                        if user.banned { "  [banned]" } else { "" },
                        Timestamp(user.created_at.0).iso()
                    );
                }
            }
            if !json {
                eprintln!("{} of {} user(s)", page.users.len(), page.total);
            }
        }
        UsersAction::Show { user } => print_user(&resolve(state, &user).await?)?,
        UsersAction::SetRole { user, role } => {
            let target = resolve(state, &user).await?;
            let roles: Vec<String> = role.split(',').map(str::to_owned).collect();
            let user = super::set_role(state, &actor, &target.id, &roles, &client)
                .await
                .map_err(plain)?;
            print_user(&user)?;
        }
        UsersAction::Ban {
            user,
            reason,
            duration,
        } => {
            let target = resolve(state, &user).await?;
            let seconds = duration.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let user = super::ban(
                state,
                &actor,
                &target.id,
                reason.as_deref(),
                seconds,
                &client,
            )
            .await
            .map_err(plain)?;
            print_user(&user)?;
        }
        UsersAction::Unban { user } => {
            let target = resolve(state, &user).await?;
            let user = super::unban(state, &actor, &target.id, &client)
                .await
                .map_err(plain)?;
            print_user(&user)?;
        }
        UsersAction::SetPassword { user, .. } => {
            let target = resolve(state, &user).await?;
            let password = read_password()?;
            // No request: the notice goes out in `i18n.default_language`.
            let language = crate::i18n::Requested::default();
            super::set_password(state, &actor, &target.id, &password, &client, &language)
                .await
                .map_err(plain)?;
            println!("password set; {} signed out everywhere", target.email);
        }
        UsersAction::RevokeSessions { user } => {
            let target = resolve(state, &user).await?;
            super::revoke_sessions(state, &actor, &target.id, &client)
                .await
                .map_err(plain)?;
            println!("every session of {} ended", target.email);
        }
        UsersAction::Delete { user } => {
            let target = resolve(state, &user).await?;
            super::remove(state, &actor, &target.id, &client)
                .await
                .map_err(plain)?;
            println!("deleted {}", target.email);
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum AuditAction {
    /// Audit events, newest first.
    List {
        /// Events about this user (id or email).
        #[arg(long)]
        user: Option<String>,
        /// Events this administrator (user id) or `operator` caused.
        #[arg(long)]
        actor: Option<String>,
        /// One kind (sign_in, user_banned, impersonation_started, ...).
        #[arg(long)]
        kind: Option<String>,
        /// Events in this organization (its id).
        #[arg(long)]
        organization: Option<String>,
        /// From: a time (RFC 3339 or unix ms) or an age (7d, 12h).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Every matching event, page after page (with --json: a JSON lines export).
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

pub async fn audit(state: &AppState, action: AuditAction) -> anyhow::Result<()> {
    use super::audit_log::{self, AuditFilter};
    let AuditAction::List {
        user,
        actor,
        kind,
        organization,
        since,
        limit,
        all,
        json,
    } = action;
    let user_id = match user {
        Some(user) if user.contains('@') => Some(resolve(state, &user).await?.id),
        other => other,
    };
    let since = match since {
        Some(raw) => Some(match humantime::parse_duration(&raw) {
            Ok(age) => state.clock.now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX),
            Err(_) => audit_log::parse_time(&raw).map_err(plain)?,
        }),
        None => None,
    };
    let mut filter = AuditFilter {
        user_id,
        actor,
        kind,
        organization_id: organization,
        since,
        ..AuditFilter::default()
    };
    loop {
        let page = audit_log::list(state, &Actor::Operator, filter.clone(), Some(limit))
            .await
            .map_err(plain)?;
        for event in &page.events {
            if json {
                println!("{}", serde_json::to_string(event)?);
            } else {
                println!(
                    "{}  {:<24}  user {}  actor {}  {}{}{}",
                    event.at.iso(),
                    event.kind,
                    event.user_id.as_deref().unwrap_or("-"),
                    event.actor.as_deref().unwrap_or("-"),
                    event.ip_address.as_deref().unwrap_or("-"),
                    event
                        .organization_id
                        .as_deref()
                        .map(|o| format!("  organization {o}"))
                        .unwrap_or_default(),
                    event
                        .detail
                        .as_deref()
                        .map(|d| format!("  [{d}]"))
                        .unwrap_or_default()
                );
            }
        }
        let Some(cursor) = page.next_cursor.filter(|_| all) else {
            return Ok(());
        };
        filter.before = Some(audit_log::parse_cursor(&cursor).map_err(plain)?);
    }
}

#[derive(Subcommand)]
pub enum ApiKeysAction {
    /// Make a key for an application backend; the key is printed once, only its hash is kept.
    Create {
        #[arg(long)]
        name: String,
        /// What it may do: `resource:action`, comma-separated (e.g. user:list,user:ban).
        #[arg(long)]
        permissions: String,
        /// Lifetime (e.g. 90d); without it the key lasts until revoked.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// The keys: id, name, permissions, created, expiry, last use, revocation (never the key).
    List,
    /// Revoke a key at once.
    Revoke { id: String },
}

pub async fn api_keys(state: &AppState, action: ApiKeysAction) -> anyhow::Result<()> {
    use super::api_keys;
    let client = operator_client();
    let when = |at: Option<i64>| at.map_or("-".to_owned(), |at| Timestamp(at).iso());
    match action {
        ApiKeysAction::Create {
            name,
            permissions,
            expires_in,
        } => {
            let created = api_keys::create(state, &name, &permissions, expires_in).await?;
            let acted = crate::audit::Acted {
                actor: "operator",
                detail: Some(&created.id),
            };
            crate::audit::record_acted(
                state,
                crate::audit::Event::ApiKeyCreated,
                None,
                None,
                &acted,
                &client,
            )
            .await;
            eprintln!(
                "key {} created; it is shown once, store it now:",
                created.id
            );
            println!("{}", created.key);
        }
        ApiKeysAction::List => {
            for key in api_keys::list(state).await? {
                println!(
                    "{}  {}  {}  created {}  expires {}  last used {}{}",
                    key.id,
                    key.name,
                    key.permissions,
                    Timestamp(key.created_at).iso(),
                    when(key.expires_at),
                    when(key.last_used_at),
                    key.revoked_at
                        .map(|at| format!("  revoked {}", Timestamp(at).iso()))
                        .unwrap_or_default()
                );
            }
        }
        ApiKeysAction::Revoke { id } => {
            if !api_keys::revoke(state, &id).await? {
                anyhow::bail!("no live key {id}");
            }
            let acted = crate::audit::Acted {
                actor: "operator",
                detail: Some(&id),
            };
            crate::audit::record_acted(
                state,
                crate::audit::Event::ApiKeyRevoked,
                None,
                None,
                &acted,
                &client,
            )
            .await;
            println!("revoked {id}");
        }
    }
    Ok(())
}
