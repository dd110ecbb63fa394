//! Malformed bodies, the settings (issuer, lifetimes) and cookie attributes over HTTPS.

use super::*;

both_backends!(
    malformed_bodies_answer_400_with_a_message_and_a_code,
    settings_set_the_issuer_and_the_lifetimes_of_challenges_and_trust,
    cookies_are_secure_and_prefixed_over_https,
);

#[track_caller]
fn assert_bad_request(reply: &Reply) {
    assert_eq!(reply.status, 400, "{}", reply.body);
    for field in ["message", "code"] {
        assert!(
            reply.body[field].as_str().is_some_and(|v| !v.is_empty()),
            "no {field}: {}",
            reply.body
        );
    }
}

async fn malformed_bodies_answer_400_with_a_message_and_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    let cookies = format!("{CHALLENGE}={challenge}");
    for method in ["totp", "backup-code"] {
        let path = format!("/two-factor/verify-{method}");
        assert_bad_request(&post_with_cookies(&app, &path, &cookies, json!({})).await);
        assert_bad_request(
            &post_with_cookies(&app, &path, &cookies, json!({"code": 123456})).await,
        );
        let reply = Reply::from(
            app.http
                .post(app.api(&path))
                .header("cookie", &cookies)
                .header("origin", &app.origin)
                .header("content-type", "application/json")
                .body("{\"code\": ")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_bad_request(&reply);
        let reply = Reply::from(
            app.http
                .post(app.api(&path))
                .header("cookie", &cookies)
                .header("origin", &app.origin)
                .header("content-type", "text/plain")
                .body("code=123456")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            (400..500).contains(&reply.status) && reply.body["code"].is_string(),
            "{} {}",
            reply.status,
            reply.body
        );
    }
    for path in [
        "/two-factor/enable",
        "/two-factor/disable",
        "/two-factor/generate-backup-codes",
        "/two-factor/get-totp-uri",
    ] {
        assert_bad_request(
            &app.post(path, Auth::Bearer(&account.session), json!({}))
                .await,
        );
        assert_bad_request(
            &app.post(
                path,
                Auth::Bearer(&account.session),
                json!({"password": 42}),
            )
            .await,
        );
    }
    // A string that is no 6-digit code is just a wrong code.
    for malformed in ["12ab56", "1234567"] {
        verify_totp(&app, &challenge, malformed)
            .await
            .assert_error(401, "INVALID_CODE");
    }
    // None of that killed the challenge.
    let code = account.next_code().await;
    assert_completed(&verify_totp(&app, &challenge, &code).await, &app);
}

// ---------------------------------------------------------------------------------------------
// Settings and https.
// ---------------------------------------------------------------------------------------------

async fn settings_set_the_issuer_and_the_lifetimes_of_challenges_and_trust(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("two_factor.issuer", "Acme"),
            ("two_factor.challenge_lifetime", "5m"),
            ("two_factor.trust_device_lifetime", "7d"),
        ],
    )
    .await;
    let mut account = enabled_account(&app).await;
    let reply = get_totp_uri(&app, &account.session, &account.password).await;
    let (label, query) = parse_totp_uri(&reply.body["totpURI"]);
    assert_eq!(label, format!("Acme:{}", account.email));
    assert_eq!(query_param(&query, "issuer").as_deref(), Some("Acme"));

    let reply = browser_sign_in(
        &app,
        json!({"email": account.email, "password": account.password}),
        None,
    )
    .await;
    let challenge = assert_two_factor_redirect(&reply);
    assert_eq!(max_age(&reply.set_cookie(CHALLENGE).unwrap()), Some(300));
    let mfa = mfa_token(&app, &account).await;
    let trusted = trust_this_device(&app, &mut account).await;
    app.clock.advance(Duration::from_secs(7 * 86_400 + 1));

    // Expired: the challenge, the mfa_token and the device trust.
    let code = account.backup_code();
    verify_backup_code(&app, &challenge, &code)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": code}),
        )
        .await,
        400,
        "invalid_grant",
    );
    assert_two_factor_redirect(&sign_in_from_device(&app, &account, &trusted).await);
}

async fn cookies_are_secure_and_prefixed_over_https(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("base_url", "https://auth.example.com")]).await;
    let mut account = enabled_account(&app).await;
    let secure_challenge = format!("__Secure-{CHALLENGE}");
    let secure_trusted = format!("__Secure-{TRUSTED}");
    let reply = browser_sign_in(
        &app,
        json!({"email": account.email, "password": account.password}),
        None,
    )
    .await;
    assert_eq!(reply.body["twoFactorRedirect"], true, "{}", reply.body);
    assert!(
        reply.set_cookie(CHALLENGE).is_none(),
        "only the prefixed name"
    );
    let cookie = reply
        .set_cookie(&secure_challenge)
        .expect("__Secure- prefixed challenge cookie");
    for attribute in [
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/api/auth/two-factor",
    ] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "{attribute} missing: {cookie}"
        );
    }
    let challenge = cookie_value(&cookie);
    let code = account.backup_code();

    // The plain name means nothing over https.
    post_with_cookies(
        &app,
        "/two-factor/verify-backup-code",
        &format!("{CHALLENGE}={challenge}"),
        json!({ "code": code }),
    )
    .await
    .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");

    let reply = post_with_cookies(
        &app,
        "/two-factor/verify-backup-code",
        &format!("{secure_challenge}={challenge}"),
        json!({"code": code, "trustDevice": true}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cleared = reply
        .set_cookie(&secure_challenge)
        .expect("challenge cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let trusted = reply
        .set_cookie(&secure_trusted)
        .expect("__Secure- prefixed trust cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/api/auth"] {
        assert!(
            trusted.split(';').any(|a| a.trim() == attribute),
            "{attribute} missing: {trusted}"
        );
    }
    let reply = Reply::from(
        app.http
            .post(app.api("/sign-in/email"))
            .header("origin", &app.origin)
            .header(
                "cookie",
                format!("{secure_trusted}={}", cookie_value(&trusted)),
            )
            .json(&json!({"email": account.email, "password": account.password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_signed_in(&reply);
}
