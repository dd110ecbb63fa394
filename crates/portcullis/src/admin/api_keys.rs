//! API keys for application backends: `pk_` and 256 random bits (so secret scanners can find a
//! leaked one), shown once, stored as SHA-256, scoped by statements, with an optional expiry.
//! Sent as `Authorization: Bearer pk_…` to the admin endpoints, rate limited per key, and named
//! in the audit trail of every action they take (`api-key:<id>`).

use std::time::Duration;

use portcullis_access::Role;

use super::store::{self, ApiKeyRow};
use super::Actor;
use crate::crypto::tokens::{hash_secret, random_id, random_secret};
use crate::db::millis;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::rate_limit::{Class, Subject};
use crate::state::AppState;

/// What every key starts with.
pub const PREFIX: &str = "pk_";

/// `last_used_at` is written at most this often per key.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// A new key: its id, and the key itself (shown once, never stored).
pub struct Created {
    pub id: String,
    pub key: String,
}

/// Makes a key granting `permissions` (`resource:action`, comma-separated).
pub async fn create(
    state: &AppState,
    name: &str,
    permissions: &str,
    expires_in: Option<Duration>,
) -> anyhow::Result<Created> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        anyhow::bail!("a key's name is 1 to 64 characters");
    }
    let grants = super::settings::grants(permissions, ',').map_err(anyhow::Error::msg)?;
    let key = format!("{PREFIX}{}", random_secret());
    let now = state.clock.now_ms();
    let row = ApiKeyRow {
        id: random_id(),
        name: name.to_owned(),
        permissions: describe(&grants),
        created_at: now,
        expires_at: expires_in.map(|d| now + millis(d)),
        last_used_at: None,
        revoked_at: None,
    };
    store::insert_api_key(&state.db, &row, &hash_secret(&key)).await?;
    Ok(Created { id: row.id, key })
}

/// `user:ban,user:list`.
fn describe(role: &Role) -> String {
    role.grants()
        .resources()
        .flat_map(|(resource, actions)| actions.iter().map(move |a| format!("{resource}:{a}")))
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn list(state: &AppState) -> anyhow::Result<Vec<ApiKeyRow>> {
    Ok(store::api_keys(&state.db).await?)
}

/// Revokes a key; false if there is no such live key.
pub async fn revoke(state: &AppState, id: &str) -> anyhow::Result<bool> {
    Ok(store::revoke_api_key(&state.db, id, state.clock.now_ms()).await?)
}

/// The actor a presented key stands for: a live, unexpired, unrevoked key within its rate limit;
/// anything else is 401.
pub async fn authenticate(state: &AppState, key: &str) -> ApiResult<Actor> {
    let unauthorized = || ApiError::from(ErrorCode::Unauthorized);
    let now = state.clock.now_ms();
    let Some(row) = store::api_key_by_hash(&state.db, &hash_secret(key)).await? else {
        return Err(unauthorized());
    };
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|at| at <= now) {
        return Err(unauthorized());
    }
    let audit_name = format!("api-key:{}", row.id);
    state
        .limits
        .check(Class::General, Subject::Account(&audit_name))
        .await?;
    if row
        .last_used_at
        .is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS)
    {
        store::touch_api_key(&state.db, &row.id, now).await?;
    }
    let grants = super::settings::grants(&row.permissions, ',').map_err(ApiError::internal)?;
    Ok(Actor::Key { audit_name, grants })
}
