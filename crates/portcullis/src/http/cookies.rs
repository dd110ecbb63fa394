//! The session cookie: HttpOnly, SameSite=Lax, Path=/; over https also Secure with the `__Host-`
//! prefix, which makes browsers refuse it unless it is Secure, host-only and Path=/ (ASVS 3.3.1).

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

use crate::config::Config;

#[derive(Debug, Clone)]
pub struct SessionCookie {
    name: String,
    secure: bool,
}

impl SessionCookie {
    pub fn from_config(config: &Config) -> Self {
        let secure = config.is_https();
        let base = format!("{}.session_token", config.session.cookie_prefix);
        let name = if secure {
            format!("__Host-{base}")
        } else {
            base
        };
        Self { name, secure }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token from the request's `Cookie` headers, if the session cookie is there.
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

    /// `Set-Cookie` for a session token. `max_age: None` makes a browser-session cookie.
    pub fn set(&self, token: &str, max_age: Option<Duration>) -> HeaderValue {
        let mut cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Lax", self.name);
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        self.finish(cookie)
    }

    /// `Set-Cookie` that makes the browser forget the session.
    pub fn clear(&self) -> HeaderValue {
        self.finish(format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
            self.name
        ))
    }

    fn finish(&self, mut cookie: String) -> HeaderValue {
        if self.secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).expect("cookie names and tokens are header-safe")
    }
}
