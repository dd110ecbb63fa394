//! Session settings: lifetimes, the cache and the cookie name.

use std::time::Duration;

use crate::settings::parse::{duration, duration_or_zero};
use crate::settings_group;

settings_group! {
    /// `[session]`
    pub struct SessionSettings {
        /// Idle timeout: a session unused this long expires; use pushes it forward.
        expires_in: Duration = Plain("session.expires_in", Value("7d"), duration),
        /// How often at most a used session's expiry moves forward.
        update_age: Duration = Plain("session.update_age", Value("1d"), duration),
        /// Hard limit on a session's age, however active.
        absolute_lifetime: Duration = Plain("session.absolute_lifetime", Value("30d"), duration),
        /// Lifetime of a `rememberMe: false` session (its cookie ends with the browser session).
        short_lifetime: Duration = Plain("session.short_lifetime", Value("1d"), duration),
        /// How often expired sessions are deleted.
        sweep_interval: Duration = Plain("session.sweep_interval", Value("10m"), duration),
        /// Email and two-factor changes need a session at most this old (a recent sign-in).
        fresh_age: Duration = Plain("session.fresh_age", Value("1d"), duration),
        /// How long an instance may answer from memory for a session it has read. Revocations
        /// evict at once on the instance that made them and within ~250 ms on the others; profile
        /// changes made elsewhere show within this. `0s` disables.
        cache_ttl: Duration = Plain("session.cache_ttl", Value("5s"), duration_or_zero),
        /// Cookie name `<prefix>.session_token`.
        cookie_prefix: String = Plain("session.cookie_prefix", Value("portcullis"), cookie_prefix),
    }
}

impl SessionSettings {
    /// Rules between the lifetimes.
    pub fn check(&self) -> Result<(), crate::settings::SettingError> {
        use crate::settings::SettingError;
        if self.update_age > self.expires_in {
            return Err(SettingError::new(
                "session.update_age",
                "must not exceed session.expires_in",
            ));
        }
        if self.expires_in > self.absolute_lifetime {
            return Err(SettingError::new(
                "session.expires_in",
                "must not exceed session.absolute_lifetime",
            ));
        }
        Ok(())
    }
}

fn cookie_prefix(raw: &str) -> Result<String, String> {
    let prefix = raw.trim();
    let valid = !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err("use letters, digits, '-', '_' or '.' only".to_owned());
    }
    Ok(prefix.to_owned())
}
