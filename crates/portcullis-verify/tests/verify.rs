//! Token checks: algorithms, headers, keys, signature, claims, JWKS refetch.

mod common;

use std::time::Duration;

use common::*;
use portcullis_verify::{Verifier, VerifierConfig, VerifyError};
use serde_json::{json, Value};

async fn setup() -> (Issuer, Signer, Signer, Verifier) {
    let (issuer, ed, ec) = issuer_with_keys().await;
    let verifier = Verifier::new(issuer.config()).await.unwrap();
    (issuer, ed, ec, verifier)
}

#[tokio::test]
async fn valid_eddsa_token_verifies() {
    let (issuer, ed, _, verifier) = setup().await;
    let c = claims(&issuer.url);
    let got = verifier.verify(&ed.token(&c)).await.unwrap();
    assert_eq!(got.iss, issuer.url);
    assert_eq!(got.sub, c["sub"].as_str().unwrap());
    assert_eq!(got.sid, c["sid"].as_str().unwrap());
    assert_eq!(got.aud, vec![issuer.url.clone()]);
    assert_eq!(got.exp, c["exp"].as_i64().unwrap());
    assert_eq!(got.email.as_deref(), Some("ada@example.com"));
    assert!(got.email_verified);
    assert_eq!(got.role.as_deref(), Some("user"));
    // Claims serialise back with a single audience as a string.
    assert_eq!(
        serde_json::to_value(&got).unwrap()["aud"],
        json!(issuer.url)
    );
}

#[tokio::test]
async fn valid_es256_token_verifies() {
    let (issuer, _, ec, verifier) = setup().await;
    let c = claims(&issuer.url);
    let got = verifier.verify(&ec.token(&c)).await.unwrap();
    assert_eq!(got.sub, c["sub"].as_str().unwrap());
}

#[tokio::test]
async fn token_made_by_jsonwebtoken_encode_verifies() {
    let (issuer, _, _, verifier) = setup().await;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let jwk: portcullis_verify::Jwk = serde_json::from_value(json!({
        "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()),
    }))
    .unwrap();
    let kid = jwk.thumbprint().unwrap();
    let mut published = serde_json::to_value(&jwk).unwrap();
    published["kid"] = kid.clone().into();
    issuer.publish(published);

    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid);
    let token = jsonwebtoken::encode(
        &header,
        &claims(&issuer.url),
        &jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
    )
    .unwrap();
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn alg_none_in_any_spelling_is_refused() {
    let (issuer, ed, _, verifier) = setup().await;
    let payload = b64_json(&claims(&issuer.url));
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64_json(&json!({"alg": alg, "typ": "at+jwt", "kid": ed.kid}));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
            // A real signature over the same input does not help either.
            ed.sign_raw(&header, &payload),
        ] {
            let err = verifier.verify(&token).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    VerifyError::UnsupportedAlgorithm(_) | VerifyError::Malformed(_)
                ),
                "{alg}: {err:?}"
            );
        }
        let err = verifier
            .verify(&format!("{header}.{payload}."))
            .await
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::UnsupportedAlgorithm(_)),
            "{err:?}"
        );
    }
    // A missing or non-string alg is refused too.
    for header in [
        json!({"typ": "at+jwt", "kid": ed.kid}),
        json!({"alg": null, "typ": "at+jwt", "kid": ed.kid}),
        json!({"alg": ["EdDSA"], "typ": "at+jwt", "kid": ed.kid}),
    ] {
        let token = ed.sign_raw(&b64_json(&header), &payload);
        assert!(verifier.verify(&token).await.is_err(), "{header}");
    }
}

#[tokio::test]
async fn hmac_signed_with_the_public_key_is_refused() {
    let (issuer, ed, ec, verifier) = setup().await;
    let payload = b64_json(&claims(&issuer.url));
    for signer in [&ed, &ec] {
        // The classic confusion: the public key (raw, or as its JWK text) as an
        // HMAC secret.
        let secrets = [
            signer.public.clone(),
            serde_json::to_vec(&signer.jwk).unwrap(),
        ];
        for (alg, jalg) in [
            ("HS256", jsonwebtoken::Algorithm::HS256),
            ("HS384", jsonwebtoken::Algorithm::HS384),
            ("HS512", jsonwebtoken::Algorithm::HS512),
        ] {
            for secret in &secrets {
                let header = b64_json(&json!({"alg": alg, "typ": "at+jwt", "kid": signer.kid}));
                let input = format!("{header}.{payload}");
                let sig = jsonwebtoken::crypto::sign(
                    input.as_bytes(),
                    &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
                    jalg,
                )
                .unwrap();
                let err = verifier
                    .verify(&format!("{input}.{sig}"))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, VerifyError::UnsupportedAlgorithm(_)),
                    "{alg}: {err:?}"
                );
            }
        }
    }
    // Every other JWA name is refused before any key is used.
    for alg in [
        "RS256", "RS512", "PS256", "ES384", "ES512", "Ed25519", "eddsa", "es256", "",
    ] {
        let header = b64_json(&json!({"alg": alg, "typ": "at+jwt", "kid": ed.kid}));
        let token = ed.sign_raw(&header, &payload);
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(
            matches!(err, VerifyError::UnsupportedAlgorithm(_)),
            "{alg}: {err:?}"
        );
    }
}

#[tokio::test]
async fn header_alg_must_match_the_keys_alg() {
    let (issuer, ed, ec, verifier) = setup().await;
    let payload = b64_json(&claims(&issuer.url));
    // ES256-signed token claiming the Ed25519 key, and the reverse.
    let h = b64_json(&json!({"alg": "ES256", "typ": "at+jwt", "kid": ed.kid}));
    let err = verifier
        .verify(&ec.sign_raw(&h, &payload))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::UnsupportedAlgorithm(_)),
        "{err:?}"
    );
    let h = b64_json(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ec.kid}));
    let err = verifier
        .verify(&ed.sign_raw(&h, &payload))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::UnsupportedAlgorithm(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn stripped_or_foreign_signature_is_refused() {
    let (issuer, ed, ec, verifier) = setup().await;
    for signer in [&ed, &ec] {
        let token = signer.token(&claims(&issuer.url));
        let (input, _sig) = token.rsplit_once('.').unwrap();
        let err = verifier.verify(&format!("{input}.")).await.unwrap_err();
        assert_eq!(err, VerifyError::BadSignature);
        let err = verifier.verify(input).await.unwrap_err();
        assert!(matches!(err, VerifyError::Malformed(_)), "{err:?}");
        // 64 zero bytes, and a signature with a trailing extra part.
        let zeros = b64([0u8; 64]);
        let err = verifier
            .verify(&format!("{input}.{zeros}"))
            .await
            .unwrap_err();
        assert_eq!(err, VerifyError::BadSignature);
        let err = verifier.verify(&format!("{token}.x")).await.unwrap_err();
        assert!(matches!(err, VerifyError::Malformed(_)), "{err:?}");
    }
    // Signed by another key under a published kid.
    let impostor = Signer::ed25519();
    let token = impostor.sign(&ed.header(), &claims(&issuer.url));
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        VerifyError::BadSignature
    );
}

#[tokio::test]
async fn tampered_payload_or_header_is_refused() {
    let (issuer, ed, ec, verifier) = setup().await;
    for signer in [&ed, &ec] {
        let c = claims(&issuer.url);
        let token = signer.token(&c);
        verifier.verify(&token).await.unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        let mut evil = c.clone();
        evil["role"] = "admin".into();
        let forged = format!("{}.{}.{}", parts[0], b64_json(&evil), parts[2]);
        assert_eq!(
            verifier.verify(&forged).await.unwrap_err(),
            VerifyError::BadSignature
        );

        let mut header = signer.header();
        header["typ"] = "AT+JWT".into();
        let forged = format!("{}.{}.{}", b64_json(&header), parts[1], parts[2]);
        assert_eq!(
            verifier.verify(&forged).await.unwrap_err(),
            VerifyError::BadSignature
        );

        // Flip one bit of the signature.
        let mut sig =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[2])
                .unwrap();
        sig[10] ^= 1;
        let forged = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
        assert_eq!(
            verifier.verify(&forged).await.unwrap_err(),
            VerifyError::BadSignature
        );
    }
}

#[tokio::test]
async fn bad_kids_are_refused_before_any_lookup() {
    let (issuer, ed, _, verifier) = setup().await;
    let payload = b64_json(&claims(&issuer.url));
    let hits = issuer.jwks_hits();
    let long = "a".repeat(500);
    let bad: Vec<Value> = vec![
        json!("../../../etc/passwd"),
        json!(format!("../{}", ed.kid)),
        json!("a/b"),
        json!("a.b"),
        json!("a b"),
        json!("%2e%2e"),
        json!("kid\u{0}"),
        json!("ключ"),
        json!(long),
        json!("a".repeat(129)),
        json!(""),
        json!(42),
        json!(null),
    ];
    for kid in bad {
        let header = b64_json(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}));
        let err = verifier
            .verify(&ed.sign_raw(&header, &payload))
            .await
            .unwrap_err();
        assert_eq!(err, VerifyError::InvalidKeyId, "{kid}");
    }
    let header = b64_json(&json!({"alg": "EdDSA", "typ": "at+jwt"}));
    let err = verifier
        .verify(&ed.sign_raw(&header, &payload))
        .await
        .unwrap_err();
    assert_eq!(err, VerifyError::InvalidKeyId);
    // None of these caused a JWKS fetch.
    assert_eq!(issuer.jwks_hits(), hits);
    // 128 characters is allowed (then unknown).
    let header = b64_json(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "a".repeat(128)}));
    let err = verifier
        .verify(&ed.sign_raw(&header, &payload))
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::UnknownKey(_)), "{err:?}");
}

#[tokio::test]
async fn key_carrying_headers_are_refused_even_when_correctly_signed() {
    let (issuer, ed, _, verifier) = setup().await;
    let extra: Vec<(&str, Value)> = vec![
        ("jku", json!(format!("{}/api/auth/jwks", issuer.url))),
        ("jwk", ed.jwk.clone()),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("cty", json!("JWT")),
    ];
    for (name, value) in extra {
        let mut header = ed.header();
        header[name] = value;
        let err = verifier
            .verify(&ed.sign(&header, &claims(&issuer.url)))
            .await
            .unwrap_err();
        assert_eq!(err, VerifyError::ForbiddenHeader(name.to_string()));
    }
}

#[tokio::test]
async fn only_access_token_types_are_accepted() {
    let (issuer, ed, _, verifier) = setup().await;
    for typ in [
        "at+jwt",
        "AT+JWT",
        "At+Jwt",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let mut header = ed.header();
        header["typ"] = typ.into();
        verifier
            .verify(&ed.sign(&header, &claims(&issuer.url)))
            .await
            .unwrap_or_else(|e| panic!("{typ}: {e}"));
    }
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("refresh+jwt"),
        json!("id_token+jwt"),
        json!("application/jwt"),
        json!("at+jwt "),
        json!("xat+jwt"),
        json!("application/"),
        json!("applicationé/at+jwt"),
        json!(1),
    ] {
        let mut header = ed.header();
        header["typ"] = typ.clone();
        let err = verifier
            .verify(&ed.sign(&header, &claims(&issuer.url)))
            .await
            .unwrap_err();
        assert_eq!(err, VerifyError::WrongType, "{typ}");
    }
    let mut header = ed.header();
    header.as_object_mut().unwrap().remove("typ");
    let err = verifier
        .verify(&ed.sign(&header, &claims(&issuer.url)))
        .await
        .unwrap_err();
    assert_eq!(err, VerifyError::WrongType);
}

#[tokio::test]
async fn times_are_enforced_with_a_small_leeway() {
    let (issuer, ed, _, verifier) = setup().await;
    assert_eq!(verifier.config().leeway, Duration::from_secs(5));
    let t = now();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(&issuer.url);
        f(&mut c);
        ed.token(&c)
    };
    let cases: Vec<(Value, Result<(), VerifyError>)> = vec![
        (
            json!({"exp": t - 60, "iat": t - 960, "nbf": t - 960}),
            Err(VerifyError::Expired),
        ),
        (json!({"exp": t - 10}), Err(VerifyError::Expired)),
        (json!({"exp": t - 2}), Ok(())),
        (json!({"nbf": t + 60}), Err(VerifyError::NotYetValid)),
        (json!({"nbf": t + 10}), Err(VerifyError::NotYetValid)),
        (json!({"nbf": t + 2}), Ok(())),
        (json!({"iat": t + 60}), Err(VerifyError::NotYetValid)),
        (json!({"iat": t + 2}), Ok(())),
        (json!({"exp": (t + 900) as f64 + 0.5}), Ok(())),
        (
            json!({"exp": "tomorrow"}),
            Err(VerifyError::Malformed("exp is not a number".into())),
        ),
    ];
    for (patch, expected) in cases {
        let token = with(&|c| {
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
        });
        let got = verifier.verify(&token).await.map(|_| ());
        assert_eq!(got, expected, "{patch}");
    }
    // Leeway is configurable.
    let mut config = issuer.config();
    config.leeway = Duration::ZERO;
    let strict = Verifier::new(config).await.unwrap();
    let token = with(&|c| c["exp"] = (t - 2).into());
    assert_eq!(
        strict.verify(&token).await.unwrap_err(),
        VerifyError::Expired
    );
}

#[tokio::test]
async fn issuer_and_audience_must_match_exactly() {
    let (issuer, ed, _, verifier) = setup().await;
    let url = issuer.url.clone();
    let cases: Vec<(&str, Value, Result<(), VerifyError>)> = vec![
        (
            "iss",
            json!("http://evil.example"),
            Err(VerifyError::WrongIssuer),
        ),
        (
            "iss",
            json!(format!("{url}/")),
            Err(VerifyError::WrongIssuer),
        ),
        (
            "iss",
            json!(url.to_uppercase()),
            Err(VerifyError::WrongIssuer),
        ),
        ("iss", json!([url.clone()]), Err(VerifyError::WrongIssuer)),
        ("iss", Value::Null, Err(VerifyError::WrongIssuer)),
        (
            "aud",
            json!("https://other-api.example"),
            Err(VerifyError::WrongAudience),
        ),
        (
            "aud",
            json!(format!("{url}/")),
            Err(VerifyError::WrongAudience),
        ),
        ("aud", json!(["https://a.example", url.clone()]), Ok(())),
        (
            "aud",
            json!(["https://a.example"]),
            Err(VerifyError::WrongAudience),
        ),
        ("aud", json!([]), Err(VerifyError::WrongAudience)),
        ("aud", Value::Null, Err(VerifyError::WrongAudience)),
    ];
    for (claim, value, expected) in cases {
        let mut c = claims(&url);
        c[claim] = value.clone();
        let got = verifier.verify(&ed.token(&c)).await.map(|_| ());
        assert_eq!(got, expected, "{claim} = {value}");
    }
    // A service with its own audience refuses tokens for the default one.
    let mut config = issuer.config();
    config.audience = "https://api.example".into();
    let api = Verifier::new(config).await.unwrap();
    assert_eq!(
        api.verify(&ed.token(&claims(&url))).await.unwrap_err(),
        VerifyError::WrongAudience
    );
    let mut c = claims(&url);
    c["aud"] = "https://api.example".into();
    api.verify(&ed.token(&c)).await.unwrap();
}

#[tokio::test]
async fn required_claims_and_json_shape() {
    let (issuer, ed, _, verifier) = setup().await;
    for (claim, err) in [
        ("sub", VerifyError::MissingClaim("sub")),
        ("sid", VerifyError::MissingClaim("sid")),
        ("exp", VerifyError::MissingClaim("exp")),
        ("iat", VerifyError::MissingClaim("iat")),
    ] {
        let mut c = claims(&issuer.url);
        c.as_object_mut().unwrap().remove(claim);
        assert_eq!(verifier.verify(&ed.token(&c)).await.unwrap_err(), err);
        c[claim] = "".into();
        assert!(
            verifier.verify(&ed.token(&c)).await.is_err(),
            "empty {claim}"
        );
    }
    // Duplicate members (which parser wins?) are refused in header and payload.
    let c = claims(&issuer.url);
    let body = serde_json::to_string(&c).unwrap();
    let dup_payload = format!("{},\"sub\":\"someone-else\"}}", &body[..body.len() - 1]);
    let token = ed.sign_raw(&b64_json(&ed.header()), &b64(dup_payload));
    assert!(matches!(
        verifier.verify(&token).await.unwrap_err(),
        VerifyError::Malformed(_)
    ));
    let dup_header = format!(
        r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","alg":"none"}}"#,
        ed.kid
    );
    let token = ed.sign_raw(&b64(dup_header), &b64_json(&c));
    assert!(matches!(
        verifier.verify(&token).await.unwrap_err(),
        VerifyError::Malformed(_)
    ));
    // Not JSON objects; padded base64; oversized.
    for token in [
        ed.sign_raw(&b64("[1,2]"), &b64_json(&c)),
        ed.sign_raw(&b64_json(&ed.header()), &b64("\"just a string\"")),
        ed.sign_raw(&format!("{}==", b64_json(&ed.header())), &b64_json(&c)),
        "a.b.c".to_string(),
        "".to_string(),
        "..".to_string(),
        format!("{}.{}.{}", b64_json(&ed.header()), "A".repeat(9000), "A"),
    ] {
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(
            matches!(err, VerifyError::Malformed(_)),
            "{token:.40}: {err:?}"
        );
    }
}

#[tokio::test]
async fn unknown_kid_triggers_one_refetch_that_finds_a_new_key() {
    let (issuer, _, _, verifier) = setup().await;
    assert_eq!(issuer.jwks_hits(), 1);
    let rotated = Signer::ed25519();
    issuer.publish(rotated.jwk.clone());
    // The cache-only path never fetches.
    let token = rotated.token(&claims(&issuer.url));
    assert!(matches!(
        verifier.verify_cached(&token).unwrap_err(),
        VerifyError::UnknownKey(_)
    ));
    assert_eq!(issuer.jwks_hits(), 1);
    // Many concurrent requests with the new kid share one refetch.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let v = verifier.clone();
            let t = rotated.token(&claims(&issuer.url));
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(issuer.jwks_hits(), 2);
    assert!(verifier.key_ids().contains(&rotated.kid));
}

#[tokio::test]
async fn unpublished_kid_is_refused_and_refetches_are_rate_bounded() {
    let (issuer, _, _, verifier) = setup().await;
    let stranger = Signer::ed25519();
    for _ in 0..20 {
        let err = verifier
            .verify(&stranger.token(&claims(&issuer.url)))
            .await
            .unwrap_err();
        assert_eq!(err, VerifyError::UnknownKey(stranger.kid.clone()));
    }
    // The initial fetch plus a single refetch.
    assert_eq!(issuer.jwks_hits(), 2);

    // With a short interval, the next refetch happens once it has passed.
    let mut config = issuer.config();
    config.jwks_refetch_min_interval = Duration::from_millis(300);
    let quick = Verifier::new(config).await.unwrap();
    let base = issuer.jwks_hits();
    for _ in 0..5 {
        assert!(quick
            .verify(&stranger.token(&claims(&issuer.url)))
            .await
            .is_err());
    }
    assert_eq!(issuer.jwks_hits(), base + 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..5 {
        assert!(quick
            .verify(&stranger.token(&claims(&issuer.url)))
            .await
            .is_err());
    }
    assert_eq!(issuer.jwks_hits(), base + 2);
}

#[tokio::test]
async fn withdrawn_key_stops_verifying_after_background_refresh() {
    let (issuer, ed, ec, _) = setup().await;
    let mut config = issuer.config();
    config.jwks_refresh_interval = Duration::from_millis(100);
    config.jwks_refetch_min_interval = Duration::from_secs(60);
    let verifier = Verifier::new(config).await.unwrap();
    verifier
        .verify(&ed.token(&claims(&issuer.url)))
        .await
        .unwrap();
    issuer.unpublish(&ed.kid);
    let gone = within(Duration::from_secs(2), || {
        let v = verifier.clone();
        let t = ed.token(&claims(&issuer.url));
        async move { matches!(v.verify_cached(&t), Err(VerifyError::UnknownKey(_))) }
    })
    .await;
    assert!(gone.is_some(), "withdrawn key still accepted");
    verifier
        .verify(&ec.token(&claims(&issuer.url)))
        .await
        .unwrap();
}

#[tokio::test]
async fn jwks_problems_fail_construction() {
    // Unreachable.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = Verifier::new(VerifierConfig::new(dead)).await.unwrap_err();
    assert!(matches!(err, VerifyError::Jwks(_)), "{err:?}");

    // No usable key: RSA, symmetric, a leaked private key, mismatched alg,
    // wrong size, bad kid.
    let issuer = Issuer::start().await;
    let ed = Signer::ed25519();
    issuer.publish(json!({"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB", "alg": "RS256"}));
    issuer.publish(json!({"kty": "oct", "kid": "hmac", "k": b64(b"secret"), "alg": "HS256"}));
    let mut private = ed.jwk.clone();
    private["d"] = b64([7u8; 32]).into();
    issuer.publish(private);
    let mut mismatched = ed.jwk.clone();
    mismatched["alg"] = "ES256".into();
    mismatched["kid"] = "mismatched".into();
    issuer.publish(mismatched);
    let mut short = ed.jwk.clone();
    short["x"] = b64([1u8; 31]).into();
    short["kid"] = "short".into();
    issuer.publish(short);
    let mut enc = ed.jwk.clone();
    enc["use"] = "enc".into();
    enc["kid"] = "enc".into();
    issuer.publish(enc);
    let mut badkid = ed.jwk.clone();
    badkid["kid"] = "../x".into();
    issuer.publish(badkid);
    let err = Verifier::new(issuer.config()).await.unwrap_err();
    assert_eq!(
        err,
        VerifyError::Jwks("no usable EdDSA or ES256 key".into())
    );

    // Usable keys beside unusable ones are enough.
    let good = Signer::es256();
    issuer.publish(good.jwk.clone());
    let v = Verifier::new(issuer.config()).await.unwrap();
    assert_eq!(v.key_ids(), vec![good.kid.clone()]);

    // Redirects are not followed.
    let mut config = issuer.config();
    config.jwks_url = format!("{}/redirect/jwks", issuer.url);
    let err = Verifier::new(config).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::Jwks(ref m) if m.contains("307")),
        "{err:?}"
    );

    // The well-known alias works the same.
    let mut config = issuer.config();
    config.jwks_url = format!("{}/.well-known/jwks.json", issuer.url);
    Verifier::new(config).await.unwrap();

    // Bad configuration.
    let err = Verifier::new(VerifierConfig::new("ftp://x"))
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::Config(_)), "{err:?}");
    let err = Verifier::new(VerifierConfig::new("")).await.unwrap_err();
    assert!(matches!(err, VerifyError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn config_defaults_follow_the_issuer() {
    let c = VerifierConfig::new("http://127.0.0.1:8080/");
    assert_eq!(c.issuer, "http://127.0.0.1:8080");
    assert_eq!(c.audience, "http://127.0.0.1:8080");
    assert_eq!(c.jwks_url, "http://127.0.0.1:8080/api/auth/jwks");
    assert_eq!(
        c.revocations_url,
        "http://127.0.0.1:8080/api/auth/revocations"
    );
    assert_eq!(c.leeway, Duration::from_secs(5));
    assert!(c.follow_revocations);
    assert_eq!(c.poll_interval, Duration::from_millis(500));
    assert_eq!(c.jwks_refetch_min_interval, Duration::from_secs(10));
    assert!(c.revocation_retention >= Duration::from_secs(900 + 5));
    let mut c = c;
    c.feed_token = Some("do-not-print".into());
    assert!(!format!("{c:?}").contains("do-not-print"));
}

#[tokio::test]
async fn the_rfc8037_vector_is_not_an_access_token() {
    // Correctly signed by a published key, but no typ, kid or claims.
    let issuer = Issuer::start().await;
    issuer.publish(json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "rfc8037",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    }));
    let verifier = Verifier::new(issuer.config()).await.unwrap();
    let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    assert_eq!(
        verifier.verify(jws).await.unwrap_err(),
        VerifyError::WrongType
    );
}
