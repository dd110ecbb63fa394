//! Emailed-link settings (`[email]`): verification, email change and password reset links.

use std::time::Duration;

use crate::settings::parse::{duration, flag};
use crate::settings_group;

settings_group! {
    /// `[email]`
    pub struct EmailSettings {
        /// Refuse sign-in (`403 EMAIL_NOT_VERIFIED`) until the address is verified; sign-up then
        /// answers alike for taken and free addresses.
        require_verification: bool = Plain("email.require_verification", Value("false"), flag),
        /// Send a verification mail at sign-up.
        send_on_sign_up: bool = Plain("email.send_on_sign_up", Unset("same as `email.require_verification`"), flag),
        /// Lifetime of verification and email-change links.
        verification_ttl: Duration = Plain("email.verification_ttl", Value("24h"), duration),
        /// Lifetime of password-reset links.
        reset_ttl: Duration = Plain("email.reset_ttl", Value("1h"), duration),
    }
}
