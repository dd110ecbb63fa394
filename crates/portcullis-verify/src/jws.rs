//! JWS compact serialization: splitting, strict header rules (RFC 8725) and
//! the signature layer.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{snippet, VerifyError};
use crate::jwk::{Alg, Jwk, VerifyingKey};

/// Longest token accepted, in bytes. Portcullis access tokens are well under
/// 1 KiB; the cap bounds the work an attacker can cause.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Longest `kid` accepted, in characters.
pub const MAX_KID_LEN: usize = 128;

/// Header parameters that make a token refused outright: key material or key
/// locations chosen by the sender (RFC 8725 §3.10, ASVS 9.1.3), critical
/// extensions this verifier does not implement (RFC 7515 §4.1.11), nested
/// tokens (`cty`) and JWE parameters.
const FORBIDDEN_HEADERS: &[&str] = &[
    "jku", "x5u", "jwk", "x5c", "crit", "cty", "b64", "enc", "zip", "epk",
];

/// A `kid` is 1..=128 characters of the base64url alphabet (`A-Z a-z 0-9 - _`),
/// which is what RFC 7638 thumbprints look like. No `.`, `/`, `%` or
/// whitespace can reach a lookup.
pub(crate) fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A JSON object whose members are all distinct (RFC 7515 §5.2 step 3 allows
/// refusing duplicates; we do, so that no two parsers can disagree).
pub(crate) struct StrictObject(pub(crate) BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictObject, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom("duplicate member"));
                    }
                    out.insert(k, v);
                }
                Ok(StrictObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

pub(crate) fn b64_json_object(part: &str, what: &str) -> Result<StrictObject, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::Malformed(format!("{what} is not base64url")))?;
    serde_json::from_slice::<StrictObject>(&bytes)
        .map_err(|_| VerifyError::Malformed(format!("{what} is not a JSON object")))
}

/// The three parts of a compact JWS.
pub(crate) struct Parts<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
    /// `BASE64URL(header) . BASE64URL(payload)`, the JWS signing input.
    pub(crate) signing_input: &'a str,
}

pub(crate) fn split(token: &str) -> Result<Parts<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed("token too long".into()));
    }
    let malformed = || VerifyError::Malformed("not a three-part JWS compact serialization".into());
    let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
    if payload.contains('.') {
        return Err(malformed());
    }
    if header.is_empty() || payload.is_empty() {
        return Err(VerifyError::Malformed("empty header or payload".into()));
    }
    Ok(Parts {
        header,
        payload,
        signature,
        signing_input,
    })
}

/// What the header rules leave of a header.
pub(crate) struct Header {
    pub(crate) alg: Alg,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
}

/// Applies the header rules that do not depend on the token's use:
/// the `alg` allow-list and the forbidden parameters. `kid`, if present, must
/// be valid.
pub(crate) fn parse_header(part: &str) -> Result<Header, VerifyError> {
    let StrictObject(h) = b64_json_object(part, "header")?;
    let alg = match h.get("alg") {
        Some(Value::String(a)) => a.as_str(),
        Some(_) => return Err(VerifyError::Malformed("alg is not a string".into())),
        None => return Err(VerifyError::UnsupportedAlgorithm("missing alg".into())),
    };
    let alg = Alg::from_name(alg).ok_or_else(|| VerifyError::UnsupportedAlgorithm(snippet(alg)))?;
    for name in FORBIDDEN_HEADERS {
        if h.contains_key(*name) {
            return Err(VerifyError::ForbiddenHeader((*name).to_string()));
        }
    }
    let kid = match h.get("kid") {
        None => None,
        Some(Value::String(k)) if valid_kid(k) => Some(k.clone()),
        Some(_) => return Err(VerifyError::InvalidKeyId),
    };
    let typ = match h.get("typ") {
        None => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(VerifyError::WrongType),
    };
    Ok(Header { alg, kid, typ })
}

/// RFC 9068 §2.1: `at+jwt`, compared case-insensitively, with or without the
/// `application/` prefix (RFC 7515 §4.1.9).
pub(crate) fn is_access_token_type(typ: Option<&str>) -> bool {
    let Some(t) = typ else { return false };
    let t = match t.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
        _ => t,
    };
    t.eq_ignore_ascii_case("at+jwt")
}

/// Verifies the signature of `parts` with `key`, whose bound algorithm must
/// equal the header's (no algorithm confusion: the algorithm used is always
/// the key's).
pub(crate) fn check_signature(
    parts: &Parts<'_>,
    header_alg: Alg,
    key: &VerifyingKey,
) -> Result<(), VerifyError> {
    if header_alg != key.alg {
        return Err(VerifyError::UnsupportedAlgorithm(format!(
            "{} token for a {} key",
            header_alg.name(),
            key.alg.name()
        )));
    }
    // Both algorithms produce 64-byte signatures (86 base64url characters);
    // anything else, including an empty (stripped) signature, fails here.
    let sig = URL_SAFE_NO_PAD
        .decode(parts.signature)
        .map_err(|_| VerifyError::BadSignature)?;
    if sig.len() != 64 {
        return Err(VerifyError::BadSignature);
    }
    // jsonwebtoken's pure-Rust backend, named rather than taken from its process-wide provider:
    // what checks signatures does not depend on the features or provider the application
    // chose for its own use of jsonwebtoken.
    let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    match (provider.verifier_factory)(&key.alg.jsonwebtoken(), &key.key) {
        Ok(verifier) => verifier
            .verify(parts.signing_input.as_bytes(), &sig)
            .map_err(|_| VerifyError::BadSignature),
        Err(_) => Err(VerifyError::BadSignature),
    }
}

/// Verifies only the signature layer of a compact JWS with one given key and
/// returns the decoded payload bytes.
///
/// The header rules that do not depend on the token's use still apply
/// (`alg` must be `EdDSA` or `ES256` and match the key, no `jku`/`x5u`/`jwk`/
/// `x5c`/`crit`/`cty`, a `kid` if present must be well-formed), but `typ`,
/// `kid` presence and every claim are **not** checked: this is not a token
/// verifier, use [`Verifier::verify`](crate::Verifier::verify) for access
/// tokens. Useful for test vectors and for other Portcullis-signed objects.
pub fn verify_signature_only(jws: &str, jwk: &Jwk) -> Result<Vec<u8>, VerifyError> {
    let parts = split(jws)?;
    let header = parse_header(parts.header)?;
    let key = jwk.to_verifying_key().map_err(VerifyError::Jwks)?;
    check_signature(&parts, header.alg, &key)?;
    URL_SAFE_NO_PAD
        .decode(parts.payload)
        .map_err(|_| VerifyError::Malformed("payload is not base64url".into()))
}
