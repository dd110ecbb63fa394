//! Rate limits: GCRA per class of request, keyed by client IP and, where a request names an
//! account, by that account. State lives in memory (one instance) or in Redis (shared by every
//! instance). If Redis cannot be reached, each instance keeps limiting on its own and says so
//! loudly in its log: a Redis outage weakens the limits to per-instance, never switches them off.

pub mod middleware;
mod redis_store;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{Limit, RateLimitConfig};
use crate::error::ApiError;

/// The classes of requests that get their own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    SignIn,
    SignUp,
    PasswordReset,
    VerificationMail,
    TokenRefresh,
    TwoFactor,
    General,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::SignIn,
        Class::SignUp,
        Class::PasswordReset,
        Class::VerificationMail,
        Class::TokenRefresh,
        Class::TwoFactor,
        Class::General,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::SignIn => "sign_in",
            Class::SignUp => "sign_up",
            Class::PasswordReset => "password_reset",
            Class::VerificationMail => "verification_mail",
            Class::TokenRefresh => "token_refresh",
            Class::TwoFactor => "two_factor",
            Class::General => "general",
        }
    }
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
    config: Arc<RateLimitConfig>,
    local: Arc<Local>,
    shared: Option<Arc<redis_store::RedisLimiter>>,
}

impl Limits {
    pub fn new(config: &RateLimitConfig) -> anyhow::Result<Self> {
        let limiters = Class::ALL
            .iter()
            .map(|class| (*class, RateLimiter::keyed(quota(config.limit(*class)))))
            .collect();
        let shared = match &config.redis_url {
            Some(url) => Some(Arc::new(redis_store::RedisLimiter::new(
                url,
                &config.redis_prefix,
            )?)),
            None => None,
        };
        Ok(Self {
            config: Arc::new(config.clone()),
            local: Arc::new(Local { limiters }),
            shared,
        })
    }

    /// Counts one request of `class` for `subject`; refuses with 429 and `Retry-After` when over.
    pub async fn check(&self, class: Class, subject: Subject<'_>) -> Result<(), ApiError> {
        if !self.config.enabled {
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
            Some(wait) => Err(too_many_requests(wait)),
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
    let mut error = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_REQUESTS",
        format!("Too many requests. Try again in {seconds} {unit}."),
    );
    error.retry_after = Some(seconds);
    error
}
