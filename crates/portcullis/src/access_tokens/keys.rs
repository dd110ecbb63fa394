//! Signing keys for access tokens.
//!
//! Keys live in the database, their private halves sealed with a key derived from the master
//! secret, so every instance signs and publishes the same set. The newest key signs; when a newer
//! one arrives, older keys stay published until every token they signed has expired
//! (`retire_after`), then drop out of the JWKS. Each instance caches the set for a few seconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use super::settings::SigningAlgorithm;
use super::store::{self, StoredKey};
use crate::clock::Clock;
use crate::crypto::keys::Sealer;
use crate::db::{millis, Db};

/// How long an instance trusts its cached key set before re-reading it (ms).
const CACHE_TTL_MS: i64 = 3_000;
/// How long a superseded key stays published: every token it signed must have expired, plus a
/// margin for clock skew and caches (a minute, or one token lifetime if that is shorter).
pub fn publication_after_rotation(access_ttl: Duration) -> Duration {
    access_ttl + access_ttl.min(Duration::from_secs(60))
}

/// The key that signs, parsed once when the key set is loaded: signing a token is then one
/// signature, not a key derivation (jsonwebtoken's `encode` re-reads the PKCS#8 document and
/// re-derives the key pair on every call).
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pair: Pair,
}

enum Pair {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair, SystemRandom),
}

impl SigningKey {
    fn from_pkcs8(kid: &str, alg: Algorithm, pkcs8: &[u8]) -> anyhow::Result<Self> {
        let pair = match alg {
            Algorithm::EdDSA => Pair::Ed25519(
                Ed25519KeyPair::from_pkcs8(pkcs8)
                    .map_err(|_| anyhow::anyhow!("signing key {kid} is no Ed25519 key"))?,
            ),
            _ => {
                let rng = SystemRandom::new();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                    .map_err(|_| anyhow::anyhow!("signing key {kid} is no P-256 key"))?;
                Pair::P256(pair, rng)
            }
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
        })
    }

    /// The JWS signature of `message` (RFC 7515 §5.1: over `header.payload`), raw bytes: 64 for
    /// Ed25519, `r ‖ s` (64) for ES256.
    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        match &self.pair {
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Pair::P256(pair, rng) => pair
                .sign(rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| anyhow::anyhow!("ES256 signing failed")),
        }
    }
}

/// The keys an instance works with: one to sign, all published ones to verify.
pub struct KeySet {
    pub signing: SigningKey,
    pub verifying: HashMap<String, (Algorithm, DecodingKey)>,
    pub jwks: Value,
    /// When it was read (unix ms, on the application clock).
    loaded_at: i64,
}

#[derive(Clone)]
pub struct KeyRing {
    db: Db,
    sealer: Sealer,
    algorithm: SigningAlgorithm,
    clock: Clock,
    current: Arc<RwLock<Arc<KeySet>>>,
    reloading: Arc<tokio::sync::Mutex<()>>,
}

impl KeyRing {
    /// Loads the published keys, creating the first one if there is none.
    pub async fn start(
        db: Db,
        sealer: Sealer,
        algorithm: SigningAlgorithm,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        if store::published_keys(&db, clock.now_ms()).await?.is_empty() {
            create_key(&db, &sealer, algorithm, clock.now_ms()).await?;
        }
        let set = load(&db, &sealer, clock.now_ms()).await?;
        Ok(Self {
            db,
            sealer,
            algorithm,
            clock,
            current: Arc::new(RwLock::new(Arc::new(set))),
            reloading: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The current key set, re-read from the database when the cached one is a few seconds old.
    /// The read happens outside the lock: signing and verifying never wait on the database.
    pub async fn keys(&self) -> Arc<KeySet> {
        let cached = Arc::clone(&*self.current.read().await);
        let now = self.clock.now_ms();
        if (0..CACHE_TTL_MS).contains(&(now - cached.loaded_at)) {
            return cached;
        }
        // One reloader at a time; everyone else keeps using the cached set meanwhile.
        let Ok(_reloading) = self.reloading.try_lock() else {
            return cached;
        };
        match load(&self.db, &self.sealer, now).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.current.write().await = Arc::clone(&fresh);
                fresh
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reload signing keys; keeping the cached set");
                cached
            }
        }
    }

    /// Makes a new key the signing key at once (on this instance; others within seconds).
    pub async fn rotate(&self, access_ttl: Duration) -> anyhow::Result<String> {
        let now = self.clock.now_ms();
        let kid = rotate(&self.db, &self.sealer, self.algorithm, access_ttl, now).await?;
        let fresh = load(&self.db, &self.sealer, now).await?;
        *self.current.write().await = Arc::new(fresh);
        Ok(kid)
    }
}

/// Creates a new key and schedules the retirement of the ones it supersedes.
pub async fn rotate(
    db: &Db,
    sealer: &Sealer,
    algorithm: SigningAlgorithm,
    access_ttl: Duration,
    now: i64,
) -> anyhow::Result<String> {
    let kid = create_key(db, sealer, algorithm, now).await?;
    store::supersede_all_but(
        db,
        &kid,
        now,
        now + millis(publication_after_rotation(access_ttl)),
    )
    .await?;
    tracing::info!(kid, "rotated the access-token signing key");
    Ok(kid)
}

async fn create_key(
    db: &Db,
    sealer: &Sealer,
    algorithm: SigningAlgorithm,
    now: i64,
) -> anyhow::Result<String> {
    let (alg, pkcs8, jwk) = generate(algorithm)?;
    let kid = jwk["kid"]
        .as_str()
        .expect("generated JWKs carry a kid")
        .to_owned();
    let key = StoredKey {
        sealed_key: sealer.seal(&pkcs8, &kid),
        kid: kid.clone(),
        alg: alg.to_owned(),
        public_jwk: jwk.to_string(),
        created_at: now,
    };
    store::insert_key(db, &key).await?;
    Ok(kid)
}

async fn load(db: &Db, sealer: &Sealer, now: i64) -> anyhow::Result<KeySet> {
    let keys = store::published_keys(db, now).await?;
    let mut verifying = HashMap::new();
    let mut published = Vec::new();
    let mut signing = None;
    // Newest first: the first key that is not superseded signs.
    for key in &keys {
        let jwk: Value = serde_json::from_str(&key.public_jwk)?;
        let alg = parse_alg(&key.alg)?;
        verifying.insert(key.kid.clone(), (alg, decoding_key(&jwk)?));
        published.push(jwk);
        if signing.is_none() {
            let pkcs8 = sealer.open(&key.sealed_key, &key.kid).ok_or_else(|| {
                anyhow::anyhow!(
                    "signing key {} does not open with this master secret",
                    key.kid
                )
            })?;
            signing = Some(SigningKey::from_pkcs8(&key.kid, alg, &pkcs8)?);
        }
    }
    Ok(KeySet {
        signing: signing.ok_or_else(|| anyhow::anyhow!("no signing key is published"))?,
        verifying,
        jwks: json!({ "keys": published }),
        loaded_at: now,
    })
}

fn parse_alg(alg: &str) -> anyhow::Result<Algorithm> {
    match alg {
        "EdDSA" => Ok(Algorithm::EdDSA),
        "ES256" => Ok(Algorithm::ES256),
        other => anyhow::bail!("unsupported signing algorithm {other}"),
    }
}

fn decoding_key(jwk: &Value) -> anyhow::Result<DecodingKey> {
    let text = |name: &str| {
        jwk[name]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("JWK without {name}"))
    };
    Ok(match text("kty")? {
        "OKP" => DecodingKey::from_ed_components(text("x")?)?,
        "EC" => DecodingKey::from_ec_components(text("x")?, text("y")?)?,
        other => anyhow::bail!("unsupported key type {other}"),
    })
}

/// A new key pair: (alg, PKCS#8 private key, public JWK with its RFC 7638 thumbprint as kid).
fn generate(algorithm: SigningAlgorithm) -> anyhow::Result<(&'static str, Vec<u8>, Value)> {
    let rng = SystemRandom::new();
    let failed = |_| anyhow::anyhow!("key generation failed");
    match algorithm {
        SigningAlgorithm::EdDsa => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                .map_err(|_| anyhow::anyhow!("bad Ed25519 key"))?;
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            let mut jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
            finish_jwk(&mut jwk, "EdDSA");
            Ok(("EdDSA", pkcs8.as_ref().to_vec(), jwk))
        }
        SigningAlgorithm::Es256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?;
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .map_err(|_| anyhow::anyhow!("bad P-256 key"))?;
            // Uncompressed point: 0x04 ‖ x ‖ y.
            let point = pair.public_key().as_ref();
            let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
            let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
            let mut jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
            finish_jwk(&mut jwk, "ES256");
            Ok(("ES256", pkcs8.as_ref().to_vec(), jwk))
        }
    }
}

fn finish_jwk(jwk: &mut Value, alg: &str) {
    let kid = thumbprint(jwk);
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(alg);
    jwk["use"] = json!("sig");
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
pub fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str() {
        Some("OKP") => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk["crv"].as_str().unwrap_or_default(),
            jwk["x"].as_str().unwrap_or_default()
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap_or_default(),
            jwk["x"].as_str().unwrap_or_default(),
            jwk["y"].as_str().unwrap_or_default()
        ),
    };
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 Appendix A.3.
    #[test]
    fn rfc8037_thumbprint() {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            thumbprint(&jwk),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    /// RFC 8037 Appendix A.4: the example JWS verifies with the example public key.
    #[test]
    fn rfc8037_ed25519_signature_verifies() {
        let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        let (message, signature) = jws.rsplit_once('.').unwrap();
        let key =
            DecodingKey::from_ed_components("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        assert!(jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &key,
            Algorithm::EdDSA
        )
        .unwrap());
        assert!(
            !jsonwebtoken::crypto::verify(signature, b"tampered", &key, Algorithm::EdDSA).unwrap()
        );
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let (alg, pkcs8, jwk) = generate(algorithm).unwrap();
            let alg = parse_alg(alg).unwrap();
            let signer = SigningKey::from_pkcs8("kid", alg, &pkcs8).unwrap();
            let signature = URL_SAFE_NO_PAD.encode(signer.sign(b"message").unwrap());
            let decoding = decoding_key(&jwk).unwrap();
            assert!(jsonwebtoken::crypto::verify(&signature, b"message", &decoding, alg).unwrap());
            assert!(!jsonwebtoken::crypto::verify(&signature, b"massage", &decoding, alg).unwrap());
            assert_eq!(jwk["kid"].as_str().unwrap(), thumbprint(&jwk));
        }
    }
}
