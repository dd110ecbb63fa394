//! Metrics settings (`[metrics]`): where Prometheus scrapes them, if anywhere.

use std::net::SocketAddr;

use crate::settings::parse::{from_str, optional, secret};
use crate::settings::SecretString;
use crate::settings_group;

settings_group! {
    /// `[metrics]`
    pub struct MetricsSettings {
        /// A separate address serving `GET /metrics` (Prometheus text) without a token, for a
        /// scraper on a private network. Unset: no separate listener.
        listen: Option<SocketAddr> = Plain("metrics.listen", Unset("off"), optional(from_str)),
        /// A bearer token that opens `GET /metrics` on the main address. Unset: the main address
        /// serves no metrics.
        token: Option<SecretString> = Secret("metrics.token", Unset("off"), optional(secret)),
    }
}

impl MetricsSettings {
    pub fn enabled(&self) -> bool {
        self.listen.is_some() || self.token.is_some()
    }
}
