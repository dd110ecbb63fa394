//! Languages of the hosted pages and the mails: Fluent message catalogues (`catalogues/en.ftl`,
//! `de.ftl`, built in; more, or replacements of single messages, from `i18n.catalogues_dir`),
//! the choice of a language for a request (`?lang=`, then `Accept-Language`, then
//! `i18n.default_language`), and lookups that fall back to the default language and then to
//! English for a message a catalogue lacks. Plural rules and number formats are Fluent's.

pub mod settings;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use fluent_langneg::{negotiate_languages, NegotiationStrategy};
use unic_langid::LanguageIdentifier;

use settings::I18nSettings;

/// The built-in catalogues, by language tag. English is complete; it is every lookup's last
/// resort.
const BUILT_IN: &[(&str, &str)] = &[
    ("en", include_str!("catalogues/en.ftl")),
    ("de", include_str!("catalogues/de.ftl")),
];
const ENGLISH: &str = "en";

pub struct Catalogues {
    bundles: HashMap<String, FluentBundle<FluentResource>>,
    /// Every language with a catalogue, for negotiation.
    available: Vec<LanguageIdentifier>,
    default: String,
}

impl Catalogues {
    /// The built-in catalogues with the operator's files over them; a file that does not parse,
    /// a file name that is not a language tag or a default language without a catalogue stops
    /// start-up.
    pub fn load(settings: &I18nSettings) -> anyhow::Result<Self> {
        let mut sources: Vec<(LanguageIdentifier, String, String)> = BUILT_IN
            .iter()
            .map(|(tag, source)| {
                (
                    tag.parse().expect("built-in tags"),
                    (*source).to_owned(),
                    "built in".to_owned(),
                )
            })
            .collect();
        if let Some(dir) = &settings.catalogues_dir {
            sources.extend(operator_catalogues(dir)?);
        }
        let mut bundles: HashMap<String, FluentBundle<FluentResource>> = HashMap::new();
        for (language, source, origin) in sources {
            let resource = FluentResource::try_new(source).map_err(|(_, errors)| {
                anyhow::anyhow!("i18n: catalogue {language} ({origin}) does not parse: {errors:?}")
            })?;
            let bundle = bundles.entry(language.to_string()).or_insert_with(|| {
                let mut bundle = FluentBundle::new_concurrent(vec![language.clone()]);
                // Plain text around arguments: pages and mails escape it themselves.
                bundle.set_use_isolating(false);
                bundle
            });
            // A later file's message replaces an earlier one of the same name.
            bundle.add_resource_overriding(resource);
        }
        let mut available: Vec<LanguageIdentifier> = bundles
            .keys()
            .map(|tag| tag.parse().expect("parsed before"))
            .collect();
        available.sort_by_key(|l| l.to_string());
        let default: LanguageIdentifier = settings.default_language.parse().map_err(|_| {
            anyhow::anyhow!(
                "i18n.default_language: `{}` is not a language tag",
                settings.default_language
            )
        })?;
        if !bundles.contains_key(&default.to_string()) {
            anyhow::bail!(
                "i18n.default_language: no catalogue for `{default}` (built in: en, de; add {default}.ftl to i18n.catalogues_dir)"
            );
        }
        Ok(Self {
            bundles,
            available,
            default: default.to_string(),
        })
    }

    /// The language for a request: `?lang=` if there is a catalogue for it, then the best match
    /// of `Accept-Language`, then the default.
    pub fn choose(&self, query_lang: Option<&str>, accept_language: Option<&str>) -> String {
        let requested: Vec<LanguageIdentifier> = match query_lang {
            Some(lang) => lang.parse().into_iter().collect(),
            None => Vec::new(),
        };
        let requested = if self.matches(&requested).is_some() {
            requested
        } else {
            accept_language
                .map(fluent_langneg::accepted_languages::parse)
                .unwrap_or_default()
        };
        self.matches(&requested)
            .unwrap_or_else(|| self.default.clone())
    }

    fn matches(&self, requested: &[LanguageIdentifier]) -> Option<String> {
        negotiate_languages(
            requested,
            &self.available,
            None,
            NegotiationStrategy::Lookup,
        )
        .first()
        .map(|l| l.to_string())
    }

    /// The message `key` in `language`, else in the default language, else in English; `None`
    /// when no catalogue has it.
    pub fn message(&self, language: &str, key: &str, args: Option<&FluentArgs>) -> Option<String> {
        [language, self.default.as_str(), ENGLISH]
            .into_iter()
            .filter_map(|tag| self.bundles.get(tag))
            .find_map(|bundle| {
                let pattern = bundle.get_message(key)?.value()?;
                let mut errors = Vec::new();
                let text = bundle.format_pattern(pattern, args, &mut errors);
                errors.is_empty().then(|| text.into_owned())
            })
    }

    /// `message`, or the key itself (a missing message shows as its name, never as nothing).
    pub fn text(&self, language: &str, key: &str, args: Option<&FluentArgs>) -> String {
        self.message(language, key, args)
            .unwrap_or_else(|| key.to_owned())
    }
}

/// Gives templates `t(key, name=value, ...)`: the message `key` in the template's `lang`, its
/// arguments from the keyword arguments (numbers stay numbers, for plurals); `fallback=` is the
/// text when no catalogue has the key (an error message the catalogues do not know).
pub fn add_function(env: &mut minijinja::Environment<'static>, catalogues: Arc<Catalogues>) {
    env.add_function(
        "t",
        move |state: &minijinja::State, key: String, kwargs: minijinja::value::Kwargs| {
            let language = state
                .lookup("lang")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| ENGLISH.to_owned());
            let mut args = FluentArgs::new();
            let mut fallback = None;
            for name in kwargs.args() {
                let value: minijinja::Value = kwargs.get(name)?;
                if name == "fallback" {
                    fallback = Some(value.to_string());
                } else if let Some(n) = value.as_i64() {
                    args.set(name.to_owned(), n);
                } else if value.is_none() || value.is_undefined() {
                    args.set(name.to_owned(), "");
                } else {
                    args.set(name.to_owned(), value.to_string());
                }
            }
            Ok(catalogues
                .message(&language, &key, Some(&args))
                .or(fallback)
                .unwrap_or(key))
        },
    );
}

/// `<tag>.ftl` files of the operator's directory, in name order.
fn operator_catalogues(dir: &Path) -> anyhow::Result<Vec<(LanguageIdentifier, String, String)>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("i18n.catalogues_dir: cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "ftl"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let language: LanguageIdentifier = stem.parse().map_err(|_| {
                anyhow::anyhow!(
                    "i18n.catalogues_dir: {} is not named after a language (de.ftl, pt-BR.ftl)",
                    path.display()
                )
            })?;
            let source = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!("i18n.catalogues_dir: cannot read {}: {e}", path.display())
            })?;
            Ok((language, source, path.display().to_string()))
        })
        .collect()
}

/// What a request said about its language: the raw `?lang=` and `Accept-Language`, chosen
/// against the catalogues only when needed. An extractor, taken by the handlers whose work sends
/// mail (and by the hosted pages), and handed to the feature logic that composes the mail: only
/// those requests read it (it used to be a task-local every request paid for).
#[derive(Clone, Debug, Default)]
pub struct Requested {
    pub query_lang: Option<String>,
    pub accept_language: Option<HeaderValue>,
}

impl Requested {
    /// What a request with `uri` and `headers` says about its language.
    pub fn of(uri: &Uri, headers: &HeaderMap) -> Self {
        Self {
            query_lang: uri.query().and_then(query_lang),
            accept_language: headers.get(header::ACCEPT_LANGUAGE).cloned(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Requested {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self::of(&parts.uri, &parts.headers))
    }
}

impl Requested {
    pub fn choose(&self, catalogues: &Catalogues) -> String {
        catalogues.choose(
            self.query_lang.as_deref(),
            self.accept_language.as_ref().and_then(|v| v.to_str().ok()),
        )
    }
}

/// `lang` of a query string.
fn query_lang(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "lang")
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: Option<&Path>) -> I18nSettings {
        I18nSettings {
            default_language: "en".into(),
            catalogues_dir: dir.map(Path::to_path_buf),
        }
    }

    #[test]
    fn the_query_wins_then_the_header_then_the_default() {
        let c = Catalogues::load(&settings(None)).unwrap();
        assert_eq!(c.choose(Some("de"), Some("en")), "de");
        assert_eq!(c.choose(Some("xx"), Some("fr;q=0.9, de-AT;q=0.8")), "de");
        assert_eq!(c.choose(None, Some("de-CH, en;q=0.5")), "de");
        assert_eq!(c.choose(None, Some("fr")), "en");
        assert_eq!(c.choose(None, None), "en");
    }

    #[test]
    fn german_has_every_english_message() {
        let c = Catalogues::load(&settings(None)).unwrap();
        let ids = BUILT_IN[0]
            .1
            .lines()
            .filter_map(|line| line.split_once(" =").map(|(id, _)| id))
            .filter(|id| !id.is_empty() && !id.starts_with([' ', '#', '.']));
        for id in ids {
            assert!(c.bundles["de"].has_message(id), "{id} missing in de.ftl");
        }
    }
}
