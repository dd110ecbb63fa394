//! Credential cookies, always HttpOnly.
//! - The session cookie: SameSite=Lax (or `session.cookie_same_site`), Path=/; over https also
//!   Secure with the `__Host-` prefix, which makes browsers refuse it unless it is Secure,
//!   host-only and Path=/ (ASVS 3.3.1). With `session.cookie_domain` it is shared with the
//!   subdomains: `Domain=` rules `__Host-` out, so it is `__Secure-` over https.
//! - The refresh-token cookie (token mode, when a browser client asks for it): SameSite=Strict and
//!   sent only to the token endpoint; over https Secure with the `__Secure-` prefix (`__Host-`
//!   would require Path=/).
//! - The two-factor challenge cookie (between the password and the code): SameSite=Lax (or
//!   `session.cookie_same_site`, as the client that signs in sends it), sent only to the
//!   two-factor endpoints; `__Secure-` over https.
//! - The trusted-device cookie (skips the second factor): SameSite as the challenge's, sent to
//!   the auth API only; `__Secure-` over https.
//! - The social sign-in state cookie (between the redirect to a provider and its callback):
//!   SameSite=Lax, sent only to the callback; `__Secure-` over https.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

use crate::config::Config;

/// The `SameSite` attribute of the cookies an app's client carries (`session.cookie_same_site`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    /// Sent on cross-site requests too; browsers take it only with `Secure`, so only over https.
    None,
}

impl SameSite {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "lax" => Ok(Self::Lax),
            "strict" => Ok(Self::Strict),
            "none" => Ok(Self::None),
            _ => Err(format!("`{raw}` is not one of lax, strict or none")),
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            Self::Lax => "SameSite=Lax",
            Self::Strict => "SameSite=Strict",
            Self::None => "SameSite=None",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CredentialCookie {
    name: String,
    attributes: String,
    secure: bool,
}

impl CredentialCookie {
    pub fn session(config: &Config) -> Self {
        let secure = config.is_https();
        let base = format!("{}.session_token", config.session.cookie_prefix);
        let same_site = config.session.cookie_same_site.attribute();
        let (name, attributes) = match &config.session.cookie_domain {
            None if secure => (
                format!("__Host-{base}"),
                format!("Path=/; HttpOnly; {same_site}"),
            ),
            None => (base, format!("Path=/; HttpOnly; {same_site}")),
            Some(domain) => (
                if secure {
                    format!("__Secure-{base}")
                } else {
                    base
                },
                format!("Path=/; Domain={domain}; HttpOnly; {same_site}"),
            ),
        };
        Self {
            name,
            attributes,
            secure,
        }
    }

    pub fn refresh(config: &Config) -> Self {
        Self::secure_prefixed(
            config,
            "refresh_token",
            "Path=/api/auth/token; HttpOnly; SameSite=Strict",
        )
    }

    pub fn two_factor_challenge(config: &Config) -> Self {
        let same_site = config.session.cookie_same_site.attribute();
        Self::secure_prefixed(
            config,
            "two_factor",
            &format!("Path=/api/auth/two-factor; HttpOnly; {same_site}"),
        )
    }

    pub fn trusted_device(config: &Config) -> Self {
        let same_site = config.session.cookie_same_site.attribute();
        Self::secure_prefixed(
            config,
            "trusted_device",
            &format!("Path=/api/auth; HttpOnly; {same_site}"),
        )
    }

    /// Binds a social sign-in's state to the browser that started it: sent only to the
    /// callback, SameSite=Lax (the provider's redirect back is a top-level navigation).
    pub fn social_state(config: &Config) -> Self {
        Self::secure_prefixed(
            config,
            "social_state",
            "Path=/api/auth/callback; HttpOnly; SameSite=Lax",
        )
    }

    /// A cookie of the hosted pages (`suffix` names it): SameSite=Lax, Path=/ (pages live under
    /// a configurable prefix); `__Secure-` over https.
    pub fn page(config: &Config, suffix: &str) -> Self {
        Self::secure_prefixed(config, suffix, "Path=/; HttpOnly; SameSite=Lax")
    }

    /// Holds an administrator's own session token while they impersonate someone, for
    /// `stop-impersonating`; sent to the admin endpoints only.
    pub fn admin_session(config: &Config) -> Self {
        Self::secure_prefixed(
            config,
            "admin_session",
            "Path=/api/auth/admin; HttpOnly; SameSite=Strict",
        )
    }

    fn secure_prefixed(config: &Config, suffix: &str, attributes: &str) -> Self {
        let secure = config.is_https();
        let base = format!("{}.{suffix}", config.session.cookie_prefix);
        Self {
            name: if secure {
                format!("__Secure-{base}")
            } else {
                base
            },
            attributes: attributes.to_owned(),
            secure,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value from the request's `Cookie` headers, if this cookie is there.
    pub fn read<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name)
            .map(|(_, value)| value.trim_matches('"'))
            .filter(|value| !value.is_empty())
    }

    /// `Set-Cookie` for a token. `max_age: None` makes a browser-session cookie.
    pub fn set(&self, token: &str, max_age: Option<Duration>) -> HeaderValue {
        let mut cookie = format!("{}={token}; {}", self.name, self.attributes);
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        self.finish(cookie)
    }

    /// `Set-Cookie` that makes the browser forget the cookie.
    pub fn clear(&self) -> HeaderValue {
        self.finish(format!("{}=; {}; Max-Age=0", self.name, self.attributes))
    }

    fn finish(&self, mut cookie: String) -> HeaderValue {
        if self.secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).expect("cookie names and tokens are header-safe")
    }
}
