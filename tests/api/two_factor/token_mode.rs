//! The token endpoint's second factor (`mfa_token` and the `mfa_*` grants), with RFC 6749 refusals.

use super::*;

both_backends!(
    token_mode_completes_with_a_totp_code_or_a_backup_code,
    token_mode_refusals_follow_rfc6749,
    challenge_cookies_and_mfa_tokens_are_not_interchangeable,
);

async fn token_mode_completes_with_a_totp_code_or_a_backup_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let before = sessions_of(&app, &account).await;
    let mfa = mfa_token(&app, &account).await;
    assert_eq!(sessions_of(&app, &account).await, before, "no session yet");
    let code = account.next_code().await;
    let reply = token(
        &app,
        json!({"grant_type": "mfa_totp", "mfa_token": mfa, "code": code}),
    )
    .await;
    let access = assert_tokens(&reply, &account);
    assert!(app.session_alive(&access).await);
    assert_eq!(sessions_of(&app, &account).await, before + 1);
    // The refresh token is a normal one.
    let refreshed = token(
        &app,
        json!({"grant_type": "refresh_token", "refresh_token": text(&reply.body, "refresh_token")}),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);

    // A backup code, form-encoded as RFC 6749 prescribes.
    let mfa = mfa_token(&app, &account).await;
    let code = account.backup_code();
    let reply = Reply::from(
        app.http
            .post(app.api("/token"))
            .form(&[
                ("grant_type", "mfa_backup_code"),
                ("mfa_token", mfa.as_str()),
                ("code", code.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let access = assert_tokens(&reply, &account);
    assert!(app.session_alive(&access).await);
    // refresh_token_delivery as for the password grant.
    let mfa_cookie = mfa_token(&app, &account).await;
    let reply = token(
        &app,
        json!({"grant_type": "mfa_backup_code", "mfa_token": mfa_cookie,
               "code": account.backup_code(), "refresh_token_delivery": "cookie"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("refresh_token").is_none(), "not in the body");
    assert!(reply.set_cookie("portcullis.refresh_token").is_some());
    // The mfa_token is used up; so is the backup code.
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": account.backup_codes[0]}),
        )
        .await,
        400,
        "invalid_grant",
    );
    let mfa = mfa_token(&app, &account).await;
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": code}),
        )
        .await,
        400,
        "invalid_grant",
    );
}

async fn token_mode_refusals_follow_rfc6749(backend: Backend) {
    let app = TestApp::spawn_with(backend, &LENIENT_THROTTLE).await;
    let mut account = enabled_account(&app).await;
    let mfa = mfa_token(&app, &account).await;
    for body in [
        json!({"grant_type": "mfa_totp", "mfa_token": mfa}),
        json!({"grant_type": "mfa_backup_code", "mfa_token": mfa}),
        json!({"grant_type": "mfa_totp", "code": "123456"}),
    ] {
        assert_oauth_error(&token(&app, body).await, 400, "invalid_request");
    }
    let wrong = account.wrong_code();
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_totp", "mfa_token": mfa, "code": wrong}),
        )
        .await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": "aaaaa-aaaaa"}),
        )
        .await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_totp", "mfa_token": "not-an-mfa-token", "code": wrong}),
        )
        .await,
        400,
        "invalid_grant",
    );
    // After wrong codes the mfa_token still works...
    let code = account.next_code().await;
    let reply = token(
        &app,
        json!({"grant_type": "mfa_totp", "mfa_token": mfa, "code": code}),
    )
    .await;
    assert_tokens(&reply, &account);
    // ...once.
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": account.backup_codes[0]}),
        )
        .await,
        400,
        "invalid_grant",
    );

    // The fifth wrong code kills the mfa_token.
    let mfa = mfa_token(&app, &account).await;
    for _ in 0..5 {
        assert_oauth_error(
            &token(
                &app,
                json!({"grant_type": "mfa_totp", "mfa_token": mfa, "code": wrong}),
            )
            .await,
            400,
            "invalid_grant",
        );
    }
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": account.backup_codes[0]}),
        )
        .await,
        400,
        "invalid_grant",
    );
    // The backup code was not used up by the dead token.
    let mfa = mfa_token(&app, &account).await;
    let code = account.backup_code();
    assert_tokens(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": code}),
        )
        .await,
        &account,
    );
}

async fn challenge_cookies_and_mfa_tokens_are_not_interchangeable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let code = account.backup_code();

    let mfa = mfa_token(&app, &account).await;
    verify_backup_code(&app, &mfa, &code)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");

    let challenge = password_step(&app, &account).await;
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": challenge, "code": code}),
        )
        .await,
        400,
        "invalid_grant",
    );
    // Each still works where it was handed out (the code was never used).
    assert_completed(&verify_backup_code(&app, &challenge, &code).await, &app);
    assert_tokens(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": account.backup_code()}),
        )
        .await,
        &account,
    );
}

// ---------------------------------------------------------------------------------------------
// Sessions and bodies.
// ---------------------------------------------------------------------------------------------
