//! Hosted pages settings (`[ui]`).

use std::path::PathBuf;

use url::Url;

use crate::settings::parse::{flag, http_url, optional};
use crate::settings_group;

settings_group! {
    /// `[ui]`
    pub struct UiSettings {
        /// Serve the hosted pages (sign-in, sign-up, reset, two-factor, account). Off: the
        /// server is an API only and mail links go to `/api/auth` (or the application's URLs).
        enabled: bool = Plain("ui.enabled", Value("true"), flag),
        /// Path the pages live under: `/` serves `/sign-in`, `/auth` serves `/auth/sign-in`.
        path_prefix: String = Plain("ui.path_prefix", Value("/"), path_prefix),
        /// A directory whose files override the built-in page templates (`sign_in.html`, ...,
        /// `base.html`) and the stylesheet (`style.css`).
        templates_dir: Option<PathBuf> = Plain("ui.templates_dir", Unset("none"), optional(path)),
        /// Logo shown in the pages' header instead of the product name (`mail.product_name` stays
        /// its text alternative).
        logo_url: Option<Url> = Plain("ui.logo_url", Unset("none"), optional(http_url)),
        /// Primary colour of buttons and links, `#rgb` or `#rrggbb` (white text goes on it: keep
        /// a contrast of at least 4.5:1).
        primary_color: Option<String> = Plain("ui.primary_color", Unset("`#1d4ed8`"), optional(color)),
        /// An extra stylesheet loaded after the built-in one (its origin is added to the pages'
        /// Content-Security-Policy).
        stylesheet_url: Option<Url> = Plain("ui.stylesheet_url", Unset("none"), optional(http_url)),
    }
}

impl UiSettings {
    /// The path of a page (`page` starts with `/`) under the prefix.
    pub fn path(&self, page: &str) -> String {
        format!("{}{page}", self.path_prefix)
    }
}

/// `/` becomes the empty prefix; otherwise `/segment[/segment]`, without a trailing slash, and
/// never under `/api`.
fn path_prefix(raw: &str) -> Result<String, String> {
    let prefix = raw.trim().trim_end_matches('/');
    if prefix.is_empty() {
        return Ok(String::new());
    }
    let valid = prefix.starts_with('/')
        && !prefix.contains("//")
        && prefix[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'))
        && !prefix.split('/').any(|s| s == "." || s == "..");
    if !valid {
        return Err(
            "must be `/` or a path like `/auth` (letters, digits, '-', '_', '.')".to_owned(),
        );
    }
    if prefix == "/api" || prefix.starts_with("/api/") || prefix == "/.well-known" {
        return Err("must not be under /api or /.well-known".to_owned());
    }
    Ok(prefix.to_owned())
}

/// `#rgb` or `#rrggbb`: nothing else can reach the page's style.
fn color(raw: &str) -> Result<String, String> {
    let colour = raw.trim();
    let hex = colour.strip_prefix('#').unwrap_or_default();
    if matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(colour.to_ascii_lowercase())
    } else {
        Err(format!("`{raw}` must be a colour like #1d4ed8"))
    }
}

fn path(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw.trim()))
}

#[cfg(test)]
mod tests {
    use super::{color, path_prefix};

    #[test]
    fn colours_are_hex_only() {
        assert_eq!(color("#1D4ED8").unwrap(), "#1d4ed8");
        assert_eq!(color("#fff").unwrap(), "#fff");
        assert!(color("red").is_err());
        assert!(color("#fff;}body{display:none").is_err());
    }

    #[test]
    fn prefixes_are_normalised_and_checked() {
        assert_eq!(path_prefix("/").unwrap(), "");
        assert_eq!(path_prefix("/auth/").unwrap(), "/auth");
        assert!(path_prefix("auth").is_err());
        assert!(path_prefix("/api/auth").is_err());
        assert!(path_prefix("//evil").is_err());
        assert!(path_prefix("/a/../b").is_err());
    }
}
