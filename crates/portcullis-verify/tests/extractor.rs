//! The axum extractor answers like an OAuth 2.0 resource server (RFC 6750).
#![cfg(feature = "axum")]

mod common;

use std::time::Duration;

use axum::extract::FromRef;
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use portcullis_verify::{AccessToken, Claims, Verifier, VerifyError};
use serde_json::{json, Value};

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
    name: &'static str,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(s: &AppState) -> Verifier {
        s.verifier.clone()
    }
}

async fn me(AccessToken(claims): AccessToken) -> Json<Claims> {
    Json(claims)
}

async fn maybe(token: Option<AccessToken>) -> String {
    token.map_or("anonymous".into(), |AccessToken(c)| c.sub)
}

async fn serve(verifier: Verifier) -> String {
    let state = AppState {
        verifier,
        name: "api",
    };
    let app = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route(
            "/name",
            get(|axum::extract::State(s): axum::extract::State<AppState>| async move { s.name }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

struct Answer {
    status: u16,
    challenge: Option<String>,
    body: Value,
}

async fn get_with(url: &str, authorization: Option<&str>) -> Answer {
    let mut req = http_client().get(url);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = res.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Answer {
        status,
        challenge,
        body,
    }
}

#[tokio::test]
async fn extractor_accepts_valid_tokens_and_answers_401_with_a_challenge() {
    let (issuer, ed, _) = issuer_with_keys().await;
    let verifier = Verifier::new(issuer.config()).await.unwrap();
    let api = serve(verifier.clone()).await;
    let me_url = format!("{api}/me");

    // Valid.
    let c = claims(&issuer.url);
    let token = ed.token(&c);
    let a = get_with(&me_url, Some(&format!("Bearer {token}"))).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["sub"], c["sub"]);
    assert_eq!(a.body["sid"], c["sid"]);
    let a = get_with(&me_url, Some(&format!("bearer {token}"))).await;
    assert_eq!(a.status, 200, "the scheme is case-insensitive");

    // No credentials: a bare challenge (RFC 6750 §3.1).
    for auth in [
        None,
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer"),
        Some("Bearer "),
    ] {
        let a = get_with(&me_url, auth).await;
        assert_eq!(a.status, 401, "{auth:?}");
        assert_eq!(a.challenge.as_deref(), Some("Bearer"), "{auth:?}");
        assert_eq!(a.body["code"], "UNAUTHORIZED");
    }

    // Invalid token.
    let invalid = [
        "garbage".to_string(),
        format!("{}x", &token[..token.len() - 1]),
        Signer::ed25519().sign(&ed.header(), &c),
    ];
    for bad in invalid {
        let a = get_with(&me_url, Some(&format!("Bearer {bad}"))).await;
        assert_eq!(a.status, 401);
        assert_eq!(
            a.challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
        assert_eq!(a.body["code"], "INVALID_TOKEN");
        assert!(a.body["message"].is_string());
    }

    // Expired.
    let mut old = claims(&issuer.url);
    old["exp"] = json!(now() - 60);
    old["iat"] = json!(now() - 960);
    let a = get_with(&me_url, Some(&format!("Bearer {}", ed.token(&old)))).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenge.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(
        a.body,
        json!({"message": "Access token expired", "code": "TOKEN_EXPIRED"})
    );

    // Revoked.
    issuer.revoke_session(c["sid"].as_str().unwrap());
    within(Duration::from_secs(2), || {
        let v = verifier.clone();
        let t = token.clone();
        async move { v.verify(&t).await == Err(VerifyError::Revoked) }
    })
    .await
    .expect("not revoked");
    let a = get_with(&me_url, Some(&format!("Bearer {token}"))).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenge.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(
        a.body,
        json!({"message": "Access token revoked", "code": "TOKEN_REVOKED"})
    );

    // The app's own state is untouched by the extractor's FromRef.
    assert_eq!(
        get_with(&format!("{api}/name"), None).await.body,
        json!("api")
    );
}

#[tokio::test]
async fn optional_extractor_is_none_without_credentials_but_still_rejects_bad_tokens() {
    let (issuer, ed, _) = issuer_with_keys().await;
    let verifier = Verifier::new(issuer.config()).await.unwrap();
    let api = serve(verifier).await;
    let url = format!("{api}/maybe");
    assert_eq!(get_with(&url, None).await.body, json!("anonymous"));
    let c = claims(&issuer.url);
    let a = get_with(&url, Some(&format!("Bearer {}", ed.token(&c)))).await;
    assert_eq!(a.body, c["sub"]);
    let a = get_with(&url, Some("Bearer nope")).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["code"], "INVALID_TOKEN");
}
