//! Periodic clean-up and scheduled work. Safe to run on every instance at once: each step is a
//! plain conditional DELETE, and a duplicate key rotation only publishes one more key.

use std::future::Future;
use std::time::Duration;

use crate::access_tokens::keys::publication_after_rotation;
use crate::db::{millis, Context as _, DbError};
use crate::state::AppState;
use crate::{access_tokens, admin, organizations, revocations, sessions, sign_in, verification};

pub async fn run(state: AppState) {
    let mut ticker = tokio::time::interval(tick(&state));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        sweep_sessions(&state).await;
        sweep_invitations(&state).await;
        forget_old_revocations(&state).await;
        forget_expired_links(&state).await;
        forget_stale_throttles(&state).await;
        forget_expired_two_factor(&state).await;
        rotate_key_if_due(&state).await;
        admin::audit_log::sweep(&state).await;
    }
}

fn tick(state: &AppState) -> Duration {
    let sweep = state.config.session.sweep_interval;
    match state.config.access_tokens.key_rotation_interval {
        // Check a rotation often enough to be at most a tenth of its interval late.
        Some(rotation) => sweep.min(rotation / 10).max(Duration::from_millis(100)),
        None => sweep,
    }
}

/// Expired sessions are refused on use already; this keeps the table small. No feed entry is
/// needed: their access tokens expired long before (an access token never outlives its session).
async fn sweep_sessions(state: &AppState) {
    let deleted = in_batches("session sweep", |batch| {
        sessions::store::delete_expired(&state.db, state.clock.now_ms(), batch)
    })
    .await;
    if deleted > 0 {
        tracing::info!(deleted, "swept expired sessions");
    }
}

/// Expired invitations are refused on use already; this keeps the table small.
async fn sweep_invitations(state: &AppState) {
    let deleted = in_batches("invitation sweep", |batch| async move {
        let mut conn = state
            .db
            .pool
            .acquire()
            .await
            .context("organizations: connect")?;
        organizations::store::delete_expired_invitations(&mut conn, state.clock.now_ms(), batch)
            .await
    })
    .await;
    if deleted > 0 {
        tracing::info!(deleted, "swept expired invitations");
    }
}

/// Runs `delete(batch)` until it deletes fewer than a batch; answers how many it deleted. In
/// batches, pausing between them: one DELETE of a million rows would hold SQLite's only write
/// lock (and PostgreSQL's row locks) for seconds, stalling every sign-in meanwhile.
async fn in_batches<F, Fut>(what: &str, mut delete: F) -> u64
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<u64, DbError>>,
{
    const BATCH: i64 = 1000;
    let mut deleted = 0;
    loop {
        match delete(BATCH).await {
            Ok(n) => {
                deleted += n;
                if n < BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what} failed");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    deleted
}

/// Feed entries older than any live access token concern nobody; keep an hour more for slow readers.
async fn forget_old_revocations(state: &AppState) {
    let keep = publication_after_rotation(state.config.access_tokens.access_ttl)
        + Duration::from_secs(3600);
    if let Err(e) =
        revocations::store::delete_recorded_before(&state.db, state.clock.now_ms() - millis(keep))
            .await
    {
        tracing::warn!(error = %e, "revocation feed clean-up failed");
    }
}

async fn forget_expired_links(state: &AppState) {
    if let Err(e) = verification::store::delete_expired(&state.db, state.clock.now_ms()).await {
        tracing::warn!(error = %e, "emailed link clean-up failed");
    }
}

async fn forget_stale_throttles(state: &AppState) {
    state.limits.shrink();
    if let Err(e) = sign_in::throttle::forget_stale(state).await {
        tracing::warn!(error = %e, "throttle clean-up failed");
    }
}

/// Sign-in challenges and device trust are refused once expired; this keeps their tables small.
async fn forget_expired_two_factor(state: &AppState) {
    if let Err(e) = sign_in::store::delete_expired(&state.db, state.clock.now_ms()).await {
        tracing::warn!(error = %e, "two-factor clean-up failed");
    }
}

async fn rotate_key_if_due(state: &AppState) {
    let Some(interval) = state.config.access_tokens.key_rotation_interval else {
        return;
    };
    let newest = match access_tokens::store::newest_key_created_at(&state.db).await {
        Ok(newest) => newest.unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check the signing key's age");
            return;
        }
    };
    if state.clock.now_ms() - newest >= millis(interval) {
        if let Err(e) = state
            .keys
            .rotate(state.config.access_tokens.access_ttl)
            .await
        {
            tracing::error!(error = %e, "scheduled key rotation failed");
        }
    }
}
