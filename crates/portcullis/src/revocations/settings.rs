//! Revocation feed settings.

use crate::settings::parse::{optional, secret};
use crate::settings::SecretString;
use crate::settings_group;

settings_group! {
    /// `[revocations]`
    pub struct RevocationSettings {
        /// If set, the revocation feed and introspection require `Authorization: Bearer <this>`.
        feed_token: Option<SecretString> = Secret("revocations.feed_token", Unset("none"), optional(secret)),
    }
}
