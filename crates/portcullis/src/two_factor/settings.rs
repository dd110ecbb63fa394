//! Two-factor settings (`[two_factor]`). The challenge and trusted-device lifetimes are read by
//! the sign-in feature, which opens challenges and trusts devices.

use std::time::Duration;

use crate::settings::parse::duration;
use crate::settings_group;

settings_group! {
    /// `[two_factor]`
    pub struct TwoFactorSettings {
        /// Issuer name authenticator apps show for TOTP secrets (at most 64 characters, no `:`).
        issuer: String = Plain("two_factor.issuer", Value("Portcullis"), issuer),
        /// How long a password step waits for its second factor (challenge cookie or `mfa_token`).
        challenge_lifetime: Duration = Plain("two_factor.challenge_lifetime", Value("10m"), duration),
        /// How long a browser trusted at a two-factor sign-in skips the second factor (same user
        /// only; ends when two-factor is disabled or the password changes).
        trust_device_lifetime: Duration = Plain("two_factor.trust_device_lifetime", Value("30d"), duration),
    }
}

fn issuer(raw: &str) -> Result<String, String> {
    super::totp::checked_issuer(raw).map_err(str::to_owned)
}
