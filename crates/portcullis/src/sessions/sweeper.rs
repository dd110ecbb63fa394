//! Deletes expired sessions in the background. Expired sessions are already refused on use; the
//! sweep keeps the table small. Safe to run on every instance at once (a plain DELETE).

use std::time::Duration;

use crate::db::{now_ms, Db};

pub async fn run(db: Db, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match super::store::delete_expired(&db, now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "swept expired sessions"),
            Err(e) => tracing::warn!(error = %e, "session sweep failed"),
        }
    }
}
