//! The configuration: the shared plumbing settings (listen address, base URL, data directory,
//! database, master secret, log format) and every feature's settings group, collected in one
//! registry that loading, `portcullis settings` and the README table read.
//!
//! Sources: a TOML file (`--config`) and `PORTCULLIS_*` environment variables, the environment
//! winning; an embedding program (the test suite) gives its own pairs instead. An unknown key or
//! variable stops start-up naming the closest known setting: a typo must never leave a security
//! setting at its default silently. A value that does not parse stops start-up naming the setting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use crate::access_tokens::settings::AccessTokenSettings;
use crate::admin::settings::AdminSettings;
use crate::crypto::settings::HashingSettings;
use crate::http::settings::{CorsSettings, ServerSettings};
use crate::i18n::settings::I18nSettings;
use crate::mail::settings::MailSettings;
use crate::metrics::settings::MetricsSettings;
use crate::organizations::settings::OrganizationSettings;
use crate::pages::settings::UiSettings;
use crate::rate_limit::settings::RateLimitSettings;
use crate::revocations::settings::RevocationSettings;
use crate::sessions::settings::SessionSettings;
use crate::settings::parse::{cidrs, duration, from_str, http_url, number_in, optional, origins};
use crate::settings::{
    closest, env_name, mask_password, ExposeSecret, Fallback, Group, SecretSlice, SecretString,
    Sensitivity, Setting, SettingError, Source, Values,
};
use crate::settings_group;
use crate::sign_in::settings::ThrottleSettings;
use crate::social::settings::{self as social, ProviderSettings, SocialSettings};
use crate::tokens::settings::RefreshSettings;
use crate::two_factor::settings::TwoFactorSettings;
use crate::users::settings::PasswordPolicy;
use crate::verification::settings::EmailSettings;

/// Environment variables with this prefix belong to the test suite, not to the server.
const TEST_SUITE_PREFIX: &str = "PORTCULLIS_TEST_";
/// The command line's `--config` flag; not a setting.
const CONFIG_FILE_VARIABLE: &str = "PORTCULLIS_CONFIG";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

settings_group! {
    /// The shared plumbing.
    pub struct CoreSettings {
        /// Address and port to listen on.
        listen: SocketAddr = Plain("listen", Value("127.0.0.1:8080"), from_str),
        /// Public URL of the server. Cookies become `Secure` and `__Host-` prefixed when it is
        /// https; origin checks and mail links use it, never the request's `Host`.
        base_url: Option<Url> = Plain("base_url", Unset("`http://<listen>`"), optional(http_url)),
        /// SQLite database and generated secrets.
        data_dir: PathBuf = Plain("data_dir", Value("./portcullis-data"), path),
        /// `sqlite://path` or `postgres://user:password@host/db`.
        database_url: Option<SecretString> = Credentials("database_url", Unset("SQLite in the data directory"), optional(database_url)),
        /// Connection pool size.
        database_max_connections: u32 = Plain("database_max_connections", Value("16"), number_in(1..=1000)),
        /// How long a request waits for the database (a connection, or an answer) before it is
        /// answered `503 SERVICE_UNAVAILABLE` with `Retry-After`, instead of hanging.
        database_timeout: Duration = Plain("database_timeout", Value("5s"), duration),
        /// Master secret, base64, at least 32 bytes. Several instances on one PostgreSQL must
        /// share it.
        secret: Option<SecretSlice<u8>> = Secret("secret", Unset("generated into `master.key`"), optional(master_secret)),
        /// Extra origins (besides the base URL's) allowed to make cookie-authenticated requests,
        /// call the API cross-origin (CORS) and be redirect targets.
        trusted_origins: Vec<String> = Plain("trusted_origins", Value(""), origins),
        /// CIDRs of reverse proxies whose `X-Forwarded-For` is believed; from anyone else it is
        /// ignored.
        trusted_proxies: Vec<IpNet> = Plain("trusted_proxies", Value(""), cidrs),
        /// `text` or `json`. `RUST_LOG` sets the level (default `info`).
        log_format: LogFormat = Plain("log.format", Value("text"), log_format),
    }
}

/// Every setting the server knows, in the order `portcullis settings` and the README list them.
pub fn registry() -> Vec<Setting> {
    [
        CoreSettings::settings(),
        ServerSettings::settings(),
        CorsSettings::settings(),
        SessionSettings::settings(),
        PasswordPolicy::settings(),
        HashingSettings::settings(),
        MailSettings::settings(),
        EmailSettings::settings(),
        RateLimitSettings::settings(),
        ThrottleSettings::settings(),
        AccessTokenSettings::settings(),
        RefreshSettings::settings(),
        RevocationSettings::settings(),
        TwoFactorSettings::settings(),
        SocialSettings::settings(),
        OrganizationSettings::settings(),
        UiSettings::settings(),
        I18nSettings::settings(),
        AdminSettings::settings(),
        MetricsSettings::settings(),
    ]
    .concat()
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub base_url: Url,
    pub data_dir: PathBuf,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub database_timeout: Duration,
    pub secret: Option<SecretSlice<u8>>,
    pub trusted_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    pub server: ServerSettings,
    pub cors: CorsSettings,
    pub session: SessionSettings,
    pub password: PasswordPolicy,
    pub password_hashing: HashingSettings,
    pub mail: MailSettings,
    pub email: EmailSettings,
    pub rate_limits: RateLimitSettings,
    pub throttle: ThrottleSettings,
    pub access_tokens: AccessTokenSettings,
    pub tokens: RefreshSettings,
    pub revocations: RevocationSettings,
    pub two_factor: TwoFactorSettings,
    pub social: SocialSettings,
    /// The `[social.<id>]` tables (keys outside the registry, see `social::settings`).
    pub social_providers: Vec<ProviderSettings>,
    pub organization: OrganizationSettings,
    pub ui: UiSettings,
    pub i18n: I18nSettings,
    pub admin: AdminSettings,
    pub metrics: MetricsSettings,
}

impl Config {
    /// Reads the TOML file (if any), then the process environment over it.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Ok(Self::from_values(gather(file)?)?)
    }

    /// A configuration from `(key, value)` pairs (dotted keys, as in the TOML file), for programs
    /// that embed the server. Unknown keys are refused like a typo in the file.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> anyhow::Result<Self> {
        let known = registry();
        let mut values = Values::default();
        for (key, value) in pairs {
            let key = key.as_ref();
            check_known_key(key, &known, "given setting")?;
            values.insert(key, value.as_ref(), Source::Given);
        }
        Ok(Self::from_values(values)?)
    }

    /// Parses every setting, deriving the defaults that depend on other settings first.
    pub fn from_values(mut values: Values) -> Result<Self, SettingError> {
        derive_defaults(&mut values)?;
        let core = CoreSettings::load(&values)?;
        let config = Self {
            listen: core.listen,
            base_url: core.base_url.expect("derived from listen"),
            data_dir: core.data_dir,
            database_url: core.database_url.expect("derived from data_dir"),
            database_max_connections: core.database_max_connections,
            database_timeout: core.database_timeout,
            secret: core.secret,
            trusted_origins: core.trusted_origins,
            trusted_proxies: core.trusted_proxies,
            log_format: core.log_format,
            server: ServerSettings::load(&values)?,
            cors: CorsSettings::load(&values)?,
            session: SessionSettings::load(&values)?,
            password: PasswordPolicy::load(&values)?,
            password_hashing: HashingSettings::load(&values)?,
            mail: MailSettings::load(&values)?,
            email: EmailSettings::load(&values)?,
            rate_limits: RateLimitSettings::load(&values)?,
            throttle: ThrottleSettings::load(&values)?,
            access_tokens: AccessTokenSettings::load(&values)?,
            tokens: RefreshSettings::load(&values)?,
            revocations: RevocationSettings::load(&values)?,
            two_factor: TwoFactorSettings::load(&values)?,
            social: SocialSettings::load(&values)?,
            organization: OrganizationSettings::load(&values)?,
            ui: UiSettings::load(&values)?,
            i18n: I18nSettings::load(&values)?,
            admin: AdminSettings::load(&values)?,
            metrics: MetricsSettings::load(&values)?,
            social_providers: Vec::new(),
        };
        let config = Config {
            social_providers: social::load_providers(
                &values,
                config.social.allow_insecure_loopback,
            )?,
            ..config
        };
        config.session.check(&config.base_url)?;
        config.password.check()?;
        config.admin.check()?;
        Ok(config)
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

    /// The path of a hosted page (`/sign-in`, ...) under `ui.path_prefix`, if the pages are on.
    /// Mail links lead there when the application gave no URL of its own.
    pub fn page_path(&self, page: &str) -> Option<String> {
        self.ui.enabled.then(|| self.ui.path(page))
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }
}

/// Defaults computed from other settings (recorded as `derived`, so `portcullis settings` shows
/// the value in effect and where it came from).
pub fn derive_defaults(values: &mut Values) -> Result<(), SettingError> {
    let listen: SocketAddr = values.get("listen", Fallback::Value("127.0.0.1:8080"), from_str)?;
    values.derive("base_url", format!("http://{listen}"));
    let data_dir = values
        .raw("data_dir")
        .unwrap_or("./portcullis-data")
        .to_owned();
    let database = Path::new(&data_dir).join("portcullis.db");
    values.derive("database_url", format!("sqlite://{}", database.display()));
    let base_url: Url = values.get("base_url", Fallback::Unset(""), http_url)?;
    values.derive("tokens.audience", issuer_of(&base_url));
    let host = base_url.host_str().unwrap_or("localhost").to_owned();
    values.derive("mail.from_address", format!("no-reply@{host}"));
    let verification = values
        .raw("email.require_verification")
        .unwrap_or("false")
        .to_owned();
    values.derive("email.send_on_sign_up", verification);
    Ok(())
}

/// Reads the file's and the environment's values, refusing names that are no setting.
pub fn gather(file: Option<&Path>) -> anyhow::Result<Values> {
    let known = registry();
    let mut values = Values::default();
    if let Some(path) = file {
        for (key, value) in read_toml(path)? {
            check_known_key(&key, &known, &format!("config file {}:", path.display()))?;
            values.insert(&key, value, Source::File);
        }
    }
    let environment: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("PORTCULLIS_"))
        .filter(|(name, _)| !name.starts_with(TEST_SUITE_PREFIX) && name != CONFIG_FILE_VARIABLE)
        .collect();
    for (name, value) in environment {
        if let Some(key) = social::provider_key_from_env(&name) {
            values.insert(&key, value, Source::Environment);
            continue;
        }
        let Some(setting) = known.iter().find(|s| s.env_name() == name) else {
            let names: Vec<String> = known.iter().map(Setting::env_name).collect();
            let hint = closest(&name, names.iter().map(String::as_str))
                .map(|c| format!("; did you mean {c}?"))
                .unwrap_or_default();
            anyhow::bail!(
                "unknown environment variable {name}: no setting has this name{hint} \
                 (`portcullis settings` lists them all)"
            );
        };
        values.insert(setting.key, value, Source::Environment);
    }
    Ok(values)
}

fn check_known_key(key: &str, known: &[Setting], context: &str) -> anyhow::Result<()> {
    // `social.<id>.<key>`: a provider table, whose keys `social::settings` checks.
    if known.iter().any(|s| s.key == key) || social::is_provider_key(key) {
        return Ok(());
    }
    let hint = closest(key, known.iter().map(|s| s.key))
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
    anyhow::bail!("{context} unknown setting `{key}`{hint} (`portcullis settings` lists them all)")
}

/// Flattens a TOML file into dotted keys.
fn read_toml(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
    let mut values = BTreeMap::new();
    flatten("", &table, &mut values);
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

/// One line per setting for `portcullis settings`: the value in effect and where it came from.
/// Secrets show only whether they are set; URLs that may carry a password show it masked.
pub fn describe_effective(values: &Values) -> Vec<EffectiveSetting> {
    registry()
        .into_iter()
        .map(|setting| {
            let source = values.source(setting.key);
            let value = match (values.raw(setting.key), setting.sensitivity) {
                (Some(_), Sensitivity::Secret) => "(set, hidden)".to_owned(),
                (Some(raw), Sensitivity::Credentials) => mask_password(raw),
                (Some(raw), Sensitivity::Plain) => raw.to_owned(),
                (None, _) => match setting.fallback {
                    Fallback::Value("") => "(none)".to_owned(),
                    Fallback::Value(default) => default.to_owned(),
                    Fallback::Unset(meaning) => format!("(unset: {})", meaning.replace('`', "")),
                },
            };
            EffectiveSetting {
                setting,
                value,
                source,
            }
        })
        .collect()
}

pub struct EffectiveSetting {
    pub setting: Setting,
    pub value: String,
    pub source: Source,
}

/// The README's settings table, generated from the registry (a test keeps the README in step).
pub fn markdown_table() -> String {
    let mut table = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for setting in registry() {
        let default = match setting.fallback {
            Fallback::Value("") => "none".to_owned(),
            Fallback::Value(value) => format!("`{value}`"),
            Fallback::Unset(meaning) => meaning.to_owned(),
        };
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            env_name(setting.key),
            default,
            setting.help()
        ));
    }
    table
}

fn issuer_of(base_url: &Url) -> String {
    base_url.as_str().trim_end_matches('/').to_owned()
}

fn path(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw.trim()))
}

fn database_url(raw: &str) -> Result<SecretString, String> {
    let raw = raw.trim();
    if !(raw.starts_with("sqlite:")
        || raw.starts_with("postgres://")
        || raw.starts_with("postgresql://"))
    {
        return Err("must start with sqlite:, postgres:// or postgresql://".to_owned());
    }
    Ok(SecretString::from(raw.to_owned()))
}

fn master_secret(raw: &str) -> Result<SecretSlice<u8>, String> {
    crate::crypto::master_key::decode_secret(raw).map(SecretSlice::from)
}

fn log_format(raw: &str) -> Result<LogFormat, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("`{other}` is neither text nor json")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        Config::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn defaults_are_zero_config() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
        assert!(c.is_sqlite());
        assert_eq!(c.session.expires_in, Duration::from_secs(7 * 86400));
        assert_eq!(c.access_tokens.audience, "http://127.0.0.1:8080");
        assert_eq!(c.mail.from_address, "no-reply@127.0.0.1");
        assert!(!c.email.send_on_sign_up);
    }

    #[test]
    fn derived_defaults_follow_what_they_derive_from() {
        let c = config(&[
            ("base_url", "https://auth.example.com"),
            ("email.require_verification", "YES"),
        ])
        .unwrap();
        assert_eq!(c.access_tokens.audience, "https://auth.example.com");
        assert_eq!(c.mail.from_address, "no-reply@auth.example.com");
        assert!(c.email.require_verification && c.email.send_on_sign_up);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Config::from_values(values(&[("session.expires_in", "soon")])).unwrap_err();
        assert_eq!(err.env, "PORTCULLIS_SESSION_EXPIRES_IN");
        let err = Config::from_values(values(&[("password.min_length", "4")])).unwrap_err();
        assert_eq!(err.key, "password.min_length");
        let err = Config::from_values(values(&[("trusted_proxies", "10.0.0.0/8, nonsense")]))
            .unwrap_err();
        assert!(err.to_string().contains("nonsense"));
    }

    #[test]
    fn unknown_keys_are_refused_with_the_closest_known_one() {
        let err = config(&[("email.require_verificaton", "true")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("did you mean `email.require_verification`"),
            "{err}"
        );
    }

    #[test]
    fn secrets_never_print() {
        let c = config(&[
            (
                "secret",
                "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM=",
            ),
            ("revocations.feed_token", "feed-token-value"),
            ("smtp_url", "smtp://user:smtp-password@mail.example.com:587"),
            ("database_url", "postgres://app:db-password@db/auth"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        for secret in [
            "c2VjcmV0",
            "feed-token-value",
            "smtp-password",
            "db-password",
        ] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
        }
    }

    #[test]
    fn the_readme_table_is_the_registry() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
                .unwrap();
        let start = readme
            .find("<!-- settings table: generated")
            .expect("README marks the settings table");
        let body = &readme[start..];
        let table_start = body.find("| variable").expect("table after the marker");
        let end = body
            .find("<!-- end of settings table -->")
            .expect("end marker");
        let in_readme = &body[table_start..end];
        let generated = markdown_table();
        assert!(
            in_readme.trim() == generated.trim(),
            "README.md's settings table differs from the registry; replace it with the output of \
             `portcullis settings --markdown`:\n{generated}"
        );
    }

    fn values(pairs: &[(&str, &str)]) -> Values {
        let mut values = Values::default();
        for (key, value) in pairs {
            values.insert(key, *value, Source::Given);
        }
        values
    }
}
