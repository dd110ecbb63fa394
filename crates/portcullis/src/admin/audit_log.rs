//! The audit trail, queryable: by user, actor, kind and time range, newest first, with a cursor
//! (`GET /admin/audit-log`, `portcullis audit list`). Events never hold a secret (see `audit`).

use super::store;
pub use super::store::{AuditEvent, AuditFilter};
use super::Actor;
use crate::db::millis;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

pub const MAX_LIMIT: i64 = 1000;
pub const DEFAULT_LIMIT: i64 = 100;

pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next (older) page; `None` at the end.
    pub next_cursor: Option<String>,
}

fn invalid(message: &str) -> ApiError {
    ApiError::from(ErrorCode::ValidationError).with_message(message.to_owned())
}

/// A cursor as `next_cursor` writes it: `<unix ms>.<event id>`.
pub fn parse_cursor(raw: &str) -> ApiResult<(i64, String)> {
    let (at, id) = raw
        .split_once('.')
        .ok_or_else(|| invalid("cursor is not one this endpoint gave"))?;
    let at = at
        .parse()
        .map_err(|_| invalid("cursor is not one this endpoint gave"))?;
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid("cursor is not one this endpoint gave"));
    }
    Ok((at, id.to_owned()))
}

/// A time as unix milliseconds or RFC 3339.
pub fn parse_time(raw: &str) -> ApiResult<i64> {
    super::query::unix_ms(raw)
        .ok_or_else(|| invalid("times are unix milliseconds or RFC 3339 (2026-01-31T12:00:00Z)"))
}

/// A kind as events are named: lower-case letters and `_`.
pub fn check_kind(kind: &str) -> ApiResult<()> {
    let valid = !kind.is_empty()
        && kind.len() <= 64
        && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "kind is lower-case letters and _ (e.g. user_banned)",
        ))
    }
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    filter: AuditFilter,
    limit: Option<i64>,
) -> ApiResult<AuditPage> {
    actor.require(state, "audit", "list")?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit must be 1 to 1000"));
    }
    if let Some(kind) = &filter.kind {
        check_kind(kind)?;
    }
    let rows = store::audit_events(&state.db, &filter, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let events: Vec<AuditEvent> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = more
        .then(|| events.last().map(|e| format!("{}.{}", e.at.0, e.id)))
        .flatten();
    Ok(AuditPage {
        events,
        next_cursor,
    })
}

/// Forgets events older than `audit.retention`; run by the periodic clean-up.
pub async fn sweep(state: &AppState) {
    let before = state.clock.now_ms() - millis(state.config.admin.audit_retention);
    match store::delete_audit_events_before(&state.db, before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "forgot audit events past their retention"),
        Err(e) => tracing::warn!(error = %e, "audit retention sweep failed"),
    }
}
