//! Session settings: lifetimes, the cache and the cookie name.

use std::time::Duration;

use url::Url;

use crate::http::cookies::SameSite;
use crate::settings::parse::{duration, duration_or_zero, optional};
use crate::settings::SettingError;
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
        /// Share the session cookie with the subdomains of this domain (`example.com` for
        /// `app.example.com` and `auth.example.com`); it must contain the base URL's host. Over
        /// https the cookie is then `__Secure-` rather than `__Host-` prefixed.
        cookie_domain: Option<String> = Plain("session.cookie_domain", Unset("the base URL's host only"), optional(cookie_domain)),
        /// `lax`, `strict` or `none` for the session, two-factor and trusted-device cookies.
        /// `none` lets an app on another site send them (see "Where to run it"); it needs an
        /// https base URL.
        cookie_same_site: SameSite = Plain("session.cookie_same_site", Value("lax"), SameSite::parse),
    }
}

impl SessionSettings {
    /// Rules between the lifetimes, and the cookie attributes browsers would refuse with this
    /// base URL (a cookie they drop silently would look like a sign-in that does not stick).
    pub fn check(&self, base_url: &Url) -> Result<(), SettingError> {
        if self.cookie_same_site == SameSite::None && base_url.scheme() != "https" {
            return Err(SettingError::new(
                "session.cookie_same_site",
                "`none` needs an https base_url: browsers refuse SameSite=None cookies that are \
                 not Secure, and Secure cookies need https (use lax, or serve Portcullis over https)",
            ));
        }
        if let Some(domain) = &self.cookie_domain {
            let host = base_url.host_str().unwrap_or_default();
            if host != domain && !host.ends_with(&format!(".{domain}")) {
                return Err(SettingError::new(
                    "session.cookie_domain",
                    format!(
                        "`{domain}` does not contain the base_url's host `{host}`: browsers would \
                         refuse the cookie"
                    ),
                ));
            }
        }
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

/// A cookie `Domain`: a host name (a leading dot is dropped, as browsers do), not an IP address.
fn cookie_domain(raw: &str) -> Result<String, String> {
    let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    let valid = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid {
        return Err(format!("`{raw}` is not a domain name such as example.com"));
    }
    if domain.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!(
            "`{raw}` is an IP address: cookies are shared across subdomains of a name only"
        ));
    }
    Ok(domain)
}
