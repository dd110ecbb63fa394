//! The second step of a password sign-in in the browser: the challenge cookie, completing it with a TOTP or backup code, and the session that follows.

use super::*;

both_backends!(
    password_sign_in_asks_for_the_second_factor_and_creates_no_session,
    verify_totp_completes_a_sign_in_once,
    a_backup_code_completes_a_sign_in_once,
    a_missing_or_unknown_challenge_cookie_is_refused,
    the_challenge_cookie_needs_a_trusted_origin,
    remember_me_false_carries_over_to_the_session_cookie,
    list_sessions_shows_only_sessions_that_exist_after_a_two_factor_sign_in,
);

async fn password_sign_in_asks_for_the_second_factor_and_creates_no_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = enabled_account(&app).await;
    let before = sessions_of(&app, &account).await;
    let reply = browser_sign_in(
        &app,
        json!({"email": account.email, "password": account.password}),
        None,
    )
    .await;
    assert_eq!(
        reply.body,
        json!({"twoFactorRedirect": true, "twoFactorMethods": ["totp"]})
    );
    assert_two_factor_redirect(&reply);
    let cookie = reply.set_cookie(CHALLENGE).unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
        "Path=/api/auth/two-factor",
    ] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "{attribute} missing: {cookie}"
        );
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(
        reply.set_cookie(&cookie_name(&app)).is_none(),
        "no session cookie before the second factor"
    );
    assert_eq!(sessions_of(&app, &account).await, before);
    // A wrong password still answers as always, without a challenge.
    let wrong = app.sign_in(&account.email, &strong_password(16)).await;
    wrong.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert!(wrong.set_cookie(CHALLENGE).is_none());
}

async fn verify_totp_completes_a_sign_in_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    let code = account.next_code().await;
    let reply = verify_totp(&app, &challenge, &code).await;
    let token = assert_completed(&reply, &app);
    assert_eq!(reply.body["user"]["email"], account.email.as_str());
    assert_eq!(
        cookie_value(&reply.set_cookie(&cookie_name(&app)).unwrap()),
        token,
        "the session cookie holds the session"
    );
    let session = app.get("/get-session", Auth::Bearer(&token)).await.body;
    assert_eq!(session["user"]["id"], account.id.as_str());
    assert_eq!(session["user"]["twoFactorEnabled"], true);
    assert!(app.session_alive(&token).await);

    // The challenge is used up, whatever the code.
    verify_totp(&app, &challenge, &code)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    let later = code_of_step(&account.secret, account.last_step + 1);
    verify_totp(&app, &challenge, &later)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
}

async fn a_backup_code_completes_a_sign_in_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let code = account.backup_code();
    let challenge = password_step(&app, &account).await;
    let reply = verify_backup_code(&app, &challenge, &code).await;
    let token = assert_completed(&reply, &app);
    assert!(app.session_alive(&token).await);
    verify_backup_code(&app, &challenge, &account.backup_codes[0])
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");

    let challenge = password_step(&app, &account).await;
    verify_backup_code(&app, &challenge, &code)
        .await
        .assert_error(401, "INVALID_BACKUP_CODE");
    // The refusal did not end the challenge: another code still completes it.
    let other = account.backup_code();
    assert_completed(&verify_backup_code(&app, &challenge, &other).await, &app);
    // Nor does the used code work signed in.
    app.post(
        "/two-factor/verify-backup-code",
        Auth::Bearer(&token),
        json!({ "code": code }),
    )
    .await
    .assert_error(401, "INVALID_BACKUP_CODE");
}

async fn a_missing_or_unknown_challenge_cookie_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let code = account.backup_code();
    for method in ["totp", "backup-code"] {
        let path = format!("/two-factor/verify-{method}");
        app.post(&path, Auth::None, json!({"code": "123456"}))
            .await
            .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
        post_with_cookies(
            &app,
            &path,
            &format!("{CHALLENGE}=not-a-challenge"),
            json!({"code": code}),
        )
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    }
    // The session cookie is no challenge.
    post_with_cookies(
        &app,
        "/two-factor/verify-backup-code",
        &format!("{CHALLENGE}={}", account.session),
        json!({ "code": code }),
    )
    .await
    .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    // None of those used the backup code up.
    let challenge = password_step(&app, &account).await;
    assert_completed(&verify_backup_code(&app, &challenge, &code).await, &app);
}

/// The challenge cookie is a credential: a forged cross-site request carrying it is refused before
/// any code is checked (and spends none of the challenge's attempts).
async fn the_challenge_cookie_needs_a_trusted_origin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    let code = account.backup_code();
    let forged = |origin: Option<&'static str>| {
        let mut request = app
            .http
            .post(app.api("/two-factor/verify-backup-code"))
            .header("cookie", format!("{CHALLENGE}={challenge}"))
            .json(&json!({ "code": code }));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    };
    for _ in 0..5 {
        let reply = Reply::from(forged(Some("https://evil.example")).send().await.unwrap()).await;
        reply.assert_error(403, "INVALID_ORIGIN");
        let reply = Reply::from(forged(None).send().await.unwrap()).await;
        reply.assert_error(403, "MISSING_OR_NULL_ORIGIN");
    }
    assert_completed(&verify_backup_code(&app, &challenge, &code).await, &app);
}

async fn remember_me_false_carries_over_to_the_session_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step_with(&app, &account, json!({"rememberMe": false})).await;
    let reply = verify_backup_code(&app, &challenge, &account.backup_code()).await;
    assert_completed(&reply, &app);
    let cookie = reply.set_cookie(&cookie_name(&app)).unwrap();
    assert!(
        max_age(&cookie).is_none(),
        "a browser-session cookie: {cookie}"
    );

    let challenge = password_step(&app, &account).await;
    let reply = verify_backup_code(&app, &challenge, &account.backup_code()).await;
    assert_completed(&reply, &app);
    let cookie = reply.set_cookie(&cookie_name(&app)).unwrap();
    assert!(max_age(&cookie).is_some_and(|age| age > 0), "{cookie}");
}

// ---------------------------------------------------------------------------------------------
// How codes are checked.
// ---------------------------------------------------------------------------------------------

async fn list_sessions_shows_only_sessions_that_exist_after_a_two_factor_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    // A second password step whose challenge is never completed.
    password_step(&app, &account).await;
    let code = account.next_code().await;
    let token = assert_completed(&verify_totp(&app, &challenge, &code).await, &app);

    let reply = app.get("/list-sessions", Auth::Bearer(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let listed: Vec<String> = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| text(s, "id"))
        .collect();
    let mut expected = vec![
        text(&user_session(&app, &account.session).await, "id"),
        text(&user_session(&app, &token).await, "id"),
    ];
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    expected.sort();
    assert_eq!(listed_sorted, expected, "{}", reply.body);
    assert_eq!(sessions_of(&app, &account).await, 2);
    let current: Vec<_> = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], user_session(&app, &token).await["id"]);
}
