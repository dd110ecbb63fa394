//! The revocation feed: every ended session (and every user-wide "tokens issued before" mark) gets
//! a cursor, so resource servers that verify access tokens locally can refuse revoked ones within
//! seconds. Entries are written in the same transaction as the session deletion.
//!
//! Each instance runs one poller that reads new entries from the database and broadcasts them to
//! its stream subscribers, so a revocation made on any instance reaches every stream.

pub mod routes;
pub mod service_token;
pub mod settings;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, Notify};

use crate::clock::Clock;
use crate::db::{Context, Db};

pub use routes::router;

/// How often an instance looks for revocations written by other instances.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// Position in the feed; pass the largest seen as `since`.
    pub cursor: i64,
    /// When it was recorded (unix milliseconds).
    pub at: i64,
    /// A revoked session: refuse every token with this `sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// A user whose tokens issued before `not_before` are refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Unix seconds; compare with a token's `iat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
}

#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Entry>,
    wake: Arc<Notify>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(4096).0,
            wake: Arc::new(Notify::new()),
        }
    }
}

impl Hub {
    /// Tells this instance's poller to look now (after a local revocation).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Entry> {
        self.sender.subscribe()
    }

    /// Broadcasts new entries as they appear in the database, until the task is aborted. Each
    /// entry's lag (recorded → broadcast here) goes to `revocation_feed_lag_seconds`: written on
    /// this instance it is the wake-up; on another, up to a poll interval; more means the
    /// database is slow or unreachable.
    pub async fn run_poller(self, db: Db, clock: Clock) {
        let mut last = match store::last_cursor(&db).await {
            Ok(cursor) => cursor,
            Err(e) => {
                tracing::error!(error = %e, "revocation poller cannot start");
                return;
            }
        };
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {},
                () = self.wake.notified() => {},
            }
            match store::after_cursor(&db, last).await {
                Ok(entries) => {
                    for entry in entries {
                        last = entry.cursor;
                        let lag_ms = (clock.now_ms() - entry.at).max(0);
                        metrics::histogram!("revocation_feed_lag_seconds")
                            .record(lag_ms as f64 / 1000.0);
                        // No subscribers is fine: the entry stays in the database for pollers.
                        let _ = self.sender.send(entry);
                    }
                    // Compared across instances (or with the feed's head), shows one falling behind.
                    metrics::gauge!("revocation_feed_cursor").set(last as f64);
                }
                Err(e) => tracing::warn!(error = %e, "revocation poll failed"),
            }
        }
    }
}

/// Refuses every token of a user issued until now (account deleted, password reset, ban).
pub async fn revoke_user(
    state: &crate::state::AppState,
    user_id: &str,
) -> crate::error::ApiResult<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.begin("revocations: revoke user").await?;
    // Tokens issued in this very second are covered too: `iat` < now + 1.
    store::record_user(&mut tx, state.db.backend, user_id, now / 1000 + 1, now).await?;
    tx.commit().await.context("revocations: revoke user")?;
    state.revocations.wake();
    Ok(())
}
