//! Ground truth from RFC 8037 Appendix A (Ed25519).

use portcullis_verify::{verify_signature_only, Jwk, VerifyError};
use serde_json::json;

const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn key() -> Jwk {
    serde_json::from_value(json!({"kty": "OKP", "crv": "Ed25519", "x": X})).unwrap()
}

#[test]
fn a4_signature_verifies() {
    let payload = verify_signature_only(JWS, &key()).unwrap();
    assert_eq!(payload, b"Example of Ed25519 signing");
}

#[test]
fn a4_tampered_or_other_key_is_refused() {
    // Payload "Example of Ed25519 signinG".
    let tampered = JWS.replace("IHNpZ25pbmc", "IHNpZ25pbmH");
    assert_ne!(tampered, JWS);
    assert_eq!(
        verify_signature_only(&tampered, &key()).unwrap_err(),
        VerifyError::BadSignature
    );
    let mut other = key();
    other.x = Some("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a".into());
    assert!(verify_signature_only(JWS, &other).is_err());
    let mut x = key();
    x.x = Some(base64_flip_last(X));
    assert_eq!(
        verify_signature_only(JWS, &x).unwrap_err(),
        VerifyError::BadSignature
    );
    // The key's binding still applies: an Ed25519 key declared for ES256 is unusable.
    let mut mismatched = key();
    mismatched.alg = Some("ES256".into());
    assert!(matches!(
        verify_signature_only(JWS, &mismatched).unwrap_err(),
        VerifyError::Jwks(_)
    ));
}

fn base64_flip_last(s: &str) -> String {
    // Change a middle character: still 32 bytes, another (valid or not) point.
    let mut chars: Vec<char> = s.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn a3_thumbprint() {
    assert_eq!(
        key().thumbprint().unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    // Members other than the required ones do not change it.
    let mut k = key();
    k.kid = Some("whatever".into());
    k.alg = Some("EdDSA".into());
    k.use_ = Some("sig".into());
    assert_eq!(
        k.thumbprint().unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}
