//! Token mode: access tokens, refresh rotation and reuse detection, keys, revocation, introspection.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sqlx::Row;

use crate::both_backends;
use crate::helpers::{eventually, random_email, strong_password, Auth, Backend, Reply, TestApp};

both_backends!(
    password_grant_issues_an_access_and_a_refresh_token,
    password_grant_refusals_follow_rfc6749,
    access_tokens_are_small_rfc9068_jwts,
    refresh_rotates_and_reuse_after_the_grace_revokes_the_session,
    a_retry_within_the_grace_converges_on_the_same_successor,
    fifty_concurrent_refreshes_converge_and_the_session_survives,
    refresh_tokens_die_with_idle_and_absolute_expiry,
    session_endpoints_accept_access_tokens_and_sign_out_scopes,
    get_token_gives_an_access_token_for_a_cookie_session,
    revoke_ends_the_session_behind_any_token,
    introspection_is_active_only_for_live_access_tokens,
    forged_and_misused_tokens_are_refused,
    keys_rotate_and_old_keys_retire_after_their_tokens_expire,
    es256_keys_can_be_chosen,
    refresh_token_can_live_in_a_cookie_scoped_to_the_token_endpoint,
    the_revocation_feed_pages_and_streams_every_ended_session,
    the_feed_token_closes_feed_and_introspection,
    access_tokens_verify_with_an_independent_jose_library,
);

pub async fn password_grant(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(
        "/token",
        Auth::None,
        json!({"grant_type": "password", "email": email, "password": password}),
    )
    .await
}

pub async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    app.post(
        "/token",
        Auth::None,
        json!({"grant_type": "refresh_token", "refresh_token": refresh_token}),
    )
    .await
}

/// Signs up and signs in with the password grant: (email, password, token answer).
pub async fn token_user(app: &TestApp) -> (String, String, Value) {
    let (email, password, _) = app.new_user().await;
    let reply = password_grant(app, &email, &password).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (email, password, reply.body)
}

fn part(jwt: &str, index: usize) -> Value {
    let segment = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

pub fn claims(jwt: &str) -> Value {
    part(jwt, 1)
}

fn header(jwt: &str) -> Value {
    part(jwt, 0)
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let reply = app
        .post("/introspect", Auth::None, json!({"token": token}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
        .to_owned()
}

async fn password_grant_issues_an_access_and_a_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, _) = app.new_user().await;
    let reply = password_grant(&app, &email, &password).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    let expires_in = reply.body["expires_in"].as_i64().unwrap();
    assert!((895..=900).contains(&expires_in), "{expires_in}");
    assert_eq!(reply.body["user"]["email"], email.as_str());
    let access = text(&reply.body, "access_token");
    let refresh_token = text(&reply.body, "refresh_token");
    assert_eq!(access.split('.').count(), 3);
    let mac = refresh_token.rsplit('.').next().unwrap();
    assert!(
        URL_SAFE_NO_PAD.decode(mac).unwrap().len() >= 32,
        "256-bit refresh tokens"
    );

    // Form bodies, as RFC 6749 prescribes, work too.
    let form = app
        .http
        .post(app.api("/token"))
        .form(&[
            ("grant_type", "password"),
            ("email", email.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);

    // The session is an ordinary one: listed, with the access token as credential.
    let sessions = app.get("/list-sessions", Auth::Bearer(&access)).await;
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    let listed = sessions.body.as_array().unwrap();
    assert_eq!(
        listed.len(),
        3,
        "sign-up, JSON grant and form grant sessions"
    );
    let current: Vec<_> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current[0]["id"], claims(&access)["sid"]);
    // Nothing secret is stored for refresh tokens.
    let mut db = app.db().await;
    let rows = sqlx::query("SELECT * FROM sessions")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let dump = format!(
        "{:?}",
        rows.iter()
            .map(|r| r.get::<String, _>("token_hash"))
            .collect::<Vec<_>>()
    );
    assert!(!dump.contains(mac));
}

async fn password_grant_refusals_follow_rfc6749(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, _, _) = app.new_user().await;
    let wrong = password_grant(&app, &email, &strong_password(16)).await;
    let unknown = password_grant(&app, &random_email(), &strong_password(16)).await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body["error"], "invalid_grant");
    assert_eq!(wrong.body, unknown.body, "no account enumeration");
    let missing = app
        .post(
            "/token",
            Auth::None,
            json!({"grant_type": "password", "email": email}),
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["error"].clone()),
        (400, json!("invalid_request"))
    );
    let unsupported = app
        .post(
            "/token",
            Auth::None,
            json!({"grant_type": "client_credentials"}),
        )
        .await;
    assert_eq!(unsupported.body["error"], "unsupported_grant_type");
    let malformed = Reply::from(
        app.http
            .post(app.api("/token"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (malformed.status, malformed.body["error"].clone()),
        (400, json!("invalid_request"))
    );
    assert!(malformed.body["error_description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    let garbage = refresh(&app, "not-a-refresh-token").await;
    assert_eq!(
        (garbage.status, garbage.body["error"].clone()),
        (400, json!("invalid_grant"))
    );
}

async fn access_tokens_are_small_rfc9068_jwts(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("tokens.audience", "https://api.example.com")]).await;
    let (email, _, answer) = token_user(&app).await;
    let access = text(&answer, "access_token");
    let head = header(&access);
    assert_eq!(head["typ"], "at+jwt");
    assert_eq!(head["alg"], "EdDSA");
    let jwks = app.get("/jwks", Auth::None).await.body;
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == head["kid"]));
    assert_eq!(
        app.get("/jwks", Auth::None).await.body,
        Reply::from(
            app.http
                .get(format!("{}/.well-known/jwks.json", app.url))
                .send()
                .await
                .unwrap()
        )
        .await
        .body
    );
    let c = claims(&access);
    assert_eq!(c["iss"], app.url.as_str());
    assert_eq!(c["aud"], "https://api.example.com");
    assert_eq!(c["sub"], answer["user"]["id"]);
    assert_eq!(c["email"], email.as_str());
    assert_eq!(c["email_verified"], false);
    assert_eq!(c["role"], "user");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    for field in ["jti", "sid", "nbf"] {
        assert!(!c[field].is_null(), "{field} missing");
    }
    let mut names: Vec<&String> = c.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "aud",
            "email",
            "email_verified",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "role",
            "sid",
            "sub"
        ],
        "never the whole user"
    );
}

async fn refresh_rotates_and_reuse_after_the_grace_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("tokens.refresh_grace", "1s")]).await;
    let (_, _, answer) = token_user(&app).await;
    let first = text(&answer, "refresh_token");
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let second = text(&rotated.body, "refresh_token");
    assert_ne!(first, second);
    let third = text(&refresh(&app, &second).await.body, "refresh_token");
    let access = text(&refresh(&app, &third).await.body, "access_token");
    assert!(app.session_alive(&access).await);

    app.clock.advance(Duration::from_millis(1300));
    let replay = refresh(&app, &first).await;
    assert_eq!(
        (replay.status, replay.body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    // The whole session is gone: its newest refresh token and its access tokens too.
    let newest = refresh(&app, &third).await;
    assert_eq!(newest.body["error"], "invalid_grant");
    assert!(!app.session_alive(&access).await);
    assert_eq!(introspect(&app, &access).await, json!({"active": false}));
    let reused = app
        .count("audit_events WHERE kind = 'refresh_token_reused'")
        .await;
    assert_eq!(reused, 1);
}

async fn a_retry_within_the_grace_converges_on_the_same_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, answer) = token_user(&app).await;
    let first = text(&answer, "refresh_token");
    let a = refresh(&app, &first).await;
    let b = refresh(&app, &first).await; // a retry after a lost response
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(a.body["refresh_token"], b.body["refresh_token"]);
    assert_ne!(a.body["access_token"], b.body["access_token"]);
    let next = refresh(&app, &text(&a.body, "refresh_token")).await;
    assert_eq!(next.status, 200);

    // With no grace, the same retry is a replay.
    let strict = TestApp::spawn_with(backend, &[("tokens.refresh_grace", "0s")]).await;
    let (_, _, answer) = token_user(&strict).await;
    let first = text(&answer, "refresh_token");
    assert_eq!(refresh(&strict, &first).await.status, 200);
    strict.clock.advance(Duration::from_millis(5));
    assert_eq!(
        refresh(&strict, &first).await.body["error"],
        "invalid_grant"
    );
}

async fn fifty_concurrent_refreshes_converge_and_the_session_survives(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // On PostgreSQL a second instance shares the database: the race spans processes' pools.
    let other = match backend {
        Backend::Postgres => Some(TestApp::start(app.storage.clone(), &[]).await),
        Backend::Sqlite => None,
    };
    let (_, _, answer) = token_user(&app).await;
    let first = text(&answer, "refresh_token");
    let attempts = (0..50).map(|i| {
        let target = match &other {
            Some(other) if i % 2 == 1 => other,
            _ => &app,
        };
        let first = first.clone();
        async move { refresh(target, &first).await }
    });
    let replies = futures::future::join_all(attempts).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let successors: std::collections::BTreeSet<_> = replies
        .iter()
        .map(|r| text(&r.body, "refresh_token"))
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "every refresh converged on one successor"
    );
    let successor = successors.into_iter().next().unwrap();
    let next = refresh(&app, &successor).await;
    assert_eq!(next.status, 200, "the session survived: {}", next.body);
}

async fn refresh_tokens_die_with_idle_and_absolute_expiry(backend: Backend) {
    let settings = [
        ("session.expires_in", "2s"),
        ("session.update_age", "1s"),
        ("session.absolute_lifetime", "4s"),
        ("tokens.access_ttl", "2s"),
    ];
    let app = TestApp::spawn_with(backend, &settings).await;
    // Idle: unused for longer than expires_in.
    let (_, _, answer) = token_user(&app).await;
    app.clock.advance(Duration::from_millis(2500));
    assert_eq!(
        refresh(&app, &text(&answer, "refresh_token")).await.body["error"],
        "invalid_grant"
    );

    // Absolute: refreshed every 0.7 s, still dead at 4 s; access tokens never outlive it.
    let (_, _, answer) = token_user(&app).await;
    let absolute_end = claims(&text(&answer, "access_token"))["iat"]
        .as_i64()
        .unwrap()
        + 4;
    let mut current = text(&answer, "refresh_token");
    for _ in 0..4 {
        app.clock.advance(Duration::from_millis(700));
        let reply = refresh(&app, &current).await;
        assert_eq!(reply.status, 200, "alive while used: {}", reply.body);
        assert!(
            claims(&text(&reply.body, "access_token"))["exp"]
                .as_i64()
                .unwrap()
                <= absolute_end + 1
        );
        current = text(&reply.body, "refresh_token");
    }
    app.clock.advance(Duration::from_millis(1500));
    assert_eq!(
        refresh(&app, &current).await.body["error"],
        "invalid_grant",
        "past the absolute lifetime"
    );
}

async fn session_endpoints_accept_access_tokens_and_sign_out_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, answer) = token_user(&app).await;
    let access = text(&answer, "access_token");
    let me = app.get("/get-session", Auth::Bearer(&access)).await;
    assert_eq!(me.body["user"]["email"], email.as_str());

    let other = text(
        &password_grant(&app, &email, &password).await.body,
        "access_token",
    );
    let third = text(
        &password_grant(&app, &email, &password).await.body,
        "access_token",
    );
    let reply = app
        .post(
            "/sign-out",
            Auth::Bearer(&access),
            json!({"scope": "others"}),
        )
        .await;
    assert_eq!(reply.body, json!({"success": true}));
    assert!(app.session_alive(&access).await);
    assert!(!app.session_alive(&other).await);
    assert!(!app.session_alive(&third).await);

    let fourth = text(
        &password_grant(&app, &email, &password).await.body,
        "access_token",
    );
    app.post(
        "/sign-out",
        Auth::Bearer(&access),
        json!({"scope": "global"}),
    )
    .await;
    assert!(!app.session_alive(&access).await);
    assert!(!app.session_alive(&fourth).await);

    let fifth = text(
        &password_grant(&app, &email, &password).await.body,
        "access_token",
    );
    app.post("/sign-out", Auth::Bearer(&fifth), json!({})).await;
    assert!(!app.session_alive(&fifth).await, "local is the default");
    let bad = app
        .post(
            "/sign-out",
            Auth::Bearer(&fifth),
            json!({"scope": "everyone"}),
        )
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");
}

async fn get_token_gives_an_access_token_for_a_cookie_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, session_token) = app.new_user().await;
    let reply = app.get("/token", Auth::Cookie(&session_token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let access = text(&reply.body, "token");
    let me = app
        .get("/get-session", Auth::Bearer(&session_token))
        .await
        .body;
    assert_eq!(claims(&access)["sid"], me["session"]["id"]);
    assert_eq!(introspect(&app, &access).await["active"], true);
    app.get("/token", Auth::None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    // Signing out the cookie session revokes the access tokens made from it.
    app.post("/sign-out", Auth::Cookie(&session_token), json!({}))
        .await;
    assert_eq!(introspect(&app, &access).await, json!({"active": false}));
}

async fn revoke_ends_the_session_behind_any_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, answer) = token_user(&app).await;
    let reply = app
        .post(
            "/revoke",
            Auth::None,
            json!({"token": answer["refresh_token"], "token_type_hint": "refresh_token"}),
        )
        .await;
    assert_eq!((reply.status, reply.body.clone()), (200, json!({})));
    assert_eq!(
        refresh(&app, &text(&answer, "refresh_token")).await.body["error"],
        "invalid_grant"
    );
    assert_eq!(
        introspect(&app, &text(&answer, "access_token")).await["active"],
        false
    );

    let answer = password_grant(&app, &email, &password).await.body;
    let form = app
        .http
        .post(app.api("/revoke"))
        .form(&[("token", text(&answer, "access_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(
        refresh(&app, &text(&answer, "refresh_token")).await.body["error"],
        "invalid_grant"
    );

    let session_token = text(&app.sign_in(&email, &password).await.body, "token");
    app.post("/revoke", Auth::None, json!({"token": session_token}))
        .await;
    assert!(!app.session_alive(&session_token).await);
    // Unknown tokens: 200 and nothing happens (RFC 7009 §2.2).
    assert_eq!(
        app.post("/revoke", Auth::None, json!({"token": "garbage"}))
            .await
            .status,
        200
    );
}

async fn introspection_is_active_only_for_live_access_tokens(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("tokens.access_ttl", "1s")]).await;
    let (_, _, answer) = token_user(&app).await;
    let access = text(&answer, "access_token");
    let live = introspect(&app, &access).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["token_type"], "access_token");
    assert_eq!(live["sub"], answer["user"]["id"]);
    assert_eq!(live["sid"], claims(&access)["sid"]);
    for other in [
        text(&answer, "refresh_token"),
        "garbage".to_owned(),
        String::new(),
    ] {
        assert_eq!(introspect(&app, &other).await, json!({"active": false}));
    }
    let (_, _, session_token) = app.new_user().await;
    assert_eq!(
        introspect(&app, &session_token).await,
        json!({"active": false}),
        "a session token is not an access token"
    );
    // Expired beyond the 5 s leeway (checked in whole seconds: exp < now - 5).
    app.clock.advance(Duration::from_millis(7500));
    assert_eq!(introspect(&app, &access).await, json!({"active": false}));
}

/// The server's current signing key, opened with its master secret: lets a test sign tokens that
/// are valid in every respect but the one under test.
async fn real_signing_key(app: &TestApp) -> (String, EncodingKey) {
    use portcullis::crypto::keys::{MasterKey, Purpose};
    let secret = std::fs::read_to_string(app.storage.dir.path().join("master.key")).unwrap();
    let secret = portcullis::crypto::master_key::decode_secret(&secret).unwrap();
    let sealer = MasterKey::new(&secret).sealer(Purpose::SealSigningKeys);
    let mut db = app.db().await;
    let row =
        sqlx::query("SELECT kid, sealed_key FROM signing_keys ORDER BY created_at DESC LIMIT 1")
            .fetch_one(&mut db)
            .await
            .unwrap();
    let kid: String = row.get("kid");
    let pkcs8 = sealer
        .open(&row.get::<String, _>("sealed_key"), &kid)
        .unwrap();
    (kid, EncodingKey::from_ed_der(&pkcs8))
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

async fn forged_and_misused_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, answer) = token_user(&app).await;
    let genuine = text(&answer, "access_token");
    let good_claims = claims(&genuine);
    let (kid, key) = real_signing_key(&app).await;
    let sign = |header: Value, claims: &Value| -> String {
        let header: Header = serde_json::from_value(header).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    };
    // Sanity: the forging kit makes tokens the server accepts when nothing is wrong.
    let control = sign(
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}),
        &good_claims,
    );
    assert_eq!(
        introspect(&app, &control).await["active"],
        true,
        "the control token must pass"
    );

    let mut attacks: Vec<(&str, String)> = Vec::new();
    for none in ["none", "None", "NONE", "nOnE"] {
        attacks.push((
            "alg none",
            format!(
                "{}.",
                unsigned(
                    &json!({"alg": none, "typ": "at+jwt", "kid": kid}),
                    &good_claims
                )
            ),
        ));
    }
    let jwks = app.get("/jwks", Auth::None).await.body;
    let public_x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let hs_header = Header {
        alg: Algorithm::HS256,
        typ: Some("at+jwt".into()),
        kid: Some(kid.clone()),
        ..Header::default()
    };
    attacks.push((
        "HS256 with the public key",
        jsonwebtoken::encode(
            &hs_header,
            &good_claims,
            &EncodingKey::from_secret(&public_x).unwrap(),
        )
        .unwrap(),
    ));
    attacks.push((
        "stripped signature",
        format!("{}.", genuine.rsplit_once('.').unwrap().0),
    ));
    let tampered = {
        let mut c = good_claims.clone();
        c["sub"] = json!("someone-else");
        format!(
            "{}.{}.{}",
            genuine.split('.').next().unwrap(),
            URL_SAFE_NO_PAD.encode(c.to_string()),
            genuine.rsplit('.').next().unwrap()
        )
    };
    attacks.push(("tampered payload", tampered));
    attacks.push((
        "unknown kid",
        sign(
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "unknown-kid"}),
            &good_claims,
        ),
    ));
    attacks.push((
        "injected kid",
        sign(
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "../../../etc/passwd"}),
            &good_claims,
        ),
    ));
    attacks.push(("jku header", sign(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "jku": "https://evil.example/jwks"}), &good_claims)));
    attacks.push((
        "jwk header",
        sign(
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "jwk": jwks["keys"][0]}),
            &good_claims,
        ),
    ));
    attacks.push(("x5u header", sign(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "x5u": "https://evil.example/cert"}), &good_claims)));
    attacks.push((
        "typ JWT",
        sign(
            json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
            &good_claims,
        ),
    ));
    attacks.push((
        "no typ",
        sign(json!({"alg": "EdDSA", "kid": kid}), &good_claims),
    ));
    let now = good_claims["iat"].as_i64().unwrap();
    let with = |field: &str, value: Value| {
        let mut c = good_claims.clone();
        c[field] = value;
        sign(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}), &c)
    };
    attacks.push(("expired", with("exp", json!(now - 60))));
    attacks.push(("not yet valid", with("nbf", json!(now + 300))));
    attacks.push(("issued in the future", with("iat", json!(now + 300))));
    attacks.push(("wrong aud", with("aud", json!("https://other.example"))));
    attacks.push(("wrong iss", with("iss", json!("https://evil.example"))));
    attacks.push((
        "refresh token as access token",
        text(&answer, "refresh_token"),
    ));

    for (name, token) in &attacks {
        assert_eq!(
            introspect(&app, token).await,
            json!({"active": false}),
            "{name} was accepted"
        );
        assert!(!app.session_alive(token).await, "{name} opened a session");
    }
    // Within the leeway is fine.
    assert_eq!(
        introspect(&app, &with("nbf", json!(now + 2))).await["active"],
        true
    );
}

async fn keys_rotate_and_old_keys_retire_after_their_tokens_expire(backend: Backend) {
    let settings = [
        ("tokens.access_ttl", "2s"),
        ("tokens.key_rotation_interval", "2s"),
    ];
    let app = TestApp::spawn_with(backend, &settings).await;
    let (email, password, answer) = token_user(&app).await;
    let old = text(&answer, "access_token");
    let old_kid = header(&old)["kid"].clone();
    // Once the interval has passed, the schedule (checking every tenth of it) rotates: the new
    // key signs, the old one stays published.
    app.clock.advance(Duration::from_secs(2));
    let fresh = std::sync::Mutex::new(String::new());
    eventually("the scheduled rotation", || async {
        let token = text(
            &password_grant(&app, &email, &password).await.body,
            "access_token",
        );
        let rotated = header(&token)["kid"] != old_kid;
        *fresh.lock().unwrap() = token;
        rotated
    })
    .await;
    let fresh = fresh.into_inner().unwrap();
    let new_kid = header(&fresh)["kid"].clone();
    let kids = |jwks: &Value| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].clone())
            .collect::<Vec<_>>()
    };
    let published = kids(&app.get("/jwks", Auth::None).await.body);
    assert!(published.contains(&new_kid));
    assert_eq!(introspect(&app, &fresh).await["active"], true);
    // Once every token the old key signed has expired, it is no longer published.
    app.clock.advance(Duration::from_secs(5));
    eventually("the old key's retirement", || async {
        !kids(&app.get("/jwks", Auth::None).await.body).contains(&old_kid)
    })
    .await;
    assert_eq!(introspect(&app, &old).await["active"], false);

    // The CLI rotates too, against the same storage, and running servers pick it up.
    let quiet = TestApp::spawn_with(backend, &[]).await;
    let (email, password, answer) = token_user(&quiet).await;
    let before = header(&text(&answer, "access_token"))["kid"].clone();
    let output = quiet.cli(&["keys", "rotate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A running server re-reads its keys every few seconds.
    quiet.clock.advance(Duration::from_secs(3));
    let after = header(&text(
        &password_grant(&quiet, &email, &password).await.body,
        "access_token",
    ))["kid"]
        .clone();
    assert_ne!(after, before, "the server did not pick up the rotated key");
    assert!(String::from_utf8_lossy(&output.stdout).contains(after.as_str().unwrap()));
    assert_eq!(
        introspect(&quiet, &text(&answer, "access_token")).await["active"],
        true,
        "old tokens stay valid"
    );
}

async fn es256_keys_can_be_chosen(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("tokens.algorithm", "ES256")]).await;
    let (_, _, answer) = token_user(&app).await;
    let access = text(&answer, "access_token");
    assert_eq!(header(&access)["alg"], "ES256");
    let jwk = &app.get("/jwks", Auth::None).await.body["keys"][0];
    assert_eq!(
        (jwk["kty"].clone(), jwk["crv"].clone()),
        (json!("EC"), json!("P-256"))
    );
    assert_eq!(introspect(&app, &access).await["active"], true);
}

async fn refresh_token_can_live_in_a_cookie_scoped_to_the_token_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, _) = app.new_user().await;
    let reply = app
        .post("/token", Auth::None, json!({"grant_type": "password", "email": email, "password": password, "refresh_token_delivery": "cookie"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("refresh_token").is_none(), "not in the body");
    let cookie = reply
        .set_cookie("portcullis.refresh_token")
        .expect("refresh cookie");
    for attribute in [
        "Path=/api/auth/token",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=",
    ] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let value = cookie.split(';').next().unwrap().to_owned();
    let refresh_with_cookie = |origin: Option<&str>| {
        let mut request = app
            .http
            .post(app.api("/token"))
            .header("cookie", &value)
            .json(&json!({"grant_type": "refresh_token"}));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move { Reply::from(request.send().await.unwrap()).await }
    };
    refresh_with_cookie(None)
        .await
        .assert_error(403, "MISSING_OR_NULL_ORIGIN");
    refresh_with_cookie(Some("https://evil.example"))
        .await
        .assert_error(403, "INVALID_ORIGIN");
    let rotated = refresh_with_cookie(Some(&app.origin)).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert!(rotated.body.get("refresh_token").is_none());
    let next = rotated
        .set_cookie("portcullis.refresh_token")
        .expect("a rotated cookie");
    assert_ne!(next.split(';').next().unwrap(), value);

    let https = TestApp::spawn_with(backend, &[("base_url", "https://auth.example.com")]).await;
    let (email, password, _) = https.new_user().await;
    let reply = https
        .post("/token", Auth::None, json!({"grant_type": "password", "email": email, "password": password, "refresh_token_delivery": "cookie"}))
        .await;
    let cookie = reply
        .set_cookie("__Secure-portcullis.refresh_token")
        .expect("__Secure- prefixed");
    assert!(cookie.contains("Secure"));
}

async fn the_revocation_feed_pages_and_streams_every_ended_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let start = app.get("/revocations", Auth::None).await;
    assert_eq!(start.status, 200, "{}", start.body);
    let cursor = start.body["next"].as_i64().unwrap();

    // Subscribe to the stream before the revocation.
    let mut stream = app
        .http
        .get(app.api(&format!("/revocations/stream?since={cursor}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");

    let (_, _, answer) = token_user(&app).await;
    let sid = claims(&text(&answer, "access_token"))["sid"].clone();
    let started = std::time::Instant::now();
    app.post(
        "/revoke",
        Auth::None,
        json!({"token": answer["refresh_token"]}),
    )
    .await;

    let mut received = String::new();
    while !received.contains(sid.as_str().unwrap()) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("stream is silent")
            .unwrap()
            .unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "pushed within 2 s"
    );
    assert!(received.contains("event: revocation"), "{received}");

    let page = app
        .get(&format!("/revocations?since={cursor}"), Auth::None)
        .await
        .body;
    let entries = page["revocations"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["sid"], sid);
    let next = page["next"].as_i64().unwrap();
    assert!(next > cursor);
    assert_eq!(
        app.get(&format!("/revocations?since={next}"), Auth::None)
            .await
            .body["revocations"],
        json!([])
    );

    // Deleting a user also marks every token of theirs issued until now.
    let (_, password, session) = app.new_user().await;
    let user_id = app.get("/get-session", Auth::Bearer(&session)).await.body["user"]["id"].clone();
    app.post(
        "/delete-user",
        Auth::Bearer(&session),
        json!({"password": password}),
    )
    .await;
    let page = app
        .get(&format!("/revocations?since={next}"), Auth::None)
        .await
        .body;
    let user_entry = page["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["sub"] == user_id)
        .cloned()
        .expect("user entry");
    assert!(
        user_entry["not_before"].as_i64().unwrap()
            >= claims(&text(&answer, "access_token"))["iat"]
                .as_i64()
                .unwrap()
    );
    // Without a cursor: the recent window, which holds both.
    let recent = app.get("/revocations", Auth::None).await.body;
    assert!(recent["revocations"].as_array().unwrap().len() >= 2);
}

async fn the_feed_token_closes_feed_and_introspection(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("revocations.feed_token", "feed-secret-123")]).await;
    let (_, _, answer) = token_user(&app).await;
    app.get("/revocations", Auth::None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.get("/revocations", Auth::Bearer("wrong"))
        .await
        .assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        app.get("/revocations", Auth::Bearer("feed-secret-123"))
            .await
            .status,
        200
    );
    let stream = app
        .http
        .get(app.api("/revocations/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 401);
    app.post(
        "/introspect",
        Auth::None,
        json!({"token": answer["access_token"]}),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    let allowed = app
        .post(
            "/introspect",
            Auth::Bearer("feed-secret-123"),
            json!({"token": answer["access_token"]}),
        )
        .await;
    assert_eq!(allowed.body["active"], true);
}

async fn access_tokens_verify_with_an_independent_jose_library(backend: Backend) {
    for algorithm in ["EdDSA", "ES256"] {
        let app = TestApp::spawn_with(backend, &[("tokens.algorithm", algorithm)]).await;
        let (_, _, answer) = token_user(&app).await;
        let access = text(&answer, "access_token");
        let out = crate::compat::run_node(
            "verify-access-token.mjs",
            &[("PORTCULLIS_URL", &app.url), ("ACCESS_TOKEN", &access)],
        )
        .await;
        assert!(
            out.success,
            "jose refused a genuine {algorithm} token:\n{}",
            out.report
        );
        let verified: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(verified["sub"], answer["user"]["id"]);
        // And jose refuses a tampered one.
        // Flip a character in the middle of the signature (the last one may only carry padding bits).
        let mut bytes = access.clone().into_bytes();
        let at = bytes.len() - 20;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let out = crate::compat::run_node(
            "verify-access-token.mjs",
            &[("PORTCULLIS_URL", &app.url), ("ACCESS_TOKEN", &tampered)],
        )
        .await;
        assert!(!out.success, "jose accepted a tampered token");
    }
}
