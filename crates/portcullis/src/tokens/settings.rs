//! Token endpoint settings (`[tokens]`; access tokens and keys are the access_tokens feature's).

use std::time::Duration;

use crate::settings::parse::duration_or_zero;
use crate::settings_group;

settings_group! {
    /// `[tokens]`: refresh tokens.
    pub struct RefreshSettings {
        /// How long a just-rotated refresh token still converges on its successor (two tabs, a
        /// lost response); `0s` disables.
        refresh_grace: Duration = Plain("tokens.refresh_grace", Value("10s"), duration_or_zero),
    }
}
