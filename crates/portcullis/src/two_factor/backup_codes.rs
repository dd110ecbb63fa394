//! Backup codes: 10 single-use codes for when the authenticator is lost. Each has 10 characters
//! from `a-z0-9` (51.7 bits) from the OS CSPRNG, shown as `xxxxx-xxxxx`. They are stored as
//! Argon2id hashes: far shorter than a token, so a fast hash would not protect them.

use crate::crypto::tokens::random_string;

const COUNT: usize = 10;
const LENGTH: usize = 10;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh set, formatted for display.
pub fn generate() -> Vec<String> {
    (0..COUNT).map(|_| one()).collect()
}

fn one() -> String {
    let raw = random_string(ALPHABET, LENGTH);
    format!("{}-{}", &raw[..LENGTH / 2], &raw[LENGTH / 2..])
}

/// The form that is hashed: lower case, without dashes or spaces; `None` if it cannot be a code.
pub fn normalized(raw: &str) -> Option<String> {
    let code: String = raw
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_and_well_formed() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert!(normalized(code).is_some());
        }
        // 36^10 codes: at least 50 bits each.
        assert!((LENGTH as f64) * (ALPHABET.len() as f64).log2() >= 50.0);
    }

    #[test]
    fn typing_is_forgiving_but_only_codes_pass() {
        assert_eq!(normalized("AB3DE-9XY2Z").as_deref(), Some("ab3de9xy2z"));
        assert_eq!(normalized(" ab3de 9xy2z ").as_deref(), Some("ab3de9xy2z"));
        for bad in [
            "",
            "ab3de-9xy2",
            "ab3de-9xy2zz",
            "ab3de_9xy2z",
            "ab3dé-9xy2z",
        ] {
            assert_eq!(normalized(bad), None, "{bad:?}");
        }
    }
}
