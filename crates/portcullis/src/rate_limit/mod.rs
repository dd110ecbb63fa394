//! Rate limits: GCRA per class of request, keyed by client IP and, where a request names an
//! account, by that account. State lives in memory (one instance) or in Redis (shared by every
//! instance). If Redis cannot be reached, each instance keeps limiting on its own and says so
//! loudly in its log: a Redis outage weakens the limits to per-instance, never switches them off.

pub mod middleware;
mod redis_store;
pub mod settings;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret;

use crate::error::{ApiError, ErrorCode};
use settings::{Limit, RateLimitSettings};

/// Declares the classes of requests that get their own limits, each once: its name (the setting
/// is `rate_limits.<name>`), its default and what it counts. Everything else loops over `ALL`.
macro_rules! classes {
    ($( $(#[doc = $doc:literal])+ $class:ident = $name:literal, $default:literal; )+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Class { $($class),+ }

        impl Class {
            pub const ALL: &'static [Class] = &[$(Class::$class),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Class::$class => $name),+ }
            }

            /// The setting that holds this class's limit.
            pub fn key(self) -> &'static str {
                match self { $(Class::$class => concat!("rate_limits.", $name)),+ }
            }

            pub fn default_limit(self) -> &'static str {
                match self { $(Class::$class => $default),+ }
            }

            pub fn help(self) -> &'static [&'static str] {
                match self { $(Class::$class => &[$($doc),+]),+ }
            }
        }
    };
}

classes! {
    /// Sign-in attempts (cookie and password grant) per client IP, and per account.
    SignIn = "sign_in", "10/1m";
    /// Sign-ups per client IP.
    SignUp = "sign_up", "5/10m";
    /// Reset requests and resets per client IP; requests per address.
    PasswordReset = "password_reset", "5/15m";
    /// Verification and email-change mails per client IP, and per address.
    VerificationMail = "verification_mail", "5/15m";
    /// Token endpoint requests per client IP.
    TokenRefresh = "token_refresh", "120/1m";
    /// Two-factor code checks (`verify-totp`, `verify-backup-code`, the `mfa_*` grants) per
    /// client IP.
    TwoFactor = "two_factor", "10/1m";
    /// Password checks of the hosted sign-up page (the policy's verdict shown before submit) per
    /// client IP.
    PasswordCheck = "password_check", "30/1m";
    /// Every other request per client IP (health probes exempt).
    General = "general", "600/1m";
}

/// Who a limit counts: the client address, or the account a request names.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Ip(std::net::IpAddr),
    Account(&'a str),
}

impl Subject<'_> {
    fn key(&self, class: Class) -> String {
        match self {
            Subject::Ip(ip) => format!("{}:ip:{ip}", class.as_str()),
            Subject::Account(account) => format!("{}:account:{account}", class.as_str()),
        }
    }
}

struct Local {
    limiters: Vec<(Class, DefaultKeyedRateLimiter<String>)>,
}

#[derive(Clone)]
pub struct Limits {
    config: Arc<RateLimitSettings>,
    local: Arc<Local>,
    shared: Option<Arc<redis_store::RedisLimiter>>,
}

impl Limits {
    /// The limiters; with Redis configured, connects to it (waiting at most a second).
    pub async fn start(config: &RateLimitSettings) -> anyhow::Result<Self> {
        let limiters = Class::ALL
            .iter()
            .map(|class| (*class, RateLimiter::keyed(quota(config.limit(*class)))))
            .collect();
        let switches = &config.switches;
        let shared = match &switches.redis_url {
            Some(url) => Some(
                redis_store::RedisLimiter::start(url.expose_secret(), &switches.redis_prefix)
                    .await?,
            ),
            None => None,
        };
        Ok(Self {
            config: Arc::new(config.clone()),
            local: Arc::new(Local { limiters }),
            shared,
        })
    }

    /// False when `rate_limits.enabled` is off: then every check lets the request through.
    pub fn is_enabled(&self) -> bool {
        self.config.switches.enabled
    }

    /// Counts one request of `class` for `subject`; refuses with 429 and `Retry-After` when over.
    pub async fn check(&self, class: Class, subject: Subject<'_>) -> Result<(), ApiError> {
        if !self.config.switches.enabled {
            return Ok(());
        }
        let key = subject.key(class);
        let limit = self.config.limit(class);
        let verdict = match &self.shared {
            Some(redis) => match redis.check(&key, limit).await {
                Ok(verdict) => verdict,
                Err(()) => self.check_locally(class, &key),
            },
            None => self.check_locally(class, &key),
        };
        match verdict {
            None => Ok(()),
            Some(wait) => {
                metrics::counter!("rate_limit_refusals_total", "class" => class.as_str())
                    .increment(1);
                Err(too_many_requests(wait))
            }
        }
    }

    /// `None` when allowed, else how long to wait.
    fn check_locally(&self, class: Class, key: &str) -> Option<Duration> {
        let (_, limiter) = self.local.limiters.iter().find(|(c, _)| *c == class)?;
        limiter
            .check_key(&key.to_owned())
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets idle keys (memory stays bounded by active clients).
    pub fn shrink(&self) {
        for (_, limiter) in &self.local.limiters {
            limiter.retain_recent();
        }
    }
}

fn quota(limit: Limit) -> Quota {
    let burst = NonZeroU32::new(limit.count.max(1)).expect("at least one");
    let interval = limit.period / limit.count.max(1);
    Quota::with_period(interval.max(Duration::from_micros(1)))
        .expect("a positive period")
        .allow_burst(burst)
}

/// 429 with a whole number of seconds to wait (at least 1), in the header and the body.
pub fn too_many_requests(wait: Duration) -> ApiError {
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let unit = if seconds == 1 { "second" } else { "seconds" };
    let mut error = ApiError::from(ErrorCode::TooManyRequests)
        .with_message(format!("Too many requests. Try again in {seconds} {unit}."));
    error.retry_after = Some(seconds);
    error
}
