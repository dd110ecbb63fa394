//! `--bare JWKS_FILE`: the limit beside portcullis-verify. The same tokens, only their Ed25519
//! signatures checked with ring against the JWKS keys (no header, claim, time or revocation
//! checks): what any verifier must spend at least.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};

/// A token split once, before timing: the signed bytes, the signature and its key.
pub struct Prepared {
    signed: Vec<u8>,
    signature: Vec<u8>,
    key: Vec<u8>,
}

impl Prepared {
    pub fn verify(&self) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.key)
            .verify(&self.signed, &self.signature)
            .is_ok()
    }
}

/// The Ed25519 keys of a JWKS document, by `kid`.
pub fn ed25519_keys(jwks: &str) -> Result<HashMap<String, Vec<u8>>, String> {
    let doc: serde_json::Value = serde_json::from_str(jwks).map_err(|e| format!("JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for key in doc["keys"].as_array().ok_or("JWKS: no keys array")? {
        if key["kty"] == "OKP" && key["crv"] == "Ed25519" {
            let kid = key["kid"].as_str().ok_or("JWKS: key without kid")?;
            let x = key["x"].as_str().ok_or("JWKS: key without x")?;
            let x = URL_SAFE_NO_PAD
                .decode(x)
                .map_err(|e| format!("JWKS x: {e}"))?;
            keys.insert(kid.to_owned(), x);
        }
    }
    Ok(keys)
}

pub fn prepare(token: &str, keys: &HashMap<String, Vec<u8>>) -> Result<Prepared, String> {
    let (signed, signature) = token.rsplit_once('.').ok_or("not a JWS")?;
    let header = signed.split('.').next().ok_or("not a JWS")?;
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|e| format!("header: {e}"))?,
    )
    .map_err(|e| format!("header: {e}"))?;
    let kid = header["kid"].as_str().ok_or("header without kid")?;
    let key = keys
        .get(kid)
        .ok_or(format!("kid {kid} is not an Ed25519 key of the JWKS"))?;
    Ok(Prepared {
        signed: signed.as_bytes().to_vec(),
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| format!("signature: {e}"))?,
        key: key.clone(),
    })
}
