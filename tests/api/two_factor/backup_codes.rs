//! Backup codes: single use under races, regeneration, forgiving input, and refusal before activation.

use super::*;

both_backends!(
    parallel_uses_of_one_backup_code_let_exactly_one_pass,
    generating_backup_codes_replaces_the_set,
    backup_codes_ignore_case_spaces_and_dashes,
    backup_codes_are_refused_before_activation,
);

async fn parallel_uses_of_one_backup_code_let_exactly_one_pass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let first = password_step(&app, &account).await;
    let second = password_step(&app, &account).await;
    let code = account.backup_code();
    let (a, b) = tokio::join!(
        verify_backup_code(&app, &first, &code),
        verify_backup_code(&app, &second, &code)
    );
    let (winner, loser) = if a.status == 200 { (a, b) } else { (b, a) };
    assert_completed(&winner, &app);
    loser.assert_error(401, "INVALID_BACKUP_CODE");
}

async fn generating_backup_codes_replaces_the_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    generate_backup_codes(&app, &account.session, &account.password, json!({}))
        .await
        .assert_error(400, "TWO_FACTOR_NOT_ENABLED");
    account = enabled_account(&app).await;
    generate_backup_codes(&app, &account.session, &strong_password(16), json!({}))
        .await
        .assert_error(400, "INVALID_PASSWORD");
    let reply = generate_backup_codes(&app, &account.session, &account.password, json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["status"], true);
    let new_codes = backup_codes_of(&reply.body);
    assert_backup_code_shape(&new_codes);
    assert!(new_codes.iter().all(|c| !account.backup_codes.contains(c)));

    let challenge = password_step(&app, &account).await;
    for old in &account.backup_codes[..2] {
        verify_backup_code(&app, &challenge, old)
            .await
            .assert_error(401, "INVALID_BACKUP_CODE");
    }
    assert_completed(
        &verify_backup_code(&app, &challenge, &new_codes[0]).await,
        &app,
    );
    // Signed in, a code can be tested (and is used up).
    let reply = app
        .post(
            "/two-factor/verify-backup-code",
            Auth::Bearer(&account.session),
            json!({ "code": new_codes[1] }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["token"].is_null(), "{}", reply.body);
    assert_eq!(reply.body["user"]["twoFactorEnabled"], true);
    let challenge = password_step(&app, &account).await;
    verify_backup_code(&app, &challenge, &new_codes[1])
        .await
        .assert_error(401, "INVALID_BACKUP_CODE");
}

async fn backup_codes_ignore_case_spaces_and_dashes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    for typed in [
        account.backup_code().to_uppercase(),
        account.backup_code().replace('-', ""),
        account.backup_code().replace('-', " "),
    ] {
        let challenge = password_step(&app, &account).await;
        assert_completed(&verify_backup_code(&app, &challenge, &typed).await, &app);
    }
}

async fn backup_codes_are_refused_before_activation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    verify_backup_code_signed_in(&app, &account.session, "aaaaa-aaaaa")
        .await
        .assert_error(400, "BACKUP_CODES_NOT_ENABLED");
    start_enabling(&app, &mut account).await;
    verify_backup_code_signed_in(&app, &account.session, &account.backup_codes[0])
        .await
        .assert_error(400, "BACKUP_CODES_NOT_ENABLED");
    // Still pending: a TOTP code activates, and then the same backup code works.
    let code = account.next_code().await;
    assert_eq!(
        verify_totp_signed_in(&app, &account.session, &code)
            .await
            .status,
        200
    );
    assert_eq!(
        verify_backup_code_signed_in(&app, &account.session, &account.backup_codes[0])
            .await
            .status,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Managing it.
// ---------------------------------------------------------------------------------------------
