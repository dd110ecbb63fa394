//! A valid, normalised email address: trimmed, lower-cased, at most 254 characters, no control
//! characters (so it can never inject a header into a mail).

use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const MAX_LEN: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let normalised = raw.trim().to_lowercase();
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
}
