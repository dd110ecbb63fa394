//! JSON Web Keys (RFC 7517) as published by Portcullis, and their binding to
//! one signature algorithm.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};

use crate::error::VerifyError;

/// The signature algorithms this crate accepts (RFC 8725 §3.1 allow-list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// Ed25519 (RFC 8037), `kty: OKP`, `crv: Ed25519`.
    EdDSA,
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4), `kty: EC`, `crv: P-256`.
    ES256,
}

impl Alg {
    /// Parses a header or JWK `alg` value. Exact, case-sensitive match
    /// (JWA names are case-sensitive); anything else is refused.
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "EdDSA" => Some(Alg::EdDSA),
            "ES256" => Some(Alg::ES256),
            _ => None,
        }
    }

    /// The JWA name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::EdDSA => "EdDSA",
            Alg::ES256 => "ES256",
        }
    }

    pub(crate) fn jsonwebtoken(self) -> Algorithm {
        match self {
            Alg::EdDSA => Algorithm::EdDSA,
            Alg::ES256 => Algorithm::ES256,
        }
    }
}

/// A public JSON Web Key as found in a JWKS (only the members this crate uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP` or `EC`.
    pub kty: String,
    /// Curve: `Ed25519` or `P-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public key (OKP) or x coordinate (EC), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// y coordinate (EC), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The algorithm the key is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; only `sig` (or absent) keys are used.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    /// The RFC 7638 JWK thumbprint (SHA-256, base64url), computed over the
    /// required members only. Portcullis uses it as the `kid`.
    pub fn thumbprint(&self) -> Result<String, VerifyError> {
        let canonical = match (self.kty.as_str(), &self.crv, &self.x, &self.y) {
            // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
            ("OKP", Some(crv), Some(x), _) => serde_json::json!({"crv": crv, "kty": "OKP", "x": x}),
            ("EC", Some(crv), Some(x), Some(y)) => {
                serde_json::json!({"crv": crv, "kty": "EC", "x": x, "y": y})
            }
            _ => return Err(VerifyError::Jwks("unsupported key for thumbprint".into())),
        };
        // Written in sorted order, so the bytes are canonical whether or not
        // serde_json's `preserve_order` feature is on somewhere in the build.
        let bytes = serde_json::to_vec(&canonical).expect("JSON of strings");
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        Ok(URL_SAFE_NO_PAD.encode(digest.as_ref()))
    }

    /// The algorithm this key may be used with, derived from `kty`/`crv` and
    /// cross-checked against `alg` when present. Refuses private keys,
    /// unsupported types and keys of the wrong size.
    pub(crate) fn to_verifying_key(&self) -> Result<VerifyingKey, String> {
        if let Some(u) = &self.use_ {
            if u != "sig" {
                return Err(format!("use {u:?} is not sig"));
            }
        }
        let (alg, key) = match (self.kty.as_str(), self.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                let x = self.x.as_deref().ok_or("missing x")?;
                exact_len(x, 32, "x")?;
                let key = DecodingKey::from_ed_components(x).map_err(|e| e.to_string())?;
                (Alg::EdDSA, key)
            }
            ("EC", Some("P-256")) => {
                let x = self.x.as_deref().ok_or("missing x")?;
                let y = self.y.as_deref().ok_or("missing y")?;
                exact_len(x, 32, "x")?;
                exact_len(y, 32, "y")?;
                let key = DecodingKey::from_ec_components(x, y).map_err(|e| e.to_string())?;
                (Alg::ES256, key)
            }
            (kty, crv) => return Err(format!("unsupported key type {kty}/{crv:?}")),
        };
        if let Some(declared) = &self.alg {
            if Alg::from_name(declared) != Some(alg) {
                return Err(format!("alg {declared:?} does not match the key type"));
            }
        }
        Ok(VerifyingKey { alg, key })
    }
}

fn exact_len(b64: &str, len: usize, what: &str) -> Result<(), String> {
    match URL_SAFE_NO_PAD.decode(b64) {
        Ok(bytes) if bytes.len() == len => Ok(()),
        Ok(_) => Err(format!("{what} has the wrong length")),
        Err(_) => Err(format!("{what} is not base64url")),
    }
}

/// A public key bound to exactly one algorithm.
pub(crate) struct VerifyingKey {
    pub(crate) alg: Alg,
    pub(crate) key: DecodingKey,
}

/// Parses a JWKS document into usable keys by `kid`. Keys that are not
/// usable (unsupported type, private parts, wrong size, no or bad `kid`) are
/// skipped with a warning rather than failing the whole set.
pub(crate) fn parse_jwks(
    body: &[u8],
) -> Result<std::collections::HashMap<String, std::sync::Arc<VerifyingKey>>, String> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| format!("invalid JWKS JSON: {e}"))?;
    let mut out = std::collections::HashMap::new();
    for raw in set.keys {
        // A private key must never be published; refuse to use it rather than
        // silently trusting a misconfigured issuer.
        if raw.get("d").is_some() {
            tracing::error!("JWKS contains a private key (member d); key ignored");
            continue;
        }
        let jwk: Jwk = match serde_json::from_value(raw) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "JWKS key ignored: not a JWK");
                continue;
            }
        };
        let Some(kid) = jwk.kid.clone().filter(|k| crate::jws::valid_kid(k)) else {
            tracing::warn!("JWKS key ignored: missing or invalid kid");
            continue;
        };
        match jwk.to_verifying_key() {
            Ok(key) => {
                if out.contains_key(&kid) {
                    tracing::warn!(%kid, "JWKS has a duplicate kid; keeping the first");
                    continue;
                }
                out.insert(kid, std::sync::Arc::new(key));
            }
            Err(reason) => tracing::warn!(%kid, %reason, "JWKS key ignored"),
        }
    }
    Ok(out)
}
