//! Hosted pages settings (`[ui]`).

use std::path::PathBuf;

use crate::settings::parse::{flag, optional};
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

fn path(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw.trim()))
}

#[cfg(test)]
mod tests {
    use super::path_prefix;

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
