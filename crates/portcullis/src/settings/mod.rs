//! How settings are declared and read.
//!
//! Each feature declares its own group of settings next to its code (`<feature>/settings.rs`) with
//! [`settings_group!`](crate::settings_group): for every setting its dotted key, its default, its
//! meaning (the doc comment) and the parser that turns the text into a value. `config.rs` collects
//! the groups into one registry, which loading, validation, `portcullis settings` and the README
//! table all read, so a setting is written down exactly once.
//!
//! A key's environment variable is derived from it (`session.expires_in` →
//! `PORTCULLIS_SESSION_EXPIRES_IN`), so the file and the environment can never disagree on names.

pub mod parse;

use std::collections::BTreeMap;

pub use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// One setting as the registry knows it.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Dotted key, as in the TOML file (`session.expires_in`).
    pub key: &'static str,
    pub fallback: Fallback,
    /// The meaning, one doc-comment line per item.
    pub help: &'static [&'static str],
    pub sensitivity: Sensitivity,
}

impl Setting {
    pub fn env_name(&self) -> String {
        env_name(self.key)
    }

    /// The meaning as one paragraph.
    pub fn help(&self) -> String {
        self.help
            .iter()
            .map(|line| line.trim())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a setting is when nobody set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This text, parsed like any value.
    Value(&'static str),
    /// No value (or one derived from other settings at load time); the text says what happens.
    Unset(&'static str),
}

/// How a value may be shown (`portcullis settings`, logs): never a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    Plain,
    /// Shown only as set or not set.
    Secret,
    /// A URL that may carry a password: shown with the password masked.
    Credentials,
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    /// Computed from other settings (e.g. `base_url` from `listen`).
    Derived,
    File,
    Environment,
    /// Given by the program that embeds the server (the test suite).
    Given,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Derived => "derived",
            Source::File => "file",
            Source::Environment => "environment",
            Source::Given => "given",
        }
    }
}

/// The environment variable that sets `key`.
pub fn env_name(key: &str) -> String {
    format!("PORTCULLIS_{}", key.replace('.', "_").to_uppercase())
}

#[derive(Debug, thiserror::Error)]
#[error("setting `{key}` ({env}): {reason}")]
pub struct SettingError {
    pub key: String,
    pub env: String,
    pub reason: String,
}

impl SettingError {
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            env: env_name(key),
            reason: reason.into(),
        }
    }
}

/// The raw text of every setting that was given, with where it came from. It may hold secrets:
/// its `Debug` shows keys and sources only.
#[derive(Clone, Default)]
pub struct Values {
    raw: BTreeMap<String, (String, Source)>,
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.raw.iter().map(|(key, (_, source))| (key, source)))
            .finish()
    }
}

impl Values {
    /// Adds (or replaces) the raw value of `key`. Blank values count as not given.
    pub fn insert(&mut self, key: &str, value: impl Into<String>, source: Source) {
        let value = value.into();
        if value.trim().is_empty() {
            self.raw.remove(key);
        } else {
            self.raw.insert(key.to_owned(), (value, source));
        }
    }

    /// Sets `key` to a value computed from other settings, unless it was given.
    pub fn derive(&mut self, key: &str, value: impl Into<String>) {
        if !self.raw.contains_key(key) {
            self.insert(key, value, Source::Derived);
        }
    }

    /// The given (or derived) text of `key`.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(|(value, _)| value.as_str())
    }

    pub fn source(&self, key: &str) -> Source {
        self.raw
            .get(key)
            .map_or(Source::Default, |(_, source)| *source)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.raw.keys().map(String::as_str)
    }

    /// Parses `key`: its given text, else its fallback value, else nothing.
    pub fn get<T>(
        &self,
        key: &str,
        fallback: Fallback,
        parser: impl IntoParser<T>,
    ) -> Result<T, SettingError> {
        let text = match (self.raw(key), fallback) {
            (Some(raw), _) => Some(raw),
            (None, Fallback::Value(default)) => Some(default),
            (None, Fallback::Unset(_)) => None,
        };
        parser
            .parse(text.map(str::trim))
            .map_err(|reason| SettingError::new(key, reason))
    }
}

/// A parser for a setting's text. Plain `fn(&str) -> Result<T, String>` parsers are for settings
/// that always have a value; wrap them in [`parse::optional`] for settings that may have none.
pub trait IntoParser<T> {
    fn parse(&self, text: Option<&str>) -> Result<T, String>;
}

impl<T, F> IntoParser<T> for F
where
    F: Fn(&str) -> Result<T, String>,
{
    fn parse(&self, text: Option<&str>) -> Result<T, String> {
        match text {
            Some(text) => self(text),
            None => Err("must be set".to_owned()),
        }
    }
}

/// A feature's settings: the registry entries and how to load them from raw values.
pub trait Group: Sized {
    fn settings() -> Vec<Setting>;
    fn load(values: &Values) -> Result<Self, SettingError>;
}

/// Declares a feature's settings group: a struct whose every field is one setting.
///
/// ```ignore
/// settings_group! {
///     /// Sessions.
///     pub struct SessionSettings {
///         /// Idle timeout: a session unused this long expires.
///         expires_in: Duration = Plain("session.expires_in", Value("7d"), parse::duration),
///     }
/// }
/// ```
/// The doc comment of a field is the setting's meaning; `Plain`, `Secret` or `Credentials` says
/// how it may be shown; `Value(..)` or `Unset(..)` is its default.
#[macro_export]
macro_rules! settings_group {
    (
        $(#[doc = $group_doc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident : $ty:ty = $sensitivity:ident($key:literal, $fallback:expr, $parser:expr)
            ),+ $(,)?
        }
    ) => {
        $(#[doc = $group_doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $field: $ty, )+
        }

        impl $crate::settings::Group for $name {
            fn settings() -> Vec<$crate::settings::Setting> {
                #[allow(unused_imports)]
                use $crate::settings::Fallback::{Unset, Value};
                vec![$(
                    $crate::settings::Setting {
                        key: $key,
                        fallback: $fallback,
                        help: &[$($doc),+],
                        sensitivity: $crate::settings::Sensitivity::$sensitivity,
                    }
                ),+]
            }

            fn load(
                values: &$crate::settings::Values,
            ) -> Result<Self, $crate::settings::SettingError> {
                #[allow(unused_imports)]
                use $crate::settings::Fallback::{Unset, Value};
                Ok(Self { $( $field: values.get($key, $fallback, $parser)?, )+ })
            }
        }
    };
}

/// The known setting closest to an unknown name, if one is close enough to be a typo.
pub fn closest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let unknown = unknown.to_lowercase();
    known
        .into_iter()
        .map(|candidate| {
            let distance = strsim::levenshtein(&unknown, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 4).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A URL with its password (if any) replaced, for display.
pub fn mask_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "(set)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_keys() {
        assert_eq!(
            env_name("session.absolute_lifetime"),
            "PORTCULLIS_SESSION_ABSOLUTE_LIFETIME"
        );
        assert_eq!(env_name("listen"), "PORTCULLIS_LISTEN");
    }

    #[test]
    fn typos_find_their_setting() {
        let known = [
            "PORTCULLIS_EMAIL_REQUIRE_VERIFICATION",
            "PORTCULLIS_EMAIL_RESET_TTL",
            "PORTCULLIS_LISTEN",
        ];
        assert_eq!(
            closest("PORTCULLIS_EMAIL_REQUIRE_VERIFICATON", known),
            Some("PORTCULLIS_EMAIL_REQUIRE_VERIFICATION")
        );
        assert_eq!(
            closest("PORTCULLIS_LISEN", known),
            Some("PORTCULLIS_LISTEN")
        );
        assert_eq!(closest("PORTCULLIS_SOMETHING_ELSE_ENTIRELY", known), None);
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_password("postgres://app:hunter2@db.example.com/auth"),
            "postgres://app:****@db.example.com/auth"
        );
        assert_eq!(
            mask_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert!(!mask_password("smtps://u:p%40ss@mail:465").contains("p%40ss"));
    }
}
