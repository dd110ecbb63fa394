//! Rate-limit settings: the switches, Redis, and one `N/period` limit per class of request. The
//! classes are declared once (`rate_limit::Class`); their settings are made by looping over them.

use std::time::Duration;

use super::Class;
use crate::settings::parse::{flag, optional, single_line};
use crate::settings::{Fallback, Group, SecretString, Sensitivity, Setting, SettingError, Values};
use crate::settings_group;

/// "N per period", as in `10/1m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

settings_group! {
    /// `redis_url` and `[rate_limits]`
    pub struct RateLimitSwitches {
        /// `redis://host:6379`: rate limits shared by every instance. If Redis is unreachable,
        /// each instance keeps limiting on its own and logs an error.
        redis_url: Option<SecretString> = Credentials("redis_url", Unset("none"), optional(redis_url)),
        /// Rate limits (429 with `Retry-After`). Turn off only behind another limiter.
        enabled: bool = Plain("rate_limits.enabled", Value("true"), flag),
        /// Prefix of the limiter's Redis keys.
        redis_prefix: String = Plain("rate_limits.redis_prefix", Value("portcullis"), single_line),
    }
}

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub switches: RateLimitSwitches,
    limits: Vec<(Class, Limit)>,
}

impl RateLimitSettings {
    pub fn limit(&self, class: Class) -> Limit {
        self.limits
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, limit)| *limit)
            .expect("every class has a limit")
    }
}

impl Group for RateLimitSettings {
    fn settings() -> Vec<Setting> {
        let mut settings = RateLimitSwitches::settings();
        settings.extend(Class::ALL.iter().map(|class| Setting {
            key: class.key(),
            fallback: Fallback::Value(class.default_limit()),
            help: class.help(),
            sensitivity: Sensitivity::Plain,
        }));
        settings
    }

    fn load(values: &Values) -> Result<Self, SettingError> {
        let limits = Class::ALL
            .iter()
            .map(|class| {
                let fallback = Fallback::Value(class.default_limit());
                Ok((*class, values.get(class.key(), fallback, limit)?))
            })
            .collect::<Result<_, SettingError>>()?;
        Ok(Self {
            switches: RateLimitSwitches::load(values)?,
            limits,
        })
    }
}

fn limit(raw: &str) -> Result<Limit, String> {
    let parsed = raw.split_once('/').and_then(|(count, period)| {
        let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
        let period = humantime::parse_duration(period.trim())
            .ok()
            .filter(|p| !p.is_zero())?;
        Some(Limit { count, period })
    });
    parsed.ok_or_else(|| format!("`{raw}` is not N/period, e.g. 10/1m"))
}

fn redis_url(raw: &str) -> Result<SecretString, String> {
    // The text may hold a password: errors never repeat it.
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
        return Err("must be redis://[user:password@]host[:port][/db] or rediss://...".to_owned());
    }
    Ok(SecretString::from(raw.trim().to_owned()))
}
