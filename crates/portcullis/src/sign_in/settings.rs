//! Account throttling settings (`[throttle]`).

use std::time::Duration;

use crate::settings::parse::{duration, duration_or_zero, number_in};
use crate::settings_group;

settings_group! {
    /// `[throttle]`: failed sign-ins and second-factor codes per account.
    pub struct ThrottleSettings {
        /// Failed sign-ins on one address before each further attempt must wait.
        free_failures: i64 = Plain("throttle.free_failures", Value("5"), number_in(1..=100)),
        /// Longest such wait (doubling from 1 s).
        max_delay: Duration = Plain("throttle.max_delay", Value("15m"), duration_or_zero),
        /// Consecutive failures after which the address refuses attempts until the window passes
        /// or the password is reset.
        max_failures: i64 = Plain("throttle.max_failures", Value("100"), number_in(1..=100)),
        /// Failures older than this are forgotten.
        window: Duration = Plain("throttle.window", Value("24h"), duration),
    }
}
