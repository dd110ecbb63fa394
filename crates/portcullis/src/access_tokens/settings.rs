//! Access-token settings (`[tokens]`; the refresh grace is the token endpoint's).

use std::time::Duration;

use crate::settings::parse::{duration, duration_or_off, text};
use crate::settings_group;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    EdDsa,
    Es256,
}

settings_group! {
    /// `[tokens]`: access tokens and their signing keys.
    pub struct AccessTokenSettings {
        /// Signing algorithm for new access-token keys: `EdDSA` (Ed25519) or `ES256`.
        algorithm: SigningAlgorithm = Plain("tokens.algorithm", Value("EdDSA"), algorithm),
        /// Access-token lifetime.
        access_ttl: Duration = Plain("tokens.access_ttl", Value("15m"), duration),
        /// The `aud` claim of access tokens.
        audience: String = Plain("tokens.audience", Unset("the base URL"), text),
        /// Rotate the signing key automatically this often (`0s`: never); otherwise
        /// `portcullis keys rotate`.
        key_rotation_interval: Option<Duration> = Plain("tokens.key_rotation_interval", Value("0s"), duration_or_off),
    }
}

fn algorithm(raw: &str) -> Result<SigningAlgorithm, String> {
    match raw.trim() {
        "EdDSA" => Ok(SigningAlgorithm::EdDsa),
        "ES256" => Ok(SigningAlgorithm::Es256),
        other => Err(format!("`{other}` is neither EdDSA nor ES256")),
    }
}
