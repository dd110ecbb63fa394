//! A stand-in Portcullis for the tests: a real axum server on 127.0.0.1:0
//! that serves a mutable JWKS and revocation feed and counts the requests,
//! plus Ed25519 / P-256 signers built on ring + jsonwebtoken.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_verify::{Jwk, VerifierConfig};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A plain-HTTP client for the tests. The crate's reqwest has no crypto provider of its own
/// (`rustls-no-provider`; the verifier brings its ring-based TLS configuration), so a default
/// client needs a process-wide one: ring, installed here.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_json(v: &Value) -> String {
    b64(serde_json::to_vec(v).unwrap())
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A unique id for sessions and users.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

#[derive(Default)]
struct Shared {
    keys: Mutex<Vec<Value>>,
    revocations: Mutex<Vec<Value>>,
    next_cursor: AtomicU64,
    jwks_hits: AtomicUsize,
    feed_hits: AtomicUsize,
    feed_down: AtomicBool,
    feed_token: Mutex<Option<String>>,
    page_limit: AtomicUsize,
}

/// The stand-in issuer.
pub struct Issuer {
    pub url: String,
    shared: Arc<Shared>,
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let keys = s.keys.lock().unwrap().clone();
    axum::Json(json!({ "keys": keys })).into_response()
}

async fn feed(
    State(s): State<Arc<Shared>>,
    Query(q): Query<Since>,
    headers: HeaderMap,
) -> Response {
    s.feed_hits.fetch_add(1, Ordering::SeqCst);
    if s.feed_down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Some(token) = s.feed_token.lock().unwrap().clone() {
        let expected = format!("Bearer {token}");
        let got = headers.get("authorization").and_then(|v| v.to_str().ok());
        if got != Some(expected.as_str()) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    let all = s.revocations.lock().unwrap().clone();
    let since = q.since.unwrap_or(0);
    let limit = match s.page_limit.load(Ordering::SeqCst) {
        0 => usize::MAX,
        n => n,
    };
    // Like the server: oldest first, at most `limit`, `next` = last cursor.
    let page: Vec<Value> = all
        .into_iter()
        .filter(|e| e["cursor"].as_u64().unwrap() > since)
        .take(limit)
        .collect();
    let next = page
        .iter()
        .map(|e| e["cursor"].as_u64().unwrap())
        .max()
        .unwrap_or(since.max(s.next_cursor.load(Ordering::SeqCst)));
    axum::Json(json!({ "revocations": page, "next": next })).into_response()
}

impl Issuer {
    pub async fn start() -> Issuer {
        let shared = Arc::new(Shared::default());
        // Cursors are opaque to the client; start away from 0 like a real feed.
        shared.next_cursor.store(100, Ordering::SeqCst);
        let app = Router::new()
            .route("/api/auth/jwks", get(jwks))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/api/auth/revocations", get(feed))
            .route(
                "/redirect/jwks",
                get(|| async { Redirect::temporary("/api/auth/jwks") }),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Issuer {
            url: format!("http://{addr}"),
            shared,
        }
    }

    /// A verifier configuration for this issuer.
    pub fn config(&self) -> VerifierConfig {
        VerifierConfig::new(self.url.clone())
    }

    pub fn publish(&self, jwk: Value) {
        self.shared.keys.lock().unwrap().push(jwk);
    }

    pub fn unpublish(&self, kid: &str) {
        self.shared
            .keys
            .lock()
            .unwrap()
            .retain(|k| k["kid"].as_str() != Some(kid));
    }

    fn push_revocation(&self, mut entry: Value) -> u64 {
        let cursor = self.shared.next_cursor.fetch_add(1, Ordering::SeqCst) + 1;
        entry["cursor"] = cursor.into();
        entry["at"] = now_ms().into();
        self.shared.revocations.lock().unwrap().push(entry);
        cursor
    }

    pub fn revoke_session(&self, sid: &str) -> u64 {
        self.push_revocation(json!({ "sid": sid }))
    }

    pub fn revoke_user(&self, sub: &str, not_before: i64) -> u64 {
        self.push_revocation(json!({ "sub": sub, "not_before": not_before }))
    }

    pub fn jwks_hits(&self) -> usize {
        self.shared.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn feed_hits(&self) -> usize {
        self.shared.feed_hits.load(Ordering::SeqCst)
    }

    pub fn set_feed_down(&self, down: bool) {
        self.shared.feed_down.store(down, Ordering::SeqCst);
    }

    /// Pages feed answers like the server's `LIMIT`.
    pub fn set_page_limit(&self, limit: usize) {
        self.shared.page_limit.store(limit, Ordering::SeqCst);
    }

    pub fn require_feed_token(&self, token: &str) {
        *self.shared.feed_token.lock().unwrap() = Some(token.to_string());
    }
}

/// A signing key with its public JWK.
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    pub jwk: Value,
    /// The raw public key bytes (Ed25519: 32 bytes; P-256: 0x04 || x || y).
    pub public: Vec<u8>,
    key: EncodingKey,
}

impl Signer {
    pub fn ed25519() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let mut jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&public)});
        let kid = thumbprint(&jwk);
        jwk["kid"] = kid.clone().into();
        jwk["alg"] = "EdDSA".into();
        jwk["use"] = "sig".into();
        Signer {
            kid,
            alg: Algorithm::EdDSA,
            jwk,
            public,
            key: EncodingKey::from_ed_der(pkcs8.as_ref()),
        }
    }

    pub fn es256() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref().to_vec();
        assert_eq!(public.len(), 65);
        let mut jwk = json!({
            "kty": "EC", "crv": "P-256",
            "x": b64(&public[1..33]), "y": b64(&public[33..65]),
        });
        let kid = thumbprint(&jwk);
        jwk["kid"] = kid.clone().into();
        jwk["alg"] = "ES256".into();
        jwk["use"] = "sig".into();
        Signer {
            kid,
            alg: Algorithm::ES256,
            jwk,
            public,
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        }
    }

    pub fn alg_name(&self) -> &'static str {
        match self.alg {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            _ => unreachable!(),
        }
    }

    /// The header Portcullis puts on access tokens.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg_name(), "typ": "at+jwt", "kid": self.kid})
    }

    /// Signs `header.payload` with this key, whatever the header says.
    pub fn sign_raw(&self, header_b64: &str, payload_b64: &str) -> String {
        let input = format!("{header_b64}.{payload_b64}");
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, self.alg).unwrap();
        format!("{input}.{sig}")
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&b64_json(header), &b64_json(claims))
    }

    /// A token with the standard header.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }
}

fn thumbprint(jwk: &Value) -> String {
    serde_json::from_value::<Jwk>(jwk.clone())
        .unwrap()
        .thumbprint()
        .unwrap()
}

/// Valid access-token claims for `issuer`, for a fresh user and session.
pub fn claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "sub": unique("user-"),
        "aud": issuer,
        "exp": now + 900,
        "iat": now,
        "nbf": now,
        "jti": unique("jti-"),
        "sid": unique("sess-"),
        "email": "ada@example.com",
        "email_verified": true,
        "role": "user",
    })
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns the
/// time it took, or None.
pub async fn within<F, Fut>(limit: Duration, mut cond: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An issuer already publishing one Ed25519 and one P-256 key.
pub async fn issuer_with_keys() -> (Issuer, Signer, Signer) {
    let issuer = Issuer::start().await;
    let ed = Signer::ed25519();
    let ec = Signer::es256();
    issuer.publish(ed.jwk.clone());
    issuer.publish(ec.jwk.clone());
    (issuer, ed, ec)
}
