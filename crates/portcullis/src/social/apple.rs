//! Apple's client secret: an ES256 JWT signed with the team's `.p8` key (`iss` the team id, `sub`
//! the client id, `aud` Apple), valid for at most six months. It is made when first needed and
//! made again a day before it expires.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::providers::Provider;
use crate::settings::ExposeSecret;

/// Apple accepts at most six months; this is a little less.
const LIFETIME_SECS: i64 = 180 * 86_400;
/// Renewed this long before it expires.
const RENEW_BEFORE_SECS: i64 = 86_400;
const APPLE_AUDIENCE: &str = "https://appleid.apple.com";

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// The current client secret, renewed when it is about to expire.
pub fn client_secret(provider: &Provider, now: i64) -> Result<String, String> {
    let mut cached = provider
        .apple_secret
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((secret, expires)) = cached.as_ref() {
        if now < expires - RENEW_BEFORE_SECS {
            return Ok(secret.clone());
        }
    }
    let key = provider
        .settings
        .apple_key
        .as_ref()
        .ok_or("no Apple key configured")?;
    let secret = make(
        key.private_key_pem.expose_secret().as_bytes(),
        &key.key_id,
        &key.team_id,
        &provider.settings.client_id,
        now,
    )?;
    *cached = Some((secret.clone(), now + LIFETIME_SECS));
    Ok(secret)
}

/// Signs a client secret JWT.
pub fn make(
    pem: &[u8],
    key_id: &str,
    team_id: &str,
    client_id: &str,
    now: i64,
) -> Result<String, String> {
    let key = EncodingKey::from_ec_pem(pem).map_err(|e| format!("Apple private key: {e}"))?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    let claims = Claims {
        iss: team_id,
        sub: client_id,
        aud: APPLE_AUDIENCE,
        iat: now,
        exp: now + LIFETIME_SECS,
    };
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("Apple client secret: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    /// A P-256 key made for this test only (PKCS#8, as Apple's `.p8` files are).
    fn key_pair() -> (String, String) {
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let pem = |label: &str, der: &[u8]| {
            use base64::Engine;
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                lines.join("\n")
            )
        };
        // SubjectPublicKeyInfo for a P-256 point: the fixed prefix, then the uncompressed point.
        let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        spki.extend_from_slice(pair.public_key().as_ref());
        (pem("PRIVATE KEY", pkcs8.as_ref()), pem("PUBLIC KEY", &spki))
    }

    #[test]
    fn the_client_secret_verifies_with_the_public_half() {
        let (private, public) = key_pair();
        let now = 1_700_000_000;
        let jwt = make(
            private.as_bytes(),
            "KEY123",
            "TEAM456",
            "com.example.web",
            now,
        )
        .unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("KEY123"));
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.set_audience(&[APPLE_AUDIENCE]);
        validation.set_issuer(&["TEAM456"]);
        let key = DecodingKey::from_ec_pem(public.as_bytes()).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(&jwt, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "com.example.web");
        assert_eq!(data.claims["exp"], now + LIFETIME_SECS);
        let (_, other_public) = key_pair();
        let other = DecodingKey::from_ec_pem(other_public.as_bytes()).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&jwt, &other, &validation).is_err());
    }
}
