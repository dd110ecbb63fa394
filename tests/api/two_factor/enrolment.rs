//! Turning two-factor on and off: enable, activation, the TOTP URI, re-authentication, what is stored, disable, revoking other sessions, the audit trail.

use super::*;

both_backends!(
    enable_answers_a_totp_uri_a_qr_code_and_ten_backup_codes,
    two_factor_is_active_only_after_a_first_correct_code,
    enable_needs_the_password_a_session_and_a_valid_issuer,
    sensitive_calls_need_a_fresh_session,
    get_totp_uri_shows_the_same_secret,
    secrets_and_backup_codes_are_never_stored_in_clear,
    two_factor_events_are_audited,
    disable_turns_two_factor_off,
    revoke_other_sessions_ends_every_other_session_of_the_user,
);

async fn enable_answers_a_totp_uri_a_qr_code_and_ten_backup_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = account(&app).await;

    // With the session cookie (and the trusted Origin), as better-auth's client calls it.
    let reply = app
        .post(
            "/two-factor/enable",
            Auth::Cookie(&account.session),
            json!({ "password": account.password }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["method"], "totp");
    let (label, query) = parse_totp_uri(&reply.body["totpURI"]);
    assert_eq!(label, format!("Portcullis:{}", account.email));
    assert_eq!(query_param(&query, "issuer").as_deref(), Some("Portcullis"));
    for (name, allowed) in [("algorithm", "SHA1"), ("digits", "6"), ("period", "30")] {
        if let Some(value) = query_param(&query, name) {
            assert_eq!(value.to_uppercase(), allowed, "{name} in {query:?}");
        }
    }
    let (_, secret) = secret_of(&reply.body["totpURI"]);
    let qr = text(&reply.body, "totpQRCode");
    assert!(
        (qr.starts_with("<svg") || qr.starts_with("<?xml")) && qr.contains("svg"),
        "not an SVG: {qr:.80}"
    );
    assert_backup_code_shape(&backup_codes_of(&reply.body));

    // A custom issuer from the body; a new call replaces the pending secret.
    let reply = enable(
        &app,
        &account.session,
        &account.password,
        json!({"issuer": "Acme Corp"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (label, query) = parse_totp_uri(&reply.body["totpURI"]);
    assert_eq!(label, format!("Acme Corp:{}", account.email));
    assert_eq!(query_param(&query, "issuer").as_deref(), Some("Acme Corp"));
    assert_ne!(secret_of(&reply.body["totpURI"]).1, secret, "a new secret");
}

async fn two_factor_is_active_only_after_a_first_correct_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    let first = start_enabling(&app, &mut account).await;
    let first_secret = account.secret.clone();

    // Pending: sign-in still gives a session, and the user says two-factor is off.
    assert_signed_in(&app.sign_in(&account.email, &account.password).await);
    assert_eq!(
        user_of(&app, &account.session).await["twoFactorEnabled"],
        false
    );

    // Enabling again replaces the pending secret: the first one's code no longer activates.
    start_enabling(&app, &mut account).await;
    assert_ne!(account.secret, first_secret);
    assert_ne!(backup_codes_of(&first), account.backup_codes);
    let step = settle_in_step(&app.clock, 4.0);
    verify_totp_signed_in(&app, &account.session, &code_of_step(&first_secret, step))
        .await
        .assert_error(401, "INVALID_CODE");
    assert_eq!(
        user_of(&app, &account.session).await["twoFactorEnabled"],
        false
    );

    let code = account.next_code().await;
    let reply = verify_totp_signed_in(&app, &account.session, &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["token"].is_null(), "{}", reply.body);
    assert_eq!(reply.body["user"]["twoFactorEnabled"], true);
    assert_eq!(reply.body["user"]["email"], account.email.as_str());
    assert_eq!(
        user_of(&app, &account.session).await["twoFactorEnabled"],
        true
    );
    assert_two_factor_redirect(&app.sign_in(&account.email, &account.password).await);
}

async fn enable_needs_the_password_a_session_and_a_valid_issuer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = account(&app).await;
    enable(&app, &account.session, &strong_password(16), json!({}))
        .await
        .assert_error(400, "INVALID_PASSWORD");
    for issuer in [
        String::new(),
        "x".repeat(65),
        "Acme:Corp".to_owned(),
        "Acme\nCorp".to_owned(),
        "Acme\u{7}Corp".to_owned(),
    ] {
        enable(
            &app,
            &account.session,
            &account.password,
            json!({ "issuer": issuer }),
        )
        .await
        .assert_error(400, "INVALID_ISSUER");
    }
    // 64 characters are fine.
    assert_eq!(
        enable(
            &app,
            &account.session,
            &account.password,
            json!({"issuer": "y".repeat(64)})
        )
        .await
        .status,
        200
    );
    app.post(
        "/two-factor/enable",
        Auth::None,
        json!({ "password": account.password }),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    app.post(
        "/two-factor/enable",
        Auth::Bearer("not-a-session"),
        json!({ "password": account.password }),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    // Like every cookie-authenticated change, it needs a trusted Origin.
    let reply = app
        .post(
            "/two-factor/enable",
            Auth::CookieNoOrigin(&account.session),
            json!({ "password": account.password }),
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);

    let account = enabled_account(&app).await;
    enable(&app, &account.session, &account.password, json!({}))
        .await
        .assert_error(400, "TOTP_ALREADY_ENABLED");
}

async fn sensitive_calls_need_a_fresh_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let active = enabled_account(&app).await;
    let pending = account(&app).await;
    let storage = app.stop().await;
    let app = TestApp::start(storage, &[("session.fresh_age", "1d")]).await;
    // Two days, not one and a second: the first server's clock moved forward to reach fresh TOTP
    // steps, so these sessions were created up to minutes "later" than the wall clock says.
    app.clock.advance(Duration::from_secs(2 * 86_400));

    enable(&app, &pending.session, &pending.password, json!({}))
        .await
        .assert_error(403, "SESSION_NOT_FRESH");
    disable(&app, &active.session, &active.password, json!({}))
        .await
        .assert_error(403, "SESSION_NOT_FRESH");
    generate_backup_codes(&app, &active.session, &active.password, json!({}))
        .await
        .assert_error(403, "SESSION_NOT_FRESH");
    get_totp_uri(&app, &active.session, &active.password)
        .await
        .assert_error(403, "SESSION_NOT_FRESH");

    // Nothing changed: two-factor still on, the old backup codes still work.
    let challenge = password_step(&app, &active).await;
    let code = active.backup_codes[0].clone();
    assert_completed(&verify_backup_code(&app, &challenge, &code).await, &app);
    assert_eq!(
        user_of(&app, &pending.session).await["twoFactorEnabled"],
        false
    );
}

async fn get_totp_uri_shows_the_same_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    get_totp_uri(&app, &account.session, &account.password)
        .await
        .assert_error(400, "TOTP_NOT_ENABLED");
    start_enabling(&app, &mut account).await;
    let reply = get_totp_uri(&app, &account.session, &account.password).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(secret_of(&reply.body["totpURI"]).0, account.secret_base32);
    assert!(text(&reply.body, "totpQRCode").contains("svg"));

    let code = account.next_code().await;
    assert_eq!(
        verify_totp_signed_in(&app, &account.session, &code)
            .await
            .status,
        200
    );
    let reply = get_totp_uri(&app, &account.session, &account.password).await;
    assert_eq!(secret_of(&reply.body["totpURI"]).0, account.secret_base32);
    get_totp_uri(&app, &account.session, &strong_password(16))
        .await
        .assert_error(400, "INVALID_PASSWORD");
    app.post(
        "/two-factor/get-totp-uri",
        Auth::None,
        json!({ "password": account.password }),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
}

/// Every (table, text column) of the server's database.
async fn text_columns(app: &TestApp) -> Vec<(String, String)> {
    let mut db = app.db().await;
    let mut columns = Vec::new();
    if app.storage.database_url.starts_with("sqlite") {
        let tables: Vec<String> =
            sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut db)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get("name"))
                .collect();
        for table in tables {
            // AssertSqlSafe: `table` comes from the database's own catalogue (sqlite_master).
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT name FROM pragma_table_info('{table}')"
            )))
            .fetch_all(&mut db)
            .await
            .unwrap();
            for row in rows {
                columns.push((table.clone(), row.get("name")));
            }
        }
    } else {
        let rows = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        for row in rows {
            columns.push((row.get("t"), row.get("c")));
        }
    }
    columns
}

/// The columns in which `needle` appears (case-insensitively) in any row.
async fn columns_containing(app: &TestApp, needle: &str) -> Vec<String> {
    let mut db = app.db().await;
    let mut found = Vec::new();
    for (table, column) in text_columns(app).await {
        // AssertSqlSafe: `table` and `column` come from the database's own catalogue; the needle is bound.
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM \"{table}\" WHERE LOWER(CAST(\"{column}\" AS TEXT)) LIKE $1"
        )))
        .bind(format!("%{}%", needle.to_lowercase()))
        .fetch_one(&mut db)
        .await
        .unwrap();
        if row.get::<i64, _>("n") > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

async fn assert_stored_nowhere(app: &TestApp, what: &str, needle: &str) {
    let found = columns_containing(app, needle).await;
    assert!(
        found.is_empty(),
        "{what} {needle} stored in clear in {found:?}"
    );
}

async fn secrets_and_backup_codes_are_never_stored_in_clear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    start_enabling(&app, &mut account).await;
    // The scan itself works: the email is found.
    assert!(!columns_containing(&app, &account.email).await.is_empty());
    let check = |account: &Account| {
        let mut needles = vec![
            ("secret", account.secret_base32.clone()),
            ("secret (hex)", hex::encode(&account.secret)),
        ];
        for code in &account.backup_codes {
            needles.push(("backup code", code.clone()));
            needles.push(("backup code", code.replace('-', "")));
        }
        needles
    };
    for (what, needle) in check(&account) {
        assert_stored_nowhere(&app, what, &needle).await;
    }
    let code = account.next_code().await;
    assert_eq!(
        verify_totp_signed_in(&app, &account.session, &code)
            .await
            .status,
        200
    );
    let reply = generate_backup_codes(&app, &account.session, &account.password, json!({})).await;
    account.backup_codes.extend(backup_codes_of(&reply.body));
    let challenge = password_step(&app, &account).await;
    assert_stored_nowhere(&app, "challenge", &challenge).await;
    for (what, needle) in check(&account) {
        assert_stored_nowhere(&app, what, &needle).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Signing in.
// ---------------------------------------------------------------------------------------------

async fn two_factor_events_are_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    let kinds = [
        "two_factor_enabled",
        "two_factor_failed",
        "backup_code_used",
        "backup_codes_generated",
        "two_factor_disabled",
    ];
    for kind in kinds {
        assert_eq!(audit_count(&app, kind, &account).await, 0, "{kind}");
    }
    start_enabling(&app, &mut account).await;
    let code = account.next_code().await;
    assert_eq!(
        verify_totp_signed_in(&app, &account.session, &code)
            .await
            .status,
        200
    );
    assert_eq!(audit_count(&app, "two_factor_enabled", &account).await, 1);

    let sign_ins = audit_count(&app, "sign_in", &account).await;
    let challenge = password_step(&app, &account).await;
    assert_eq!(
        audit_count(&app, "sign_in", &account).await,
        sign_ins,
        "no sign-in before the second factor"
    );
    verify_totp(&app, &challenge, &account.wrong_code())
        .await
        .assert_error(401, "INVALID_CODE");
    assert!(audit_count(&app, "two_factor_failed", &account).await >= 1);
    assert_completed(
        &verify_backup_code(&app, &challenge, &account.backup_code()).await,
        &app,
    );
    assert_eq!(audit_count(&app, "backup_code_used", &account).await, 1);
    assert_eq!(audit_count(&app, "sign_in", &account).await, sign_ins + 1);

    let reply = generate_backup_codes(&app, &account.session, &account.password, json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        audit_count(&app, "backup_codes_generated", &account).await,
        1
    );
    let reply = disable(&app, &account.session, &account.password, json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(audit_count(&app, "two_factor_disabled", &account).await, 1);
}

// ---------------------------------------------------------------------------------------------
// Backup codes.
// ---------------------------------------------------------------------------------------------

async fn disable_turns_two_factor_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut fresh = account(&app).await;
    disable(&app, &fresh.session, &fresh.password, json!({}))
        .await
        .assert_error(400, "TWO_FACTOR_NOT_ENABLED");
    // Disabling cancels a pending enable.
    start_enabling(&app, &mut fresh).await;
    let reply = disable(&app, &fresh.session, &fresh.password, json!({})).await;
    assert_eq!(reply.body, json!({"status": true}));
    let code = fresh.next_code().await;
    verify_totp_signed_in(&app, &fresh.session, &code)
        .await
        .assert_error(400, "TOTP_NOT_ENABLED");
    disable(&app, &fresh.session, &fresh.password, json!({}))
        .await
        .assert_error(400, "TWO_FACTOR_NOT_ENABLED");

    let account = enabled_account(&app).await;
    disable(&app, &account.session, &strong_password(16), json!({}))
        .await
        .assert_error(400, "INVALID_PASSWORD");
    assert_two_factor_redirect(&app.sign_in(&account.email, &account.password).await);
    app.post(
        "/two-factor/disable",
        Auth::None,
        json!({ "password": account.password }),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");

    let reply = disable(&app, &account.session, &account.password, json!({})).await;
    assert_eq!(reply.body, json!({"status": true}));
    assert_eq!(
        user_of(&app, &account.session).await["twoFactorEnabled"],
        false
    );
    let reply = app.sign_in(&account.email, &account.password).await;
    let token = assert_signed_in(&reply);
    assert_eq!(reply.body["user"]["twoFactorEnabled"], false);
    assert!(app.session_alive(&token).await);
    // The backup codes went with it.
    let reply = app
        .post(
            "/two-factor/verify-backup-code",
            Auth::Bearer(&token),
            json!({ "code": account.backup_codes[0] }),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    disable(&app, &account.session, &account.password, json!({}))
        .await
        .assert_error(400, "TWO_FACTOR_NOT_ENABLED");
}

async fn revoke_other_sessions_ends_every_other_session_of_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = account(&app).await;
    let (_, _, bystander) = app.new_user().await;
    let caller = account.session.clone();

    // enable: without the flag other sessions stay, with it they end.
    let other = app.sign_in_token(&account.email, &account.password).await;
    start_enabling(&app, &mut account).await;
    assert!(app.session_alive(&other).await);
    let reply = enable(
        &app,
        &caller,
        &account.password,
        json!({"revokeOtherSessions": true}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    account.secret = secret_of(&reply.body["totpURI"]).1;
    account.backup_codes = backup_codes_of(&reply.body);
    assert!(!app.session_alive(&other).await);
    assert!(app.session_alive(&caller).await);
    let code = account.next_code().await;
    assert_eq!(
        verify_totp_signed_in(&app, &caller, &code).await.status,
        200
    );

    // generate-backup-codes.
    let other = backup_sign_in(&app, &mut account).await;
    let reply = generate_backup_codes(&app, &caller, &account.password, json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(app.session_alive(&other).await);
    let reply = generate_backup_codes(
        &app,
        &caller,
        &account.password,
        json!({"revokeOtherSessions": true}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    account.backup_codes = backup_codes_of(&reply.body);
    assert!(!app.session_alive(&other).await);
    assert!(app.session_alive(&caller).await);

    // disable.
    let other = backup_sign_in(&app, &mut account).await;
    let third = backup_sign_in(&app, &mut account).await;
    let reply = disable(
        &app,
        &caller,
        &account.password,
        json!({"revokeOtherSessions": true}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(!app.session_alive(&other).await);
    assert!(!app.session_alive(&third).await);
    assert!(app.session_alive(&caller).await);
    assert!(app.session_alive(&bystander).await, "other users untouched");
}
