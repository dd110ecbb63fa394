//! Account throttling (NIST SP 800-63B §5.2.2): failed sign-ins on one address slow it down
//! progressively, and at most `max_failures` consecutive failures can ever be made. Everything is
//! time-bounded (failures older than `window` are forgotten), so an attacker can slow an owner down
//! but never lock them out for good; a password reset clears it at once.
//!
//! An attempt is counted *before* its password is checked, in one atomic statement, so a burst of
//! parallel guesses cannot slip past the limit; a success then clears the count.
//!
//! Second-factor codes are throttled the same way, per user, under their own key, so that neither
//! kind of success clears the other.

use std::time::Duration;

use super::settings::ThrottleSettings;
use super::store;
use crate::db::{duration_of, millis, Db, DbError};
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::rate_limit::too_many_requests;
use crate::state::AppState;

/// Counts an attempt on `key` (an address, or a user's code key); refuses (429, like any
/// throttle) if it is waiting out a delay or has used up its failures.
pub async fn begin_attempt(state: &AppState, key: &str) -> ApiResult<()> {
    let (db, config) = (&state.db, &state.config.throttle);
    let now = state.clock.now_ms();
    let window_start = now - millis(config.window);
    if let Some(current) = store::failures(db, key).await? {
        if current.last_failure_at >= window_start {
            if current.failures >= config.max_failures {
                return Err(refuse(
                    current.last_failure_at + millis(config.window) - now,
                ));
            }
            if current.locked_until > now {
                return Err(refuse(current.locked_until - now));
            }
        }
    }
    let failures = store::count_failure(db, key, now, window_start).await?;
    if failures > config.max_failures {
        // A parallel attempt took the last one.
        return Err(refuse(millis(config.window)));
    }
    let delay = delay_after(config, failures);
    if !delay.is_zero() {
        store::lock_until(db, key, now + millis(delay)).await?;
    }
    Ok(())
}

/// Counts a second-factor code check of `user_id` (429 while it must wait), before the code is
/// looked at.
pub async fn begin_code_attempt(state: &AppState, user_id: &str) -> ApiResult<()> {
    begin_attempt(state, &code_key(user_id)).await
}

/// A right second-factor code clears the user's code throttle.
pub async fn clear_code_attempts(state: &AppState, user_id: &str) -> ApiResult<()> {
    clear(&state.db, &code_key(user_id)).await
}

fn code_key(user_id: &str) -> String {
    format!("two-factor:{user_id}")
}

/// The password was right (or a reset set a new one): the slate is clean.
pub async fn clear(db: &Db, key: &str) -> ApiResult<()> {
    store::clear_failures(db, key).await?;
    Ok(())
}

/// Forgets keys whose last failure is older than the window.
pub async fn forget_stale(state: &AppState) -> Result<u64, DbError> {
    let window_start = state.clock.now_ms() - millis(state.config.throttle.window);
    store::forget_failures_before(&state.db, window_start).await
}

/// No wait for the first `free_failures`; then 1 s, 2 s, 4 s, ... up to `max_delay`.
fn delay_after(config: &ThrottleSettings, failures: i64) -> Duration {
    if failures < config.free_failures {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(failures - config.free_failures)
        .unwrap_or(u32::MAX)
        .min(30);
    Duration::from_secs(1u64 << doublings).min(config.max_delay)
}

fn refuse(wait_ms: i64) -> ApiError {
    metrics::counter!("throttle_refusals_total").increment(1);
    too_many_requests(duration_of(wait_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_cap() {
        let config = ThrottleSettings {
            free_failures: 5,
            max_delay: Duration::from_secs(900),
            max_failures: 100,
            window: Duration::from_secs(86400),
        };
        assert_eq!(delay_after(&config, 4), Duration::ZERO);
        assert_eq!(delay_after(&config, 5), Duration::from_secs(1));
        assert_eq!(delay_after(&config, 8), Duration::from_secs(8));
        assert_eq!(delay_after(&config, 40), Duration::from_secs(900));
    }
}
