//! Random identifiers and bearer secrets.
//!
//! Secrets (session tokens and the like) carry 256 bits from the OS CSPRNG and are stored only as
//! their SHA-256: a fast hash is right for uniformly random 256-bit values, and looking a token up
//! by its hash means no secret is ever compared byte by byte.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use rand::Rng;
use sha2::{Digest, Sha256};

/// A new 256-bit secret, base64url without padding (43 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    UnwrapErr(SysRng).fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The at-rest form of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new record id: 24 alphanumeric characters (about 143 bits), not guessable.
pub fn random_id() -> String {
    random_string(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        24,
    )
}

/// `length` characters drawn uniformly from `alphabet` (at most 256 of them) with the OS CSPRNG.
///
/// Bytes come from one read of the generator (a system call each time: a character at a time cost
/// a record id 24 of them, several per request). Bytes at or above the largest multiple of the
/// alphabet's length are skipped so that every character is equally likely.
pub fn random_string(alphabet: &[u8], length: usize) -> String {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let unbiased_below = 256 / alphabet.len() * alphabet.len();
    let mut out = String::with_capacity(length);
    // Twice the length: for a 62-character alphabet a byte is skipped with p = 1/32, and fewer
    // than half of them usable happens with p ~ 4e-25; then another read follows.
    let mut bytes = vec![0u8; 2 * length];
    while out.len() < length {
        UnwrapErr(SysRng).fill_bytes(&mut bytes);
        let usable = bytes.iter().filter(|&&b| usize::from(b) < unbiased_below);
        for &byte in usable.take(length - out.len()) {
            out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_and_distinct() {
        let a = random_secret();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, random_secret());
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), a);
    }

    #[test]
    fn ids_are_alphanumeric() {
        let id = random_id();
        assert_eq!(id.len(), 24);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, random_id());
    }

    #[test]
    fn ids_use_every_character_about_equally() {
        // 62 characters: a byte taken modulo 62 without the skip would make the first eight
        // (A to H) 5/4 as likely as the rest; over 2,400 ids (57,600 characters, ~929 each)
        // that shows as a gap far beyond chance.
        let mut counts = std::collections::HashMap::new();
        for _ in 0..2_400 {
            for c in random_id().chars() {
                *counts.entry(c).or_insert(0u32) += 1;
            }
        }
        assert_eq!(counts.len(), 62);
        let (least, most) = (
            counts.values().min().unwrap(),
            counts.values().max().unwrap(),
        );
        assert!(*least > 780 && *most < 1_080, "{least}..{most}");
    }
}
