//! Parsers for settings' text. Each names what it expects, so an error reads like
//! "`soon`: expected a duration such as 30s, 15m or 7d".

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use super::{IntoParser, SecretString};

/// Wraps a parser for a setting that may have no value at all.
pub fn optional<P>(parser: P) -> Optional<P> {
    Optional(parser)
}

pub struct Optional<P>(P);

impl<T, P> IntoParser<Option<T>> for Optional<P>
where
    P: Fn(&str) -> Result<T, String>,
{
    fn parse(&self, text: Option<&str>) -> Result<Option<T>, String> {
        text.map(&self.0).transpose()
    }
}

/// Any text, trimmed.
pub fn text(raw: &str) -> Result<String, String> {
    Ok(raw.trim().to_owned())
}

/// Text that may go into mail headers: one line, no control characters.
pub fn single_line(raw: &str) -> Result<String, String> {
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(raw.trim().to_owned())
}

/// A secret string; never shown again.
pub fn secret(raw: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(raw.trim().to_owned()))
}

/// `true/false`, `yes/no`, `on/off` or `1/0`, in any case.
pub fn flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "`{raw}` is neither true nor false (write true/false, yes/no, on/off or 1/0)"
        )),
    }
}

/// A duration such as `30s`, `15m`, `7d`, longer than zero.
pub fn duration(raw: &str) -> Result<Duration, String> {
    let duration = duration_or_zero(raw)?;
    if duration.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(duration)
}

/// A duration that may be zero (`0s` usually means "off").
pub fn duration_or_zero(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| format!("`{raw}`: {e} (write e.g. 30s, 15m, 7d)"))
}

/// A duration where `0s` means "never": `None`.
pub fn duration_or_off(raw: &str) -> Result<Option<Duration>, String> {
    Ok(Some(duration_or_zero(raw)?).filter(|d| !d.is_zero()))
}

/// A number within `range`.
pub fn number_in<T>(range: RangeInclusive<T>) -> impl Fn(&str) -> Result<T, String>
where
    T: FromStr + PartialOrd + Display,
    T::Err: Display,
{
    move |raw| {
        let value: T = raw.trim().parse().map_err(|e| format!("`{raw}`: {e}"))?;
        if !range.contains(&value) {
            return Err(format!(
                "{value} is outside {}..={}",
                range.start(),
                range.end()
            ));
        }
        Ok(value)
    }
}

/// Anything `FromStr` can read (socket addresses, ...).
pub fn from_str<T>(raw: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    raw.trim().parse().map_err(|e| format!("`{raw}`: {e}"))
}

/// A comma-separated list (TOML arrays arrive joined the same way); blanks are dropped.
pub fn list(raw: &str) -> Result<Vec<String>, String> {
    Ok(raw
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect())
}

/// An `http(s)://host[:port][/path]` URL without query or fragment.
pub fn http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("`{raw}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{raw}` must be an http or https URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{raw}` must not have a query or fragment"));
    }
    Ok(url)
}

/// A list of origins (`scheme://host[:port]`), each serialised as browsers send it.
pub fn origins(raw: &str) -> Result<Vec<String>, String> {
    list(raw)?
        .iter()
        .map(|item| http_url(item).map(|url| url.origin().ascii_serialization()))
        .collect()
}

/// A list of IP addresses or CIDRs.
pub fn cidrs(raw: &str) -> Result<Vec<IpNet>, String> {
    list(raw)?
        .iter()
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is not an IP address or CIDR"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_accept_the_usual_words_in_any_case() {
        for yes in ["true", "TRUE", "Yes", "on", "1", " On "] {
            assert_eq!(flag(yes), Ok(true), "{yes}");
        }
        for no in ["false", "False", "NO", "off", "0"] {
            assert_eq!(flag(no), Ok(false), "{no}");
        }
        assert!(flag("maybe").is_err());
    }

    #[test]
    fn numbers_and_durations_name_the_problem() {
        assert_eq!(number_in(8..=64)("12"), Ok(12usize));
        assert!(number_in(8..=64)("4")
            .unwrap_err()
            .contains("outside 8..=64"));
        assert!(duration("soon").unwrap_err().contains("30s"));
        assert!(duration("0s").is_err());
        assert_eq!(duration_or_off("0s"), Ok(None));
        assert!(cidrs("10.0.0.0/8, nonsense")
            .unwrap_err()
            .contains("nonsense"));
        assert_eq!(
            origins("https://app.example.com/path").unwrap(),
            vec!["https://app.example.com".to_owned()]
        );
    }
}
