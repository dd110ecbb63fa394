//! Settings: one TOML file (`--config`) and `PORTCULLIS_*` environment variables, environment winning.
//!
//! Every setting has a dotted key (`session.expires_in`); its environment variable is derived from
//! the key (`PORTCULLIS_SESSION_EXPIRES_IN`), so the two sources can never disagree on names.
//! A value that does not parse stops start-up with an error that names the setting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

/// A setting's dotted key, its default (as text, `None` when derived from others) and what it does.
pub struct Setting {
    pub key: &'static str,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

macro_rules! settings {
    ($($key:literal = $default:expr => $help:literal;)*) => {
        pub const SETTINGS: &[Setting] = &[$(Setting { key: $key, default: $default, help: $help }),*];
    };
}

settings! {
    "listen" = Some("127.0.0.1:8080") => "Address and port to listen on.";
    "base_url" = None => "Public URL of the server (scheme://host[:port]); links, cookies and origin checks use it. Default: http://<listen>.";
    "data_dir" = Some("./portcullis-data") => "Directory for the SQLite database and generated secrets.";
    "database_url" = None => "sqlite://path or postgres://user@host/db. Default: SQLite in <data_dir>/portcullis.db.";
    "database_max_connections" = Some("16") => "Size of the database connection pool.";
    "secret" = None => "Master secret (at least 32 bytes, base64). Default: generated once into <data_dir>/master.key (mode 0600). Instances sharing a database must share it.";
    "trusted_origins" = Some("") => "Comma-separated extra origins allowed to make cookie-authenticated requests and to be redirect targets.";
    "trusted_proxies" = Some("") => "Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed.";
    "session.expires_in" = Some("7d") => "Sliding session lifetime: a session unused for this long expires (idle timeout).";
    "session.update_age" = Some("1d") => "How often at most a used session's expiry is pushed forward.";
    "session.absolute_lifetime" = Some("30d") => "Hard limit on a session's age, however active.";
    "session.short_lifetime" = Some("1d") => "Server lifetime of a `rememberMe: false` session (its cookie lasts for the browser session).";
    "session.sweep_interval" = Some("10m") => "How often expired sessions are deleted.";
    "session.cache_ttl" = Some("5s") => "How long an instance may answer from memory for a session it read (revocations still reach every instance within about 250 ms; profile changes made on another instance within this). 0s disables.";
    "session.cookie_prefix" = Some("portcullis") => "Session cookie name prefix: <prefix>.session_token (with __Host- over https).";
    "password.min_length" = Some("8") => "Minimum password length in Unicode code points after NFKC (8 or more).";
    "password.max_length" = Some("128") => "Maximum password length in code points (64 or more).";
    "password.min_strength" = Some("2") => "Minimum zxcvbn score, 0 (anything) to 4 (very strong). 2 refuses common, breached-looking and personal passwords without turning the minimum length into a composition rule.";
    "password.argon2_memory_kib" = Some("19456") => "Argon2id memory cost in KiB (OWASP floor 19456).";
    "password.argon2_iterations" = Some("2") => "Argon2id time cost (OWASP floor 2).";
    "password.argon2_parallelism" = Some("1") => "Argon2id lanes.";
    "password.hash_threads" = Some("0") => "Threads that hash passwords; 0 means one per core.";
    "tokens.algorithm" = Some("EdDSA") => "Access-token signing algorithm for new keys: EdDSA (Ed25519) or ES256.";
    "tokens.access_ttl" = Some("15m") => "Access-token lifetime.";
    "tokens.audience" = None => "The `aud` claim of access tokens. Default: the base URL.";
    "tokens.refresh_grace" = Some("10s") => "How long a just-rotated refresh token still converges on its successor (concurrent tabs, lost responses); 0s disables.";
    "tokens.key_rotation_interval" = Some("0s") => "Rotate the signing key automatically this often; 0s means only by `portcullis keys rotate`.";
    "revocations.feed_token" = None => "If set, the revocation feed and introspection require `Authorization: Bearer <this>`.";
    "session.fresh_age" = Some("1d") => "Sensitive changes without a password (email change) need a session at most this old.";
    "smtp_url" = None => "smtp://user:password@host:587 (STARTTLS required), smtps://...:465 (implicit TLS) or smtp://host:25?tls=none for a trusted local relay. Unset: mail stays in the local outbox (`portcullis mail list`).";
    "mail.from_name" = Some("Portcullis") => "Sender display name.";
    "mail.from_address" = None => "Sender address. Default: no-reply@<base URL host>.";
    "mail.product_name" = Some("Portcullis") => "Product name used in mail subjects and bodies.";
    "mail.templates_dir" = None => "Directory with templates overriding the built-in ones (<kind>.subject, <kind>.txt, <kind>.html).";
    "email.require_verification" = Some("false") => "Refuse sign-in (403 EMAIL_NOT_VERIFIED) until the email is verified; sign-up then answers alike for taken and free emails.";
    "email.send_on_sign_up" = None => "Send a verification mail at sign-up. Default: the value of email.require_verification.";
    "email.verification_ttl" = Some("24h") => "Lifetime of email verification and email change links.";
    "email.reset_ttl" = Some("1h") => "Lifetime of password reset links.";
    "redis_url" = None => "redis://host:6379: share rate limits across instances. Unreachable Redis: each instance limits on its own and logs loudly.";
    "rate_limits.enabled" = Some("true") => "Rate limits on (429 with Retry-After when exceeded). Only turn off behind another limiter.";
    "rate_limits.redis_prefix" = Some("portcullis") => "Prefix of the rate-limit keys in Redis.";
    "rate_limits.sign_in" = Some("10/1m") => "Sign-in attempts (cookie and password grant) per client IP, and per account.";
    "rate_limits.sign_up" = Some("5/10m") => "Sign-ups per client IP.";
    "rate_limits.password_reset" = Some("5/15m") => "Password reset requests per client IP, and per email address.";
    "rate_limits.verification_mail" = Some("5/15m") => "Verification and email-change mails per client IP, and per address.";
    "rate_limits.token_refresh" = Some("120/1m") => "Token endpoint requests per client IP.";
    "rate_limits.two_factor" = Some("10/1m") => "Two-factor code checks (verify-totp, verify-backup-code, mfa grants) per client IP.";
    "rate_limits.general" = Some("600/1m") => "Every other request per client IP.";
    "throttle.free_failures" = Some("5") => "Failed sign-ins on one account before each further attempt must wait.";
    "throttle.max_delay" = Some("15m") => "Longest wait between attempts on a throttled account (doubling from 1 s).";
    "throttle.max_failures" = Some("100") => "Consecutive failed sign-ins on one account after which it refuses attempts until throttle.window passes or the password is reset.";
    "throttle.window" = Some("24h") => "Failures older than this are forgotten.";
    "two_factor.issuer" = Some("Portcullis") => "Issuer shown by authenticator apps for TOTP secrets (at most 64 characters, no `:`).";
    "two_factor.challenge_lifetime" = Some("10m") => "How long a password step waits for its second factor (challenge cookie or mfa_token).";
    "two_factor.trust_device_lifetime" = Some("30d") => "How long a device trusted at a two-factor sign-in skips the second factor (same user only; ends when two-factor is disabled or the password changes).";
    "log.format" = Some("text") => "Log format: text or json.";
}

/// The environment variable that sets `key`.
pub fn env_name(key: &str) -> String {
    format!("PORTCULLIS_{}", key.replace('.', "_").to_uppercase())
}

#[derive(Debug, thiserror::Error)]
#[error("setting `{key}` ({env}): {reason}")]
pub struct ConfigError {
    pub key: String,
    pub env: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            env: env_name(key),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub expires_in: Duration,
    pub update_age: Duration,
    pub absolute_lifetime: Duration,
    pub short_lifetime: Duration,
    pub sweep_interval: Duration,
    pub fresh_age: Duration,
    pub cache_ttl: Duration,
    pub cookie_prefix: String,
}

#[derive(Debug, Clone)]
pub struct PasswordConfig {
    pub min_length: usize,
    pub max_length: usize,
    pub min_strength: u8,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub hash_threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    EdDsa,
    Es256,
}

#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub algorithm: SigningAlgorithm,
    pub access_ttl: Duration,
    pub audience: String,
    pub refresh_grace: Duration,
    pub key_rotation_interval: Option<Duration>,
    pub feed_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `None`: development mode, messages are held in the outbox.
    pub smtp_url: Option<Url>,
    pub from_name: String,
    pub from_address: String,
    pub product_name: String,
    pub templates_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub require_verification: bool,
    pub send_on_sign_up: bool,
    pub verification_ttl: Duration,
    pub reset_ttl: Duration,
}

/// "N per period", as in `10/1m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub sign_in: Limit,
    pub sign_up: Limit,
    pub password_reset: Limit,
    pub verification_mail: Limit,
    pub token_refresh: Limit,
    pub two_factor: Limit,
    pub general: Limit,
}

impl RateLimitConfig {
    pub fn limit(&self, class: crate::rate_limit::Class) -> Limit {
        use crate::rate_limit::Class;
        match class {
            Class::SignIn => self.sign_in,
            Class::SignUp => self.sign_up,
            Class::PasswordReset => self.password_reset,
            Class::VerificationMail => self.verification_mail,
            Class::TokenRefresh => self.token_refresh,
            Class::TwoFactor => self.two_factor,
            Class::General => self.general,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub free_failures: i64,
    pub max_delay: Duration,
    pub max_failures: i64,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct TwoFactorConfig {
    pub issuer: String,
    pub challenge_lifetime: Duration,
    pub trust_device_lifetime: Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub base_url: Url,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub database_max_connections: u32,
    pub secret: Option<Vec<u8>>,
    pub trusted_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub tokens: TokenConfig,
    pub mail: MailConfig,
    pub email: EmailConfig,
    pub rate_limits: RateLimitConfig,
    pub throttle: ThrottleConfig,
    pub two_factor: TwoFactorConfig,
    pub log_format: LogFormat,
}

impl Config {
    /// Reads the TOML file (if any), then the process environment over it.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let file_values = match file {
            Some(path) => read_toml(path)?,
            None => BTreeMap::new(),
        };
        let config = Self::from_lookup(|key| {
            std::env::var(env_name(key))
                .ok()
                .or_else(|| file_values.get(key).cloned())
        })?;
        Ok(config)
    }

    /// Builds a configuration from a function that answers a dotted key with its raw text value.
    /// Tests use this directly; `load` wires it to the environment and the file.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let values = Values { lookup: &lookup };
        let listen: SocketAddr = values.parse("listen")?;
        let base_url = match values.raw("base_url") {
            Some(raw) => parse_base_url(&raw).map_err(|e| ConfigError::new("base_url", e))?,
            None => Url::parse(&format!("http://{listen}")).expect("socket address makes a URL"),
        };
        let data_dir = PathBuf::from(values.text("data_dir"));
        let database_url = values
            .raw("database_url")
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("portcullis.db").display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "database_url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        let secret = values
            .raw("secret")
            .map(|raw| crate::crypto::master_key::decode_secret(&raw))
            .transpose()
            .map_err(|e| ConfigError::new("secret", e))?;

        let audience = values
            .raw("tokens.audience")
            .unwrap_or_else(|| issuer_of(&base_url));
        let mail = MailConfig {
            smtp_url: values
                .raw("smtp_url")
                .map(|raw| parse_smtp_url(&raw).map_err(|e| ConfigError::new("smtp_url", e)))
                .transpose()?,
            from_name: values.single_line("mail.from_name")?,
            from_address: match values.raw("mail.from_address") {
                Some(raw) if email_address::EmailAddress::is_valid(raw.trim()) => {
                    raw.trim().to_owned()
                }
                Some(raw) => {
                    return Err(ConfigError::new(
                        "mail.from_address",
                        format!("`{raw}` is not an email address"),
                    ))
                }
                None => format!("no-reply@{}", base_url.host_str().unwrap_or("localhost")),
            },
            product_name: values.single_line("mail.product_name")?,
            templates_dir: values.raw("mail.templates_dir").map(PathBuf::from),
        };
        let require_verification = values.flag("email.require_verification")?;
        let email = EmailConfig {
            require_verification,
            send_on_sign_up: match values.raw("email.send_on_sign_up") {
                Some(_) => values.flag("email.send_on_sign_up")?,
                None => require_verification,
            },
            verification_ttl: values.duration("email.verification_ttl")?,
            reset_ttl: values.duration("email.reset_ttl")?,
        };
        let config = Self {
            listen,
            base_url,
            data_dir,
            database_url,
            database_max_connections: values.parse_in("database_max_connections", 1..=1000)?,
            secret,
            trusted_origins: values
                .list("trusted_origins")
                .iter()
                .map(|o| parse_origin(o).map_err(|e| ConfigError::new("trusted_origins", e)))
                .collect::<Result<_, _>>()?,
            trusted_proxies: values
                .list("trusted_proxies")
                .iter()
                .map(|cidr| parse_cidr(cidr).map_err(|e| ConfigError::new("trusted_proxies", e)))
                .collect::<Result<_, _>>()?,
            session: SessionConfig {
                expires_in: values.duration("session.expires_in")?,
                update_age: values.duration("session.update_age")?,
                absolute_lifetime: values.duration("session.absolute_lifetime")?,
                short_lifetime: values.duration("session.short_lifetime")?,
                sweep_interval: values.duration("session.sweep_interval")?,
                fresh_age: values.duration("session.fresh_age")?,
                cache_ttl: values.duration_or_zero("session.cache_ttl")?,
                cookie_prefix: values.cookie_prefix("session.cookie_prefix")?,
            },
            password: PasswordConfig {
                min_length: values.parse_in("password.min_length", 8..=64)?,
                max_length: values.parse_in("password.max_length", 64..=4096)?,
                min_strength: values.parse_in("password.min_strength", 0..=4)?,
                argon2_memory_kib: values
                    .parse_in("password.argon2_memory_kib", 19456..=4194304)?,
                argon2_iterations: values.parse_in("password.argon2_iterations", 2..=100)?,
                argon2_parallelism: values.parse_in("password.argon2_parallelism", 1..=64)?,
                hash_threads: values.parse_in("password.hash_threads", 0..=1024)?,
            },
            tokens: TokenConfig {
                algorithm: match values.text("tokens.algorithm").as_str() {
                    "EdDSA" => SigningAlgorithm::EdDsa,
                    "ES256" => SigningAlgorithm::Es256,
                    other => {
                        return Err(ConfigError::new(
                            "tokens.algorithm",
                            format!("`{other}` is neither EdDSA nor ES256"),
                        ))
                    }
                },
                access_ttl: values.duration("tokens.access_ttl")?,
                audience,
                refresh_grace: values.duration_or_zero("tokens.refresh_grace")?,
                key_rotation_interval: Some(
                    values.duration_or_zero("tokens.key_rotation_interval")?,
                )
                .filter(|d| !d.is_zero()),
                feed_token: values.raw("revocations.feed_token"),
            },
            mail,
            email,
            rate_limits: RateLimitConfig {
                enabled: values.flag("rate_limits.enabled")?,
                redis_url: values.raw("redis_url"),
                redis_prefix: values.single_line("rate_limits.redis_prefix")?,
                sign_in: values.limit("rate_limits.sign_in")?,
                sign_up: values.limit("rate_limits.sign_up")?,
                password_reset: values.limit("rate_limits.password_reset")?,
                verification_mail: values.limit("rate_limits.verification_mail")?,
                token_refresh: values.limit("rate_limits.token_refresh")?,
                two_factor: values.limit("rate_limits.two_factor")?,
                general: values.limit("rate_limits.general")?,
            },
            throttle: ThrottleConfig {
                free_failures: values.parse_in("throttle.free_failures", 1..=100)?,
                max_delay: values.duration_or_zero("throttle.max_delay")?,
                max_failures: values.parse_in("throttle.max_failures", 1..=100)?,
                window: values.duration("throttle.window")?,
            },
            two_factor: TwoFactorConfig {
                issuer: values.totp_issuer("two_factor.issuer")?,
                challenge_lifetime: values.duration("two_factor.challenge_lifetime")?,
                trust_device_lifetime: values.duration("two_factor.trust_device_lifetime")?,
            },
            log_format: match values.text("log.format").as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::new(
                        "log.format",
                        format!("`{other}` is neither text nor json"),
                    ))
                }
            },
        };
        config.check_consistency()?;
        Ok(config)
    }

    fn check_consistency(&self) -> Result<(), ConfigError> {
        let s = &self.session;
        if s.update_age > s.expires_in {
            return Err(ConfigError::new(
                "session.update_age",
                "must not exceed session.expires_in",
            ));
        }
        if s.expires_in > s.absolute_lifetime {
            return Err(ConfigError::new(
                "session.expires_in",
                "must not exceed session.absolute_lifetime",
            ));
        }
        if self.password.min_length > self.password.max_length {
            return Err(ConfigError::new(
                "password.min_length",
                "must not exceed password.max_length",
            ));
        }
        Ok(())
    }

    pub fn is_https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The base URL's origin (`scheme://host[:port]`), as browsers send it in `Origin`.
    pub fn base_origin(&self) -> String {
        self.base_url.origin().ascii_serialization()
    }

    /// The `iss` of access tokens: the base URL without a trailing slash.
    pub fn issuer(&self) -> String {
        issuer_of(&self.base_url)
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

struct Values<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Values<'_> {
    fn raw(&self, key: &str) -> Option<String> {
        (self.lookup)(key).filter(|v| !v.trim().is_empty())
    }

    fn text(&self, key: &str) -> String {
        self.raw(key).unwrap_or_else(|| default_of(key).to_owned())
    }

    fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(key);
        text.trim()
            .parse()
            .map_err(|e| ConfigError::new(key, format!("`{text}`: {e}")))
    }

    fn parse_in<T>(&self, key: &str, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
        T::Err: std::fmt::Display,
    {
        let value: T = self.parse(key)?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                key,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        let duration = self.duration_or_zero(key)?;
        if duration.is_zero() {
            return Err(ConfigError::new(key, "must be longer than zero"));
        }
        Ok(duration)
    }

    fn duration_or_zero(&self, key: &str) -> Result<Duration, ConfigError> {
        let text = self.text(key);
        humantime::parse_duration(text.trim())
            .map_err(|e| ConfigError::new(key, format!("`{text}`: {e} (write e.g. 30s, 15m, 7d)")))
    }

    fn limit(&self, key: &str) -> Result<Limit, ConfigError> {
        let text = self.text(key);
        let parsed = text.split_once('/').and_then(|(count, period)| {
            let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
            let period = humantime::parse_duration(period.trim())
                .ok()
                .filter(|p| !p.is_zero())?;
            Some(Limit { count, period })
        });
        parsed.ok_or_else(|| ConfigError::new(key, format!("`{text}` is not N/period, e.g. 10/1m")))
    }

    fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        match self.text(key).trim() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            other => Err(ConfigError::new(
                key,
                format!("`{other}` is neither true nor false"),
            )),
        }
    }

    /// Text that goes into mail headers: one line, no control characters.
    fn single_line(&self, key: &str) -> Result<String, ConfigError> {
        let text = self.text(key);
        if text.chars().any(char::is_control) {
            return Err(ConfigError::new(key, "must not contain control characters"));
        }
        Ok(text.trim().to_owned())
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.text(key)
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn totp_issuer(&self, key: &str) -> Result<String, ConfigError> {
        crate::two_factor::totp::checked_issuer(&self.text(key))
            .map_err(|reason| ConfigError::new(key, reason))
    }

    fn cookie_prefix(&self, key: &str) -> Result<String, ConfigError> {
        let prefix = self.text(key);
        let valid = !prefix.is_empty()
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(ConfigError::new(
                key,
                "use letters, digits, '-', '_' or '.' only",
            ));
        }
        Ok(prefix)
    }
}

fn default_of(key: &str) -> &'static str {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .and_then(|s| s.default)
        .unwrap_or("")
}

fn issuer_of(base_url: &Url) -> String {
    base_url.as_str().trim_end_matches('/').to_owned()
}

fn parse_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("`{raw}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{raw}` must be an http or https URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{raw}` must not have a query or fragment"));
    }
    Ok(url)
}

fn parse_smtp_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("`{raw}`: {e}"))?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
        return Err("must be smtp://[user:password@]host[:port] or smtps://...".to_owned());
    }
    Ok(url)
}

fn parse_origin(raw: &str) -> Result<String, String> {
    let url = parse_base_url(raw)?;
    Ok(url.origin().ascii_serialization())
}

fn parse_cidr(raw: &str) -> Result<IpNet, String> {
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{raw}` is not an IP address or CIDR"))
}

/// Flattens a TOML file into dotted keys; an unknown key is an error (a typo must not pass silently).
fn read_toml(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
    let mut values = BTreeMap::new();
    flatten("", &table, &mut values);
    for key in values.keys() {
        if !SETTINGS.iter().any(|s| s.key == key) {
            anyhow::bail!("config file {}: unknown setting `{key}`", path.display());
        }
    }
    Ok(values)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Array(items) => {
                let joined = items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                out.insert(key, joined);
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|key| map.get(key).cloned())
    }

    #[test]
    fn defaults_are_zero_config() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
        assert!(c.database_url.starts_with("sqlite://"));
        assert_eq!(c.session.expires_in, Duration::from_secs(7 * 86400));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = config(&[("session.expires_in", "soon")]).unwrap_err();
        assert_eq!(err.env, "PORTCULLIS_SESSION_EXPIRES_IN");
        let err = config(&[("password.min_length", "4")]).unwrap_err();
        assert_eq!(err.key, "password.min_length");
        let err = config(&[("trusted_proxies", "10.0.0.0/8, nonsense")]).unwrap_err();
        assert!(err.to_string().contains("nonsense"));
    }

    #[test]
    fn env_names_follow_keys() {
        assert_eq!(
            env_name("session.absolute_lifetime"),
            "PORTCULLIS_SESSION_ABSOLUTE_LIFETIME"
        );
        assert_eq!(env_name("listen"), "PORTCULLIS_LISTEN");
    }
}
