//! The password policy (ASVS 6.2, NIST SP 800-63B §5.1.1.2).
//!
//! Passwords are normalised to NFKC and measured in Unicode code points; between `min_length` and
//! `max_length` anything goes (no composition rules), except passwords that zxcvbn rates below
//! `min_strength`: common, breached-looking, or built from the user's own name or email. The
//! refusal says why. Nothing is ever truncated: Argon2 hashes every byte.

use unicode_normalization::UnicodeNormalization;

use super::settings::PasswordPolicy;
use crate::error::{ApiError, ErrorCode};

/// A password as the user typed it, normalised to NFKC.
pub struct Password(String);

impl Password {
    /// For checking against a stored hash: normalised and bounded, but not judged.
    pub fn candidate(raw: &str, policy: &PasswordPolicy) -> Result<Self, ApiError> {
        let normalised: String = raw.nfkc().collect();
        if normalised.chars().count() > policy.max_length {
            return Err(too_long(policy));
        }
        Ok(Self(normalised))
    }

    /// For a new password (sign-up, change, reset): the whole policy applies.
    /// `personal` holds what the user told us about themselves (email, name).
    pub fn new_for(
        raw: &str,
        policy: &PasswordPolicy,
        personal: &[&str],
    ) -> Result<Self, ApiError> {
        let password = Self::candidate(raw, policy)?;
        let length = password.0.chars().count();
        if length < policy.min_length {
            return Err(
                ApiError::from(ErrorCode::PasswordTooShort).with_message(format!(
                    "Password too short: use at least {} characters",
                    policy.min_length
                )),
            );
        }
        password.check_strength(policy, personal)?;
        Ok(password)
    }

    fn check_strength(&self, policy: &PasswordPolicy, personal: &[&str]) -> Result<(), ApiError> {
        if policy.min_strength == 0 {
            return Ok(());
        }
        let mut inputs: Vec<&str> = personal.to_vec();
        // The local part of an email is what people reuse ("ada" in ada@example.com).
        inputs.extend(personal.iter().filter_map(|p| p.split('@').next()));
        let estimate = zxcvbn::zxcvbn(&self.0, &inputs);
        if u8::from(estimate.score()) >= policy.min_strength {
            return Ok(());
        }
        let reason = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "It would be easy to guess.".to_owned());
        Err(
            ApiError::from(ErrorCode::PasswordTooWeak).with_message(format!(
                "Password too weak: {reason} Add more words or characters that are hard to guess."
            )),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn too_long(policy: &PasswordPolicy) -> ApiError {
    ApiError::from(ErrorCode::PasswordTooLong).with_message(format!(
        "Password too long: use at most {} characters",
        policy.max_length
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 8,
            max_length: 128,
            min_strength: 2,
        }
    }

    #[test]
    fn common_and_personal_passwords_are_refused_with_a_reason() {
        let err = Password::new_for("password123", &policy(), &[])
            .err()
            .unwrap();
        assert_eq!(err.code, crate::error::ErrorCode::PasswordTooWeak);
        assert!(err.message.len() > "Password too weak: ".len());
        assert!(Password::new_for(
            "adalovelace1815",
            &policy(),
            &["adalovelace1815@example.com"]
        )
        .is_err());
        assert!(Password::new_for("vq8#Lm2!xZ", &policy(), &[]).is_ok());
    }

    #[test]
    fn length_counts_code_points_after_nfkc() {
        // "ﬁ" (U+FB01) normalises to "fi": 4 ligatures are 8 code points after NFKC.
        assert_eq!(
            Password::candidate("ﬁﬁﬁﬁ", &policy()).unwrap().as_str(),
            "fifififi"
        );
        let too_long: String = "é".repeat(129);
        assert_eq!(
            Password::candidate(&too_long, &policy())
                .err()
                .unwrap()
                .code,
            crate::error::ErrorCode::PasswordTooLong
        );
    }
}
