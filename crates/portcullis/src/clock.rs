//! Time. One clock lives in `AppState` and every rule about time reads it: the system's in
//! production; in tests a manual clock that can be moved forward, so every lifetime rule (session
//! expiry, throttle windows, TOTP steps, link expiry, key rotation) is tested by advancing time
//! instead of sleeping. Nothing else in the server reads the wall clock.
//!
//! The manual clock is the system's plus an offset the test controls: it keeps running, so the
//! order of events stays real, and it jumps when told to.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: a manual clock's offset (ms).
    offset_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { offset_ms: None }
    }

    /// A clock for tests, and the handle that moves it. Only an embedding program (the test
    /// suite) can make one: no setting or endpoint reaches it.
    pub fn manual() -> (Self, ManualClock) {
        let offset = Arc::new(AtomicI64::new(0));
        (
            Self {
                offset_ms: Some(Arc::clone(&offset)),
            },
            ManualClock { offset_ms: offset },
        )
    }

    /// Now, as unix milliseconds: the one time representation in the database.
    pub fn now_ms(&self) -> i64 {
        let offset = self
            .offset_ms
            .as_ref()
            .map_or(0, |offset| offset.load(Ordering::SeqCst));
        system_ms() + offset
    }

    /// Now, as unix seconds (JWT times, TOTP steps).
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// Moves a manual clock.
#[derive(Clone, Debug)]
pub struct ManualClock {
    offset_ms: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).expect("a sane duration");
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// What the server's clock reads now.
    pub fn now_ms(&self) -> i64 {
        system_ms() + self.offset_ms.load(Ordering::SeqCst)
    }

    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

fn system_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit in i64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_runs_and_jumps_when_told() {
        let (clock, control) = Clock::manual();
        let before = clock.now_ms();
        control.advance(Duration::from_secs(3600));
        let after = clock.now_ms();
        assert!(after - before >= 3_600_000 && after - before < 3_610_000);
        assert!((control.now_ms() - clock.now_ms()).abs() < 1000);
        assert!((Clock::system().now_ms() - before).abs() < 10_000);
    }
}
