//! Session lifecycle: lookup, listing, revocation, expiry, cookies, CSRF, client address.

use std::time::Duration;

use serde_json::json;
use sqlx::Row;

use crate::both_backends;
use crate::helpers::{cookie_name, eventually, within, Auth, Backend, Reply, TestApp};

both_backends!(
    get_session_answers_null_without_a_live_session,
    list_sessions_marks_the_current_one_and_never_leaks_tokens,
    revoke_session_takes_an_id_or_a_token_but_only_ones_own,
    revoke_sessions_and_revoke_other_sessions,
    sign_out_ends_the_session_and_clears_the_cookie,
    sessions_slide_while_used_and_expire_when_idle,
    sessions_end_at_their_absolute_lifetime_however_active,
    remember_me_false_gives_a_browser_session_cookie_and_a_short_lifetime,
    expired_sessions_are_swept,
    cookie_attributes_over_http,
    cookie_attributes_over_https,
    a_cookie_domain_shares_the_session_cookie_with_subdomains,
    same_site_none_lets_apps_on_other_sites_send_the_cookies,
    cookie_authenticated_writes_need_a_trusted_origin,
    forwarded_for_is_believed_only_from_trusted_proxies,
    revocations_reach_every_instance_despite_the_session_cache,
);

async fn get_session_answers_null_without_a_live_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app.get("/get-session", Auth::None).await;
    assert_eq!((reply.status, reply.body.clone()), (200, json!(null)));
    let reply = app
        .get("/get-session", Auth::Bearer("not-a-real-token"))
        .await;
    assert_eq!((reply.status, reply.body.clone()), (200, json!(null)));
    // A dead cookie is cleared.
    let reply = app
        .get("/get-session", Auth::Cookie("not-a-real-token"))
        .await;
    assert!(reply.body.is_null());
    assert!(reply
        .set_cookie(&cookie_name(&app))
        .unwrap()
        .contains("Max-Age=0"));
    // A bad bearer never falls back to a good cookie.
    let (_, _, token) = app.new_user().await;
    let reply = Reply::from(
        app.http
            .get(app.api("/get-session"))
            .bearer_auth("forged")
            .header("cookie", format!("{}={token}", cookie_name(&app)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(reply.body.is_null());
}

async fn list_sessions_marks_the_current_one_and_never_leaks_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, first) = app.new_user().await;
    let second = app.sign_in_token(&email, &password).await;
    let reply = app.get("/list-sessions", Auth::Bearer(&second)).await;
    let sessions = reply.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let text = reply.body.to_string();
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "a session token leaked: {text}"
    );
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let me = app.get("/get-session", Auth::Bearer(&second)).await.body;
    assert_eq!(current[0]["id"], me["session"]["id"]);
    assert!(
        !me.to_string().contains(&second),
        "get-session must not echo the token"
    );
    for session in sessions {
        assert_eq!(session["token"], session["id"]);
        assert_eq!(session["ipAddress"], "127.0.0.1");
        for field in [
            "createdAt",
            "updatedAt",
            "expiresAt",
            "lastActiveAt",
            "userId",
        ] {
            assert!(session[field].is_string(), "{field} missing: {session}");
        }
    }
    app.get("/list-sessions", Auth::None)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn revoke_session_takes_an_id_or_a_token_but_only_ones_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, mine) = app.new_user().await;
    let by_id = app.sign_in_token(&email, &password).await;
    let by_token = app.sign_in_token(&email, &password).await;
    let (_, _, theirs) = app.new_user().await;
    let their_id =
        app.get("/get-session", Auth::Bearer(&theirs)).await.body["session"]["id"].clone();

    let target_id =
        app.get("/get-session", Auth::Bearer(&by_id)).await.body["session"]["id"].clone();
    let reply = app
        .post(
            "/revoke-session",
            Auth::Bearer(&mine),
            json!({"token": target_id}),
        )
        .await;
    assert_eq!(reply.body, json!({"status": true}));
    assert!(!app.session_alive(&by_id).await);

    app.post(
        "/revoke-session",
        Auth::Bearer(&mine),
        json!({"token": by_token}),
    )
    .await;
    assert!(!app.session_alive(&by_token).await);

    // Another user's session, by id or by token: untouched (no IDOR).
    app.post(
        "/revoke-session",
        Auth::Bearer(&mine),
        json!({"token": their_id}),
    )
    .await;
    app.post(
        "/revoke-session",
        Auth::Bearer(&mine),
        json!({"token": theirs}),
    )
    .await;
    assert!(app.session_alive(&theirs).await);
    assert!(app.session_alive(&mine).await);

    app.post("/revoke-session", Auth::Bearer(&mine), json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.post("/revoke-session", Auth::None, json!({"token": "x"}))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn revoke_sessions_and_revoke_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, first) = app.new_user().await;
    let second = app.sign_in_token(&email, &password).await;
    let third = app.sign_in_token(&email, &password).await;
    let (_, _, bystander) = app.new_user().await;

    let reply = app
        .post("/revoke-other-sessions", Auth::Cookie(&third), json!({}))
        .await;
    assert_eq!(reply.body, json!({"status": true}));
    assert!(!app.session_alive(&first).await);
    assert!(!app.session_alive(&second).await);
    assert!(app.session_alive(&third).await);

    let fourth = app.sign_in_token(&email, &password).await;
    let reply = app
        .post("/revoke-sessions", Auth::Bearer(&third), json!({}))
        .await;
    assert_eq!(reply.body, json!({"status": true}));
    assert!(!app.session_alive(&third).await);
    assert!(!app.session_alive(&fourth).await);
    assert!(app.session_alive(&bystander).await);
    app.post("/revoke-sessions", Auth::None, json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post("/revoke-other-sessions", Auth::None, json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn sign_out_ends_the_session_and_clears_the_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, cookie_session) = app.new_user().await;
    let bearer_session = app.sign_in_token(&email, &password).await;

    let reply = app
        .post("/sign-out", Auth::Cookie(&cookie_session), json!({}))
        .await;
    assert_eq!(reply.body, json!({"success": true}));
    assert!(reply
        .set_cookie(&cookie_name(&app))
        .unwrap()
        .contains("Max-Age=0"));
    assert!(app
        .get("/get-session", Auth::Cookie(&cookie_session))
        .await
        .body
        .is_null());
    // Refused server-side, not just forgotten by the browser.
    app.get("/list-sessions", Auth::Bearer(&cookie_session))
        .await
        .assert_error(401, "UNAUTHORIZED");

    assert_eq!(
        app.post("/sign-out", Auth::Bearer(&bearer_session), json!({}))
            .await
            .status,
        200
    );
    assert!(!app.session_alive(&bearer_session).await);
    // Signing out twice, or with no session, is harmless (as in better-auth).
    assert_eq!(
        app.post("/sign-out", Auth::None, json!({})).await.body,
        json!({"success": true})
    );
}

async fn session_expiry(app: &TestApp, token: &str) -> i64 {
    let mut db = app.db().await;
    let id = app.get("/get-session", Auth::Bearer(token)).await.body["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sqlx::query("SELECT expires_at FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("expires_at")
}

async fn sessions_slide_while_used_and_expire_when_idle(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("session.expires_in", "3s"),
            ("session.update_age", "1s"),
            ("session.absolute_lifetime", "1h"),
        ],
    )
    .await;
    let (_, _, token) = app.new_user().await;
    let created_expiry = session_expiry(&app, &token).await;
    app.clock.advance(Duration::from_millis(2000));
    let reply = app.get("/get-session", Auth::Cookie(&token)).await;
    assert!(!reply.body.is_null(), "alive within expires_in");
    let cookie = reply
        .set_cookie(&cookie_name(&app))
        .expect("the cookie follows the extension");
    assert!(
        cookie.contains("Max-Age=2") || cookie.contains("Max-Age=3"),
        "{cookie}"
    );
    let slid_expiry = session_expiry(&app, &token).await;
    assert!(slid_expiry >= created_expiry + 1500, "expiry moved forward");
    app.clock.advance(Duration::from_millis(2000));
    assert!(
        app.session_alive(&token).await,
        "alive past the first expiry thanks to the slide"
    );
    app.clock.advance(Duration::from_millis(3500));
    assert!(
        !app.session_alive(&token).await,
        "idle longer than expires_in"
    );
    app.get("/list-sessions", Auth::Bearer(&token))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn sessions_end_at_their_absolute_lifetime_however_active(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        // Idle expiry (3 s) would outlast the absolute lifetime (4 s) here: only the latter ends it.
        &[
            ("session.expires_in", "3s"),
            ("session.update_age", "1s"),
            ("session.absolute_lifetime", "4s"),
        ],
    )
    .await;
    let (_, _, token) = app.new_user().await;
    // Used every half second for three seconds: never idle, always slid.
    for _ in 0..6 {
        assert!(app.session_alive(&token).await);
        app.clock.advance(Duration::from_millis(500));
    }
    app.clock.advance(Duration::from_millis(1500));
    assert!(
        !app.session_alive(&token).await,
        "past the absolute lifetime"
    );
}

async fn remember_me_false_gives_a_browser_session_cookie_and_a_short_lifetime(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, _) = app.new_user().await;
    let reply = app
        .post(
            "/sign-in/email",
            Auth::None,
            json!({"email": email, "password": password, "rememberMe": false}),
        )
        .await;
    let cookie = reply.set_cookie(&cookie_name(&app)).unwrap();
    assert!(
        !cookie.contains("Max-Age"),
        "a browser-session cookie: {cookie}"
    );
    let token = reply.body["token"].as_str().unwrap();
    let expiry = session_expiry(&app, token).await;
    let now = app.clock.now_ms();
    let one_day = 86_400_000;
    assert!(
        (expiry - now - one_day).abs() < 60_000,
        "1-day server lifetime"
    );

    let remembered = app.sign_in(&email, &password).await;
    let cookie = remembered.set_cookie(&cookie_name(&app)).unwrap();
    assert!(
        cookie.contains("Max-Age=6047") || cookie.contains("Max-Age=604800"),
        "{cookie}"
    );
}

async fn expired_sessions_are_swept(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("session.expires_in", "1h"),
            ("session.update_age", "1m"),
            ("session.sweep_interval", "100ms"),
        ],
    )
    .await;
    let (_, _, token) = app.new_user().await;
    assert_eq!(app.count("sessions").await, 1);
    app.clock.advance(Duration::from_secs(3599));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.count("sessions").await, 1, "not expired yet: kept");
    app.clock.advance(Duration::from_secs(2));
    eventually(
        "the sweeper deletes expired sessions without anyone touching them",
        || async { app.count("sessions").await == 0 },
    )
    .await;
    assert!(!app.session_alive(&token).await);
}

async fn cookie_attributes_over_http(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .sign_up(
            &crate::helpers::random_email(),
            &crate::helpers::strong_password(16),
        )
        .await;
    let cookie = reply.set_cookie("portcullis.session_token").unwrap();
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure") && !cookie.contains("Domain"),
        "{cookie}"
    );
}

async fn cookie_attributes_over_https(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("base_url", "https://auth.example.com")]).await;
    let reply = app
        .sign_up(
            &crate::helpers::random_email(),
            &crate::helpers::strong_password(16),
        )
        .await;
    let cookie = reply
        .set_cookie("__Host-portcullis.session_token")
        .expect("__Host- prefixed cookie");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let token = reply.body["token"].as_str().unwrap();
    let session = app.get("/get-session", Auth::Cookie(token)).await;
    assert!(!session.body.is_null(), "the prefixed cookie authenticates");
    // The plain name means nothing over https.
    let plain = Reply::from(
        app.http
            .get(app.api("/get-session"))
            .header("cookie", format!("portcullis.session_token={token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(plain.body.is_null());
}

/// `session.cookie_domain`: `Domain=` set, so `app.example.com` sees the cookie too; over https
/// `__Host-` (which forbids `Domain`) gives way to `__Secure-`, and that name authenticates.
async fn a_cookie_domain_shares_the_session_cookie_with_subdomains(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("base_url", "http://auth.example.test:{port}"),
            ("session.cookie_domain", "example.test"),
        ],
    )
    .await;
    let reply = app
        .sign_up(
            &crate::helpers::random_email(),
            &crate::helpers::strong_password(16),
        )
        .await;
    let cookie = reply.set_cookie("portcullis.session_token").unwrap();
    for attribute in ["Path=/", "Domain=example.test", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }

    let app = TestApp::spawn_with(
        backend,
        &[
            ("base_url", "https://auth.example.com"),
            ("session.cookie_domain", ".Example.com"),
        ],
    )
    .await;
    let reply = app
        .sign_up(
            &crate::helpers::random_email(),
            &crate::helpers::strong_password(16),
        )
        .await;
    assert!(reply
        .set_cookie("__Host-portcullis.session_token")
        .is_none());
    let cookie = reply
        .set_cookie("__Secure-portcullis.session_token")
        .expect("__Secure- prefixed cookie");
    for attribute in [
        "Path=/",
        "Domain=example.com",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
    ] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let token = reply.body["token"].as_str().unwrap();
    let with_cookie = |name: &str| {
        app.http
            .get(app.api("/get-session"))
            .header("cookie", format!("{name}={token}"))
            .send()
    };
    let session = Reply::from(
        with_cookie("__Secure-portcullis.session_token")
            .await
            .unwrap(),
    )
    .await;
    assert!(!session.body.is_null(), "the shared cookie authenticates");
    let host_only = Reply::from(
        with_cookie("__Host-portcullis.session_token")
            .await
            .unwrap(),
    )
    .await;
    assert!(host_only.body.is_null(), "one name only");
}

/// `session.cookie_same_site = none` (https only): the session, two-factor challenge and
/// trusted-device cookies go with cross-site requests; the pages' own cookies stay Lax and the
/// refresh cookie Strict.
async fn same_site_none_lets_apps_on_other_sites_send_the_cookies(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("base_url", "https://auth.example.com"),
            ("session.cookie_same_site", "None"),
        ],
    )
    .await;
    let reply = app
        .sign_up(
            &crate::helpers::random_email(),
            &crate::helpers::strong_password(16),
        )
        .await;
    let cookie = reply
        .set_cookie("__Host-portcullis.session_token")
        .expect("host-only session cookie");
    for attribute in ["SameSite=None", "Secure", "HttpOnly", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Lax") && !cookie.contains("Domain"),
        "{cookie}"
    );
}

async fn cookie_authenticated_writes_need_a_trusted_origin(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("trusted_origins", "https://app.example.com")]).await;
    let (email, password, token) = app.new_user().await;
    let post = |origin: Option<&'static str>,
                referer: Option<&'static str>,
                fetch_site: Option<&'static str>| {
        let mut request = app
            .http
            .post(app.api("/update-user"))
            .header("cookie", format!("{}={token}", cookie_name(&app)))
            .json(&json!({"name": "Changed"}));
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        if let Some(r) = referer {
            request = request.header("referer", r);
        }
        if let Some(s) = fetch_site {
            request = request.header("sec-fetch-site", s);
        }
        async move { Reply::from(request.send().await.unwrap()).await }
    };
    post(None, None, None)
        .await
        .assert_error(403, "MISSING_OR_NULL_ORIGIN");
    post(Some("null"), None, None)
        .await
        .assert_error(403, "MISSING_OR_NULL_ORIGIN");
    post(Some("https://evil.example"), None, None)
        .await
        .assert_error(403, "INVALID_ORIGIN");
    post(Some("https://app.example.com.evil.example"), None, None)
        .await
        .assert_error(403, "INVALID_ORIGIN");
    post(None, Some("https://evil.example/page"), None)
        .await
        .assert_error(403, "INVALID_ORIGIN");
    post(None, None, Some("cross-site"))
        .await
        .assert_error(403, "MISSING_OR_NULL_ORIGIN");
    assert_eq!(
        post(Some("https://app.example.com"), None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        post(None, Some("https://app.example.com/settings"), None)
            .await
            .status,
        200
    );
    assert_eq!(post(None, None, Some("same-origin")).await.status, 200);
    let base_origin: &'static str = Box::leak(app.origin.clone().into_boxed_str());
    assert_eq!(post(Some(base_origin), None, None).await.status, 200);

    // Bearer requests are exempt: browsers never attach that header on their own.
    let bearer = Reply::from(
        app.http
            .post(app.api("/update-user"))
            .bearer_auth(&token)
            .header("origin", "https://evil.example")
            .json(&json!({"name": "B"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bearer.status, 200);
    // A foreign page cannot sign a victim in (login CSRF), even without cookies.
    let login = Reply::from(
        app.http
            .post(app.api("/sign-in/email"))
            .header("origin", "https://evil.example")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    login.assert_error(403, "INVALID_ORIGIN");
    // Reads are never blocked, and nothing changed through the refused requests.
    let session = app.get("/get-session", Auth::CookieNoOrigin(&token)).await;
    assert_eq!(session.body["user"]["name"], "B");
}

async fn forwarded_for_is_believed_only_from_trusted_proxies(backend: Backend) {
    let untrusted = TestApp::spawn(backend).await;
    let (email, password, _) = untrusted.new_user().await;
    let reply = Reply::from(
        untrusted
            .http
            .post(untrusted.api("/sign-in/email"))
            .header("x-forwarded-for", "203.0.113.7")
            .header("user-agent", "Tester/1.0")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = reply.body["token"].as_str().unwrap();
    let session = untrusted
        .get("/get-session", Auth::Bearer(token))
        .await
        .body["session"]
        .clone();
    assert_eq!(
        session["ipAddress"], "127.0.0.1",
        "a spoofed header from an untrusted peer is ignored"
    );
    assert_eq!(session["userAgent"], "Tester/1.0");

    let proxied = TestApp::spawn_with(backend, &[("trusted_proxies", "127.0.0.1/32")]).await;
    let (email, password, _) = proxied.new_user().await;
    let reply = Reply::from(
        proxied
            .http
            .post(proxied.api("/sign-in/email"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = reply.body["token"].as_str().unwrap();
    let session = proxied.get("/get-session", Auth::Bearer(token)).await.body["session"].clone();
    assert_eq!(
        session["ipAddress"], "203.0.113.7",
        "the right-most hop the trusted proxy saw"
    );
}

async fn revocations_reach_every_instance_despite_the_session_cache(backend: Backend) {
    let a = TestApp::spawn_with(backend, &[("session.cache_ttl", "30s")]).await;
    let b = TestApp::start(a.storage.clone(), &[("session.cache_ttl", "30s")]).await;
    let (email, password, token) = a.new_user().await;
    let other = a.sign_in_token(&email, &password).await;
    // Both instances have the sessions cached now.
    for app in [&a, &b] {
        assert!(app.session_alive(&token).await);
        assert!(app.session_alive(&other).await);
    }
    // Signed out on A: refused on A at once, and on B well within the cache's 30 s.
    a.post("/sign-out", Auth::Bearer(&token), json!({})).await;
    assert!(!a.session_alive(&token).await);
    within(
        Duration::from_secs(2),
        "instance B refuses a session signed out on A",
        || async { !b.session_alive(&token).await },
    )
    .await;
    // Revoking every session (here: deleting the account) reaches B too.
    assert!(b.session_alive(&other).await);
    a.post(
        "/delete-user",
        Auth::Bearer(&other),
        json!({"password": password}),
    )
    .await;
    within(
        Duration::from_secs(2),
        "instance B refuses a deleted user's session",
        || async { !b.session_alive(&other).await },
    )
    .await;
}
