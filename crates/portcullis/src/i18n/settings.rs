//! Language settings (`[i18n]`).

use std::path::PathBuf;

use crate::settings::parse::{optional, text};
use crate::settings_group;

settings_group! {
    /// `[i18n]`
    pub struct I18nSettings {
        /// Language of pages and mails when neither `?lang=` nor the browser's
        /// `Accept-Language` names one there is a catalogue for (`en`, `de` or one from
        /// `i18n.catalogues_dir`).
        default_language: String = Plain("i18n.default_language", Value("en"), text),
        /// A directory of Fluent catalogues, `<language>.ftl` (`fr.ftl`, `de.ftl`, `pt-BR.ftl`):
        /// a new language, or messages that replace the built-in ones of that language.
        catalogues_dir: Option<PathBuf> = Plain("i18n.catalogues_dir", Unset("none"), optional(path)),
    }
}

fn path(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw.trim()))
}
