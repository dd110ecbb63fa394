//! TOTP code checks: the accepted steps, single use, races, the challenge's attempt limit, the account throttle and the per-IP rate limit.

use super::*;

both_backends!(
    codes_one_step_either_side_are_accepted_two_steps_away_are_not,
    a_code_is_accepted_once_and_never_an_earlier_step,
    parallel_uses_of_one_totp_code_let_exactly_one_pass,
    a_challenge_dies_at_its_fifth_wrong_code,
    parallel_guesses_on_one_challenge_check_at_most_five,
    code_checks_are_throttled_per_account_apart_from_passwords,
    signed_in_code_checks_count_against_the_account_throttle,
    code_checks_are_rate_limited_per_client_ip,
);

async fn codes_one_step_either_side_are_accepted_two_steps_away_are_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    start_enabling(&app, &mut account).await;
    // Well inside a step: everything below happens within step s.
    let s = settle_in_step(&app.clock, 20.0);
    let key = account.secret.clone();
    for far in [s - 2, s + 2] {
        verify_totp_signed_in(&app, &account.session, &code_of_step(&key, far))
            .await
            .assert_error(401, "INVALID_CODE");
    }
    // One step back activates.
    let reply = verify_totp_signed_in(&app, &account.session, &code_of_step(&key, s - 1)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let challenge = password_step(&app, &account).await;
    for far in [s - 2, s + 2] {
        verify_totp(&app, &challenge, &code_of_step(&key, far))
            .await
            .assert_error(401, "INVALID_CODE");
    }
    // One step ahead completes a sign-in.
    assert_completed(
        &verify_totp(&app, &challenge, &code_of_step(&key, s + 1)).await,
        &app,
    );
    assert!(
        server_now(&app.clock) < ((s + 1) * 30) as f64,
        "the test left step s: rerun it"
    );
}

async fn a_code_is_accepted_once_and_never_an_earlier_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    start_enabling(&app, &mut account).await;
    let s = settle_in_step(&app.clock, 15.0);
    let key = account.secret.clone();
    let activation = code_of_step(&key, s - 1);
    assert_eq!(
        verify_totp_signed_in(&app, &account.session, &activation)
            .await
            .status,
        200
    );
    let challenge = password_step(&app, &account).await;
    // The activation code again: replayed.
    verify_totp(&app, &challenge, &activation)
        .await
        .assert_error(401, "INVALID_CODE");
    assert_completed(
        &verify_totp(&app, &challenge, &code_of_step(&key, s + 1)).await,
        &app,
    );
    let challenge = password_step(&app, &account).await;
    // The same code within its step: replayed.
    verify_totp(&app, &challenge, &code_of_step(&key, s + 1))
        .await
        .assert_error(401, "INVALID_CODE");
    // The current step's code, earlier than the last accepted one: refused too.
    verify_totp(&app, &challenge, &code_of_step(&key, s))
        .await
        .assert_error(401, "INVALID_CODE");
    // The challenge itself is still good for a backup code.
    assert_completed(
        &verify_backup_code(&app, &challenge, &account.backup_code()).await,
        &app,
    );
}

async fn parallel_uses_of_one_totp_code_let_exactly_one_pass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let first = password_step(&app, &account).await;
    let second = password_step(&app, &account).await;
    let code = account.next_code().await;
    let (a, b) = tokio::join!(
        verify_totp(&app, &first, &code),
        verify_totp(&app, &second, &code)
    );
    let (winner, loser) = if a.status == 200 { (a, b) } else { (b, a) };
    assert_completed(&winner, &app);
    loser.assert_error(401, "INVALID_CODE");
}

// ---------------------------------------------------------------------------------------------
// Limits.
// ---------------------------------------------------------------------------------------------

async fn a_challenge_dies_at_its_fifth_wrong_code(backend: Backend) {
    let app = TestApp::spawn_with(backend, &LENIENT_THROTTLE).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    let wrong = account.wrong_code();
    for _ in 0..4 {
        verify_totp(&app, &challenge, &wrong)
            .await
            .assert_error(401, "INVALID_CODE");
    }
    verify_totp(&app, &challenge, &wrong)
        .await
        .assert_error(401, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE");
    let right = account.next_code().await;
    verify_totp(&app, &challenge, &right)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    verify_backup_code(&app, &challenge, &account.backup_codes[0])
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");

    // Wrong backup codes count alike, mixed with wrong TOTP codes.
    let challenge = password_step(&app, &account).await;
    for i in 0..4 {
        let reply = if i % 2 == 0 {
            verify_backup_code(&app, &challenge, "aaaaa-aaaaa").await
        } else {
            verify_totp(&app, &challenge, &wrong).await
        };
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
    verify_backup_code(&app, &challenge, "aaaaa-aaaaa")
        .await
        .assert_error(401, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE");

    // A new sign-in gives a new challenge that works.
    let challenge = password_step(&app, &account).await;
    let code = account.next_code().await;
    assert_completed(&verify_totp(&app, &challenge, &code).await, &app);
}

async fn parallel_guesses_on_one_challenge_check_at_most_five(backend: Backend) {
    let app = TestApp::spawn_with(backend, &LENIENT_THROTTLE).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    let wrong = account.wrong_code();
    let replies = join_all((0..10).map(|_| verify_totp(&app, &challenge, &wrong))).await;
    let codes: Vec<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 401, "{}", r.body);
            text(&r.body, "code")
        })
        .collect();
    let count = |code: &str| codes.iter().filter(|c| *c == code).count();
    assert!(
        codes.iter().all(|c| [
            "INVALID_CODE",
            "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE",
            "INVALID_TWO_FACTOR_COOKIE"
        ]
        .contains(&c.as_str())),
        "{codes:?}"
    );
    assert!(count("INVALID_CODE") <= 4, "more than 5 checks: {codes:?}");
    assert!(
        count("INVALID_CODE") + count("TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE") >= 1,
        "{codes:?}"
    );
    // At most five codes were looked at (one failure recorded per checked code).
    let failures = audit_count(&app, "two_factor_failed", &account).await;
    assert!((1..=5).contains(&failures), "{failures} checks: {codes:?}");
    // The challenge is dead, even for the right code; a new one works.
    let right = account.next_code().await;
    verify_totp(&app, &challenge, &right)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    let challenge = password_step(&app, &account).await;
    let code = account.next_code().await;
    assert_completed(&verify_totp(&app, &challenge, &code).await, &app);
}

async fn code_checks_are_throttled_per_account_apart_from_passwords(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("throttle.free_failures", "2"),
            ("throttle.max_failures", "3"),
        ],
    )
    .await;
    let mut account = enabled_account(&app).await;
    let bystander = enabled_account(&app).await;
    let wrong = account.wrong_code();

    // Wrong codes across fresh challenges: two free failures, then waits, at most three in all.
    let mut failures = 0;
    for attempt in 0..12 {
        if failures == 3 {
            break;
        }
        // Password sign-ins are not throttled by code failures.
        let challenge = password_step(&app, &account).await;
        let reply = if attempt % 2 == 0 {
            verify_totp(&app, &challenge, &wrong).await
        } else {
            verify_backup_code(&app, &challenge, "aaaaa-aaaaa").await
        };
        if reply.status == 429 {
            let seconds = assert_limited(&reply);
            assert!(seconds <= 4, "a short wait after a few failures: {seconds}");
            app.clock
                .advance(Duration::from_millis(seconds * 1000 + 200));
        } else {
            assert_eq!(reply.status, 401, "{}", reply.body);
            assert!(
                ["INVALID_CODE", "INVALID_BACKUP_CODE"]
                    .contains(&text(&reply.body, "code").as_str()),
                "{}",
                reply.body
            );
            failures += 1;
        }
    }
    assert_eq!(failures, 3, "three wrong codes could be tried");

    // Locked: the right code on a fresh challenge is refused, with Retry-After.
    let challenge = password_step(&app, &account).await;
    let code = account.next_code().await;
    assert_limited(&verify_totp(&app, &challenge, &code).await);
    assert_limited(&verify_backup_code(&app, &challenge, &account.backup_codes[0]).await);
    // Another account is not affected.
    let challenge = password_step(&app, &bystander).await;
    assert_completed(
        &verify_backup_code(&app, &challenge, &bystander.backup_codes[0]).await,
        &app,
    );

    // Password failures do not throttle code checks: lock the bystander's password sign-ins
    // with a challenge already in hand; its code still completes the sign-in.
    let challenge = password_step(&app, &bystander).await;
    let mut password_failures = 0;
    for _ in 0..12 {
        if password_failures == 3 {
            break;
        }
        let reply = app.sign_in(&bystander.email, &strong_password(16)).await;
        if reply.status == 429 {
            let seconds = assert_limited(&reply);
            app.clock
                .advance(Duration::from_millis(seconds * 1000 + 200));
        } else {
            reply.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
            password_failures += 1;
        }
    }
    assert_eq!(password_failures, 3);
    assert_limited(&app.sign_in(&bystander.email, &bystander.password).await);
    assert_completed(
        &verify_backup_code(&app, &challenge, &bystander.backup_codes[1]).await,
        &app,
    );
}

/// Wrong codes from a signed-in session (testing a backup code) are code checks too.
async fn signed_in_code_checks_count_against_the_account_throttle(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("throttle.free_failures", "2"),
            ("throttle.max_failures", "3"),
        ],
    )
    .await;
    let account = enabled_account(&app).await;
    let mut outcomes = Vec::new();
    for _ in 0..8 {
        let reply = verify_backup_code_signed_in(&app, &account.session, "aaaaa-aaaaa").await;
        outcomes.push(format!("{} {}", reply.status, reply.body["code"]));
        if reply.status == 429 {
            assert_limited(&reply);
            if outcomes.iter().filter(|o| o.starts_with("401")).count() == 3 {
                break;
            }
            let seconds: u64 = reply.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            if seconds > 4 {
                break;
            }
            app.clock
                .advance(Duration::from_millis(seconds * 1000 + 200));
        } else {
            reply.assert_error(401, "INVALID_BACKUP_CODE");
        }
    }
    let failures = outcomes.iter().filter(|o| o.starts_with("401")).count();
    assert!(
        failures <= 3,
        "more than throttle.max_failures wrong codes were checked: {outcomes:?}"
    );
    // Locked: even a right code is refused.
    let reply =
        verify_backup_code_signed_in(&app, &account.session, &account.backup_codes[0]).await;
    assert_eq!(
        reply.status, 429,
        "wrong codes so far: {outcomes:?}; then the right one: {} {}",
        reply.status, reply.body
    );
    assert_limited(&reply);
}

async fn code_checks_are_rate_limited_per_client_ip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let storage = app.stop().await;
    let app = TestApp::start(storage, &[("rate_limits.two_factor", "3/1m")]).await;
    let challenge = password_step(&app, &account).await;
    let mfa = mfa_token(&app, &account).await;
    let wrong = account.wrong_code();
    verify_totp(&app, &challenge, &wrong)
        .await
        .assert_error(401, "INVALID_CODE");
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_totp", "mfa_token": mfa, "code": wrong}),
        )
        .await,
        400,
        "invalid_grant",
    );
    verify_totp(&app, &challenge, &wrong)
        .await
        .assert_error(401, "INVALID_CODE");
    // The fourth code check from this address, right or wrong, in either mode.
    let code = account.next_code().await;
    assert_limited(&verify_totp(&app, &challenge, &code).await);
    assert_limited(&verify_backup_code(&app, &challenge, &account.backup_codes[0]).await);
    let reply = token(
        &app,
        json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": account.backup_codes[0]}),
    )
    .await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(reply.headers.contains_key("retry-after"));
    // Password sign-ins are another class.
    password_step(&app, &account).await;
}
