//! Social sign-in settings: the shared `[social]` switches (one `settings_group!`), and one table
//! per provider (`[social.<id>]`, environment `PORTCULLIS_SOCIAL_<ID>_<KEY>`). Provider ids are
//! chosen by the operator, so their keys cannot be listed in the registry one by one; they are
//! accepted only in this shape and only with the keys in [`PROVIDER_KEYS`], so a typo anywhere
//! (`social.google.client_secrt`, `PORTCULLIS_SOCIAL_ALOW_INSECURE_LOOPBACK`) still stops start-up.

use std::collections::BTreeSet;
use std::time::Duration;

use url::Url;

use crate::settings::parse::{duration, flag, list};
use crate::settings::{SecretString, SettingError, Values};
use crate::settings_group;

settings_group! {
    /// `[social]`
    pub struct SocialSettings {
        /// Lets providers be reached over plain http when they are on a loopback address (tests,
        /// local development); logged as a warning at start-up. Otherwise providers are https only.
        allow_insecure_loopback: bool = Plain("social.allow_insecure_loopback", Value("false"), flag),
        /// Providers whose verified email address links a new provider account to the existing
        /// user with that address. Other providers' sign-ins with a taken address end in
        /// `?error=account_not_linked` (the user signs in and links the provider).
        trusted_providers: Vec<String> = Plain("social.account_linking.trusted_providers", Value("google,apple"), list),
        /// Keeps the providers' access and refresh tokens (encrypted with the master secret) so
        /// `get-access-token` can hand the access token to the app's backend.
        store_provider_tokens: bool = Plain("social.store_provider_tokens", Value("false"), flag),
        /// Connect and total timeout of each request to a provider.
        http_timeout: Duration = Plain("social.http_timeout", Value("10s"), duration),
        /// Social sign-ins skip the second factor (better-auth's behaviour). Off: users with
        /// two-factor pass it after a social sign-in too.
        skip_two_factor: bool = Plain("two_factor.skip_for_social", Value("false"), flag),
    }
}

/// The keys a provider table may hold (dotted, below `social.<id>.`).
pub const PROVIDER_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_secret_file",
    "issuer",
    "scopes",
    "audiences",
    "authorization_url",
    "token_url",
    "userinfo_url",
    "mapping.id",
    "mapping.email",
    "mapping.email_verified",
    "mapping.name",
    "mapping.image",
    "api_url",
    "web_url",
    "team_id",
    "key_id",
    "private_key_file",
    "response_mode",
    "disable_sign_up",
];

/// First segments below `social.` that belong to the shared settings, never to a provider.
const RESERVED_IDS: &[&str] = &[
    "allow_insecure_loopback",
    "account_linking",
    "store_provider_tokens",
    "http_timeout",
];

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !RESERVED_IDS.contains(&id)
}

/// `social.<id>.<key>` with a known key: a provider setting.
pub fn is_provider_key(key: &str) -> bool {
    split_provider_key(key).is_some()
}

fn split_provider_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("social.")?;
    let (id, setting) = rest.split_once('.')?;
    (valid_id(id) && PROVIDER_KEYS.contains(&setting)).then_some((id, setting))
}

/// The dotted key of a `PORTCULLIS_SOCIAL_<ID>_<KEY>` variable, if it names a provider setting.
pub fn provider_key_from_env(name: &str) -> Option<String> {
    let rest = name.strip_prefix("PORTCULLIS_SOCIAL_")?;
    PROVIDER_KEYS
        .iter()
        .filter_map(|key| {
            let suffix = format!("_{}", key.replace('.', "_").to_uppercase());
            let id = rest.strip_suffix(&suffix)?.to_lowercase();
            (valid_id(&id) && !id.is_empty()).then(|| (key.len(), format!("social.{id}.{key}")))
        })
        // `..._CLIENT_SECRET_FILE` is `client_secret_file`, not `client_secret` of `<id>_..`.
        .max_by_key(|(len, _)| *len)
        .map(|(_, key)| key)
}

/// How a provider speaks.
#[derive(Debug, Clone)]
pub enum Kind {
    /// OpenID Connect, endpoints by discovery from `issuer` (Google, Apple and any `issuer`).
    Oidc { issuer: Url },
    /// GitHub: plain OAuth 2; the verified primary address from `/user/emails`.
    Github { web_url: Url, api_url: Url },
    /// Plain OAuth 2 with configured endpoints and a JSON-pointer mapping of the profile.
    OAuth2 {
        authorization_url: Url,
        token_url: Url,
        userinfo_url: Url,
        mapping: Box<Mapping>,
    },
}

/// JSON pointers (RFC 6901) into a plain OAuth 2 provider's profile.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub id: String,
    pub email: String,
    pub email_verified: Option<String>,
    pub name: Option<String>,
    pub image: Option<String>,
}

/// Apple's client secret: an ES256 JWT made from these.
#[derive(Clone)]
pub struct AppleKey {
    pub team_id: String,
    pub key_id: String,
    /// The `.p8` file's PEM text (PKCS#8).
    pub private_key_pem: SecretString,
}

impl std::fmt::Debug for AppleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppleKey")
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// One `[social.<id>]` table.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub id: String,
    pub kind: Kind,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub apple_key: Option<AppleKey>,
    pub scopes: Vec<String>,
    /// ID tokens may name the client id or one of these as `aud` (iOS / Android client ids).
    pub audiences: Vec<String>,
    /// `form_post` (Apple's default when a name or email scope is asked) or `query`.
    pub form_post: bool,
    /// New users cannot sign up through this provider unless the request asks (`requestSignUp`).
    pub disable_sign_up: bool,
}

/// Every provider table in `values`, checked.
pub fn load_providers(
    values: &Values,
    allow_insecure_loopback: bool,
) -> Result<Vec<ProviderSettings>, SettingError> {
    let ids: BTreeSet<String> = values
        .keys()
        .filter_map(split_provider_key)
        .map(|(id, _)| id.to_owned())
        .collect();
    ids.iter()
        .map(|id| load_provider(values, id, allow_insecure_loopback))
        .collect()
}

fn load_provider(
    values: &Values,
    id: &str,
    loopback: bool,
) -> Result<ProviderSettings, SettingError> {
    let key = |name: &str| format!("social.{id}.{name}");
    let raw = |name: &str| values.raw(&key(name)).map(str::trim);
    let url = |name: &str| -> Result<Option<Url>, SettingError> {
        raw(name)
            .map(|text| provider_url(text, loopback).map_err(|e| SettingError::new(&key(name), e)))
            .transpose()
    };
    let required = |name: &str, why: &str| -> Result<String, SettingError> {
        raw(name)
            .map(str::to_owned)
            .ok_or_else(|| SettingError::new(&key(name), format!("must be set ({why})")))
    };
    let client_id = required("client_id", "every provider has a client id")?;
    let client_secret = match (raw("client_secret"), raw("client_secret_file")) {
        (Some(secret), None) => Some(SecretString::from(secret.to_owned())),
        (None, Some(path)) => Some(SecretString::from(read_file(
            &key("client_secret_file"),
            path,
        )?)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(SettingError::new(
                &key("client_secret"),
                "set client_secret or client_secret_file, not both",
            ))
        }
    };
    let apple_key = match (raw("team_id"), raw("key_id"), raw("private_key_file")) {
        (None, None, None) => None,
        (Some(team_id), Some(key_id), Some(path)) => Some(AppleKey {
            team_id: team_id.to_owned(),
            key_id: key_id.to_owned(),
            private_key_pem: SecretString::from(read_file(&key("private_key_file"), path)?),
        }),
        _ => {
            return Err(SettingError::new(
                &key("private_key_file"),
                "team_id, key_id and private_key_file go together (Apple's client secret)",
            ))
        }
    };
    if id == "apple" && apple_key.is_none() && client_secret.is_none() {
        return Err(SettingError::new(
            &key("private_key_file"),
            "Apple needs team_id, key_id and private_key_file (or a client_secret)",
        ));
    }
    if id != "apple" && apple_key.is_none() && client_secret.is_none() {
        return Err(SettingError::new(
            &key("client_secret"),
            "must be set (or client_secret_file)",
        ));
    }
    let kind = if id == "github" {
        Kind::Github {
            web_url: url("web_url")?.unwrap_or_else(|| fixed("https://github.com")),
            api_url: url("api_url")?.unwrap_or_else(|| fixed("https://api.github.com")),
        }
    } else if let Some(issuer) = url("issuer")? {
        Kind::Oidc { issuer }
    } else if id == "google" {
        Kind::Oidc {
            issuer: fixed("https://accounts.google.com"),
        }
    } else if id == "apple" {
        Kind::Oidc {
            issuer: fixed("https://appleid.apple.com"),
        }
    } else if raw("authorization_url").is_some() || raw("token_url").is_some() {
        let pointer = |name: &str| -> Result<Option<String>, SettingError> {
            raw(name)
                .map(|p| {
                    if p.is_empty() || p.starts_with('/') {
                        Ok(p.to_owned())
                    } else {
                        Err(SettingError::new(
                            &key(name),
                            "a JSON pointer starts with `/`",
                        ))
                    }
                })
                .transpose()
        };
        Kind::OAuth2 {
            authorization_url: url("authorization_url")?.ok_or_else(|| {
                SettingError::new(&key("authorization_url"), "must be set for plain OAuth 2")
            })?,
            token_url: url("token_url")?.ok_or_else(|| {
                SettingError::new(&key("token_url"), "must be set for plain OAuth 2")
            })?,
            userinfo_url: url("userinfo_url")?.ok_or_else(|| {
                SettingError::new(&key("userinfo_url"), "must be set for plain OAuth 2")
            })?,
            mapping: Box::new(Mapping {
                id: pointer("mapping.id")?.unwrap_or_else(|| "/id".to_owned()),
                email: pointer("mapping.email")?.unwrap_or_else(|| "/email".to_owned()),
                email_verified: pointer("mapping.email_verified")?,
                name: pointer("mapping.name")?.or_else(|| Some("/name".to_owned())),
                image: pointer("mapping.image")?,
            }),
        }
    } else {
        return Err(SettingError::new(
            &key("issuer"),
            "must be set: `issuer` (OpenID Connect by discovery) or authorization_url, token_url \
             and userinfo_url (plain OAuth 2)",
        ));
    };
    let default_scopes: &[&str] = match (&kind, id) {
        (Kind::Github { .. }, _) => &["read:user", "user:email"],
        (Kind::Oidc { .. }, "apple") => &["openid", "email", "name"],
        (Kind::Oidc { .. }, _) => &["openid", "email", "profile"],
        (Kind::OAuth2 { .. }, _) => &[],
    };
    let scopes = match raw("scopes") {
        Some(text) => list(text).map_err(|e| SettingError::new(&key("scopes"), e))?,
        None => default_scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    let form_post = match raw("response_mode") {
        None => id == "apple",
        Some("form_post") => true,
        Some("query") => false,
        Some(other) => {
            return Err(SettingError::new(
                &key("response_mode"),
                format!("`{other}` is neither query nor form_post"),
            ))
        }
    };
    let audiences = list(raw("audiences").unwrap_or(""))
        .map_err(|e| SettingError::new(&key("audiences"), e))?;
    let disable_sign_up = flag(raw("disable_sign_up").unwrap_or("false"))
        .map_err(|e| SettingError::new(&key("disable_sign_up"), e))?;
    Ok(ProviderSettings {
        id: id.to_owned(),
        kind,
        client_id,
        client_secret,
        apple_key,
        scopes,
        audiences,
        form_post,
        disable_sign_up,
    })
}

fn fixed(url: &str) -> Url {
    Url::parse(url).expect("a fixed provider URL")
}

fn read_file(key: &str, path: &str) -> Result<String, SettingError> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|e| SettingError::new(key, format!("cannot read {path}: {e}")))
}

/// A provider URL: https, or http to a loopback address when that is allowed.
pub fn provider_url(text: &str, allow_insecure_loopback: bool) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}`: {e}"))?;
    check_provider_url(&url, allow_insecure_loopback)?;
    Ok(url)
}

pub fn check_provider_url(url: &Url, allow_insecure_loopback: bool) -> Result<(), String> {
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if allow_insecure_loopback && is_loopback(url) => Ok(()),
        "http" if is_loopback(url) => Err(format!(
            "`{url}` is plain http: providers are reached over https only \
             (social.allow_insecure_loopback = true allows loopback addresses)"
        )),
        _ => Err(format!("`{url}` must be an https URL")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Source;

    #[test]
    fn provider_keys_have_a_fixed_shape() {
        assert!(is_provider_key("social.google.client_id"));
        assert!(is_provider_key("social.forge.mapping.email_verified"));
        assert!(!is_provider_key("social.google.client_secrt"));
        assert!(!is_provider_key("social.account_linking.client_id"));
        assert!(!is_provider_key("social.Google.client_id"));
        assert!(!is_provider_key("socal.google.client_id"));
    }

    #[test]
    fn environment_names_find_their_provider_key() {
        assert_eq!(
            provider_key_from_env("PORTCULLIS_SOCIAL_GOOGLE_CLIENT_SECRET_FILE").as_deref(),
            Some("social.google.client_secret_file")
        );
        assert_eq!(
            provider_key_from_env("PORTCULLIS_SOCIAL_MY_IDP_CLIENT_ID").as_deref(),
            Some("social.my_idp.client_id")
        );
        assert_eq!(
            provider_key_from_env("PORTCULLIS_SOCIAL_FORGE_MAPPING_EMAIL_VERIFIED").as_deref(),
            Some("social.forge.mapping.email_verified")
        );
        assert_eq!(
            provider_key_from_env("PORTCULLIS_SOCIAL_GOOGLE_CLIENT_SECRT"),
            None
        );
        assert_eq!(provider_key_from_env("PORTCULLIS_SOCIAL_CLIENT_ID"), None);
    }

    #[test]
    fn providers_load_with_presets_and_checks() {
        let mut values = Values::default();
        for (k, v) in [
            ("social.google.client_id", "g"),
            ("social.google.client_secret", "gs"),
            ("social.forge.client_id", "f"),
            ("social.forge.client_secret", "fs"),
            (
                "social.forge.authorization_url",
                "https://forge.example/authorize",
            ),
            ("social.forge.token_url", "https://forge.example/token"),
            ("social.forge.userinfo_url", "https://forge.example/user"),
        ] {
            values.insert(k, v, Source::Given);
        }
        let providers = load_providers(&values, false).unwrap();
        assert_eq!(providers.len(), 2);
        let forge = &providers[0];
        assert!(matches!(forge.kind, Kind::OAuth2 { .. }));
        let google = &providers[1];
        assert!(
            matches!(&google.kind, Kind::Oidc { issuer } if issuer.as_str() == "https://accounts.google.com/")
        );
        values.insert("social.acme.client_id", "a", Source::Given);
        values.insert("social.acme.client_secret", "s", Source::Given);
        let err = load_providers(&values, false).unwrap_err();
        assert_eq!(err.key, "social.acme.issuer");
        values.insert("social.acme.issuer", "http://127.0.0.1:9/", Source::Given);
        let err = load_providers(&values, false).unwrap_err();
        assert!(err.reason.contains("allow_insecure_loopback"), "{err}");
        assert!(load_providers(&values, true).is_ok());
        values.insert("social.acme.issuer", "http://idp.example/", Source::Given);
        assert!(load_providers(&values, true).is_err());
    }

    #[test]
    fn apple_needs_its_key_and_posts_its_form() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("AuthKey_TEST.p8");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let mut values = Values::default();
        values.insert("social.apple.client_id", "com.example.web", Source::Given);
        values.insert("social.apple.team_id", "TEAM", Source::Given);
        let err = load_providers(&values, false).unwrap_err();
        assert_eq!(err.key, "social.apple.private_key_file");
        values.insert("social.apple.key_id", "KEY", Source::Given);
        values.insert(
            "social.apple.private_key_file",
            key.display().to_string(),
            Source::Given,
        );
        let apple = load_providers(&values, false).unwrap().remove(0);
        assert!(apple.form_post && apple.client_secret.is_none());
        assert!(apple.scopes.contains(&"name".to_owned()));
        assert!(
            matches!(&apple.kind, Kind::Oidc { issuer } if issuer.as_str() == "https://appleid.apple.com/")
        );
        assert!(format!("{apple:?}").contains("TEAM"));
        assert!(
            !format!("{apple:?}").contains("PRIVATE KEY"),
            "the key never prints"
        );
    }
}
