//! The password policy's settings (`[password]`; the hashing costs are the crypto plumbing's).

use crate::settings::parse::number_in;
use crate::settings_group;

settings_group! {
    /// `[password]`: what a new password must be.
    pub struct PasswordPolicy {
        /// Minimum length in Unicode code points after NFKC normalisation (at least 8).
        min_length: usize = Plain("password.min_length", Value("8"), number_in(8..=64)),
        /// Maximum length in code points (at least 64). Nothing is ever truncated.
        max_length: usize = Plain("password.max_length", Value("128"), number_in(64..=4096)),
        /// Minimum [zxcvbn](https://github.com/shssoichiro/zxcvbn-rs) score (0–4): refuses common,
        /// breached-looking and personal passwords, with the reason. No composition rules.
        min_strength: u8 = Plain("password.min_strength", Value("2"), number_in(0..=4)),
    }
}

impl PasswordPolicy {
    pub fn check(&self) -> Result<(), crate::settings::SettingError> {
        if self.min_length > self.max_length {
            return Err(crate::settings::SettingError::new(
                "password.min_length",
                "must not exceed password.max_length",
            ));
        }
        Ok(())
    }
}
