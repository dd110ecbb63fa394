//! A valid, normalised email address: NFKC-normalised, trimmed, lower-cased, at most 254
//! characters, no control characters (so it can never inject a header into a mail).
//!
//! Look-alikes are refused or folded (Unicode TS #39): compatibility forms normalise to the plain
//! address (`ａｄｍｉｎ@example.com` is `admin@example.com`, so it cannot be a second account),
//! a local part or domain label that mixes scripts (`аdmin` with a Cyrillic `а`) is refused, and
//! so is any invisible or direction-changing character.

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

use super::profile::is_invisible_format;
use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const MAX_LEN: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let normalised: String = raw.trim().nfkc().collect::<String>().to_lowercase();
        if normalised.chars().any(is_invisible_format) {
            return Err(ApiError::from(ErrorCode::InvalidEmail).with_message(
                "Invalid email: it holds invisible or direction-changing characters",
            ));
        }
        let single_script_parts = normalised
            .split(['@', '.'])
            .all(|part| part.is_single_script());
        if !single_script_parts {
            return Err(ApiError::from(ErrorCode::InvalidEmail).with_message(
                "Invalid email: a part of it mixes alphabets (look-alike characters)",
            ));
        }
        let valid = normalised.len() <= MAX_LEN
            && !normalised.chars().any(char::is_control)
            && email_address::EmailAddress::is_valid(&normalised)
            && normalised
                .split('@')
                .nth(1)
                .is_some_and(|domain| domain.contains('.') || domain == "localhost");
        if valid {
            Ok(Self(normalised))
        } else {
            Err(ApiError::from(ErrorCode::InvalidEmail))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_validates() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example.com\r\nBcc: x@y.z",
            "a b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn look_alikes_fold_or_are_refused() {
        // Full-width Latin is the same address after NFKC.
        assert_eq!(
            Email::parse("ａｄｍｉｎ@example.com").unwrap().as_str(),
            "admin@example.com"
        );
        // A Cyrillic а inside a Latin local part, and a mixed domain label.
        assert!(Email::parse("\u{0430}dmin@example.com").is_err());
        assert!(Email::parse("admin@ex\u{0430}mple.com").is_err());
        // Invisible and bidi characters.
        assert!(Email::parse("ad\u{200B}min@example.com").is_err());
        assert!(Email::parse("admin\u{202E}@example.com").is_err());
        // One script per part is fine, whichever it is.
        assert!(Email::parse("иван@example.com").is_ok());
        assert!(Email::parse("zoë.müller+news@example.com").is_ok());
    }
}
