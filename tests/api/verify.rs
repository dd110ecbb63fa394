//! portcullis-verify against the real server: local verification that still hears revocations.

use std::time::{Duration, Instant};

use portcullis_verify::{Verifier, VerifierConfig, VerifyError};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Auth, Backend, TestApp};
use crate::tokens::{claims, password_grant, refresh, token_user};

both_backends!(
    a_revoked_sessions_token_is_refused_within_two_seconds,
    a_rotated_key_is_fetched_on_first_sight,
    deleting_a_user_refuses_all_their_tokens,
);

async fn verifier(app: &TestApp) -> Verifier {
    Verifier::new(VerifierConfig::new(app.url.clone()))
        .await
        .expect("verifier starts")
}

fn access(answer: &serde_json::Value) -> String {
    answer["access_token"].as_str().unwrap().to_owned()
}

async fn refused_within(verifier: &Verifier, token: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        match verifier.verify(token).await {
            Err(VerifyError::Revoked) => return started.elapsed(),
            Ok(_) if started.elapsed() < limit + Duration::from_secs(3) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("not refused in time: {other:?}"),
        }
    }
}

async fn a_revoked_sessions_token_is_refused_within_two_seconds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let verifier = verifier(&app).await;
    let (email, password, answer) = token_user(&app).await;
    let token = access(&answer);
    let bystander = access(&password_grant(&app, &email, &password).await.body);
    let verified = verifier
        .verify(&token)
        .await
        .expect("a fresh token verifies locally");
    assert_eq!(verified.sid, claims(&token)["sid"].as_str().unwrap());

    // Sign out with the access token; the verifier has no other way to learn of it than the feed.
    app.post("/sign-out", Auth::Bearer(&token), json!({})).await;
    let took = refused_within(&verifier, &token, Duration::from_secs(2)).await;
    assert!(took < Duration::from_secs(2), "refused after {took:?}");
    assert!(
        verifier.verify(&bystander).await.is_ok(),
        "other sessions still verify"
    );

    // Refresh-token reuse revokes the session too.
    let (_, _, answer) = token_user(&app).await;
    let first = answer["refresh_token"].as_str().unwrap().to_owned();
    let next = refresh(&app, &first).await.body;
    let live = access(&next);
    assert!(verifier.verify(&live).await.is_ok());
    let strict = TestApp::start(app.storage.clone(), &[("tokens.refresh_grace", "0s")]).await;
    refresh(&strict, &first).await;
    let took = refused_within(&verifier, &live, Duration::from_secs(2)).await;
    assert!(took < Duration::from_secs(2), "refused after {took:?}");
}

async fn a_rotated_key_is_fetched_on_first_sight(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("tokens.key_rotation_interval", "2s")]).await;
    let verifier = verifier(&app).await;
    let (email, password, answer) = token_user(&app).await;
    let before = verifier.key_ids();
    assert!(verifier.verify(&access(&answer)).await.is_ok());
    // The rotation is due: the schedule makes the new key within a fraction of a second.
    app.clock.advance(Duration::from_secs(2));
    let mut rotated = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let token = access(&password_grant(&app, &email, &password).await.body);
        let header: serde_json::Value = {
            use base64::Engine;
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap();
            serde_json::from_slice(&raw).unwrap()
        };
        if !before.contains(&header["kid"].as_str().unwrap().to_owned()) {
            rotated = Some(token);
            break;
        }
    }
    let token = rotated.expect("the key rotated");
    assert!(
        verifier.verify(&token).await.is_ok(),
        "unknown kid: refetched and verified"
    );
    assert!(verifier.key_ids().len() > before.len() || verifier.key_ids() != before);
}

async fn deleting_a_user_refuses_all_their_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let verifier = verifier(&app).await;
    let (email, password, answer) = token_user(&app).await;
    let token = access(&answer);
    let (_, _, other) = token_user(&app).await;
    assert!(verifier.verify(&token).await.is_ok());
    let session = app.sign_in_token(&email, &password).await;
    app.post(
        "/delete-user",
        Auth::Bearer(&session),
        json!({"password": password}),
    )
    .await;
    let took = refused_within(&verifier, &token, Duration::from_secs(2)).await;
    assert!(took < Duration::from_secs(2));
    assert!(verifier.verify(&access(&other)).await.is_ok());
}
