//! Keys derived from the master secret, and sealing of secrets at rest.
//!
//! Each purpose gets its own key through HKDF-SHA256, so a key used for one job (sealing signing
//! keys, MACing refresh tokens, ...) can never be confused with another's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// What a derived key is for; the label is mixed into the derivation.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    SealSigningKeys,
    RefreshTokens,
    SealTotpSecrets,
    /// Social sign-in: PKCE verifiers and nonces in flight, stored provider tokens.
    SealSocial,
    /// The hosted pages' form tokens (CSRF).
    PageForms,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::SealSigningKeys => b"portcullis v1 seal signing keys",
            Purpose::RefreshTokens => b"portcullis v1 refresh tokens",
            Purpose::SealTotpSecrets => b"portcullis v1 seal totp secrets",
            Purpose::SealSocial => b"portcullis v1 seal social secrets",
            Purpose::PageForms => b"portcullis v1 page forms",
        }
    }
}

/// The master secret, able to derive per-purpose keys.
#[derive(Clone)]
pub struct MasterKey {
    prk: hkdf::Prk,
}

impl MasterKey {
    pub fn new(secret: &[u8]) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portcullis");
        Self {
            prk: salt.extract(secret),
        }
    }

    fn derive(&self, purpose: Purpose) -> [u8; 32] {
        let info = [purpose.label()];
        let okm = self
            .prk
            .expand(&info, hkdf::HKDF_SHA256)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        let mut key = [0u8; 32];
        okm.fill(&mut key).expect("filling 32 bytes");
        key
    }

    pub fn sealer(&self, purpose: Purpose) -> Sealer {
        let key = UnboundKey::new(&CHACHA20_POLY1305, &self.derive(purpose))
            .expect("a 32-byte ChaCha20-Poly1305 key");
        Sealer {
            key: std::sync::Arc::new(LessSafeKey::new(key)),
        }
    }

    pub fn mac_key(&self, purpose: Purpose) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.derive(purpose))
    }
}

/// Authenticated encryption of small secrets, bound to a context (`aad`) such as their id.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
}

impl Sealer {
    /// base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("OS randomness");
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .expect("sealing cannot fail for small inputs");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The plaintext, or `None` if the value was tampered with, sealed under another master
    /// secret, or sealed for another context.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN + aead::MAX_TAG_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .ok()?;
        Some(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let master = MasterKey::new(&[7u8; 32]);
        let sealer = master.sealer(Purpose::SealSigningKeys);
        let sealed = sealer.seal(b"private key", "kid-1");
        assert_eq!(sealer.open(&sealed, "kid-1").unwrap(), b"private key");
        assert!(sealer.open(&sealed, "kid-2").is_none());
        let other = MasterKey::new(&[8u8; 32]).sealer(Purpose::SealSigningKeys);
        assert!(other.open(&sealed, "kid-1").is_none());
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(sealer
            .open(std::str::from_utf8(&tampered).unwrap(), "kid-1")
            .is_none());
    }

    #[test]
    fn purposes_get_different_keys() {
        let master = MasterKey::new(&[7u8; 32]);
        assert_ne!(
            master.derive(Purpose::SealSigningKeys),
            master.derive(Purpose::RefreshTokens)
        );
    }
}
