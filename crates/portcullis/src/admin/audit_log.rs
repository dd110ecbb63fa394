//! The audit trail, queryable: by user, actor, kind and time range, newest first, with a cursor
//! (`GET /admin/audit-log`, `portcullis audit list`). Events never hold a secret (see `audit`).

use serde::Serialize;

use super::store::{self, AuditRow};
use super::Actor;
use crate::db::millis;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::timestamp::Timestamp;
use crate::state::AppState;

pub const MAX_LIMIT: i64 = 1000;
pub const DEFAULT_LIMIT: i64 = 100;

/// Which events (all optional).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub actor: Option<String>,
    pub kind: Option<String>,
    /// From this time (unix ms, inclusive).
    pub since: Option<i64>,
    /// Until this time (unix ms, exclusive).
    pub until: Option<i64>,
    /// Older than this event (a page's `nextCursor`).
    pub before: Option<(i64, String)>,
}

/// An event as the API and the command line show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    pub at: Timestamp,
    /// `sign_in`, `user_banned`, `impersonation_started`, ...
    pub kind: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// Who acted on the user: an administrator's id, `operator` (the command line); `null`: the
    /// user themselves.
    pub actor: Option<String>,
    /// A role given, a ban's or an impersonation's reason.
    pub detail: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: Timestamp(row.at),
            kind: row.kind,
            user_id: row.user_id,
            session_id: row.session_id,
            actor: row.actor,
            detail: row.detail,
            ip_address: row.ip_address,
            user_agent: row.user_agent,
        }
    }
}

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
    raw.parse::<i64>()
        .ok()
        .or_else(|| {
            time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
        })
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
    let events: Vec<AuditEvent> = rows
        .into_iter()
        .take(limit as usize)
        .map(AuditEvent::from)
        .collect();
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
