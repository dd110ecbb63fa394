//! Trusted devices: skipping the second factor with a rotating cookie, and every way that trust ends.

use super::*;

both_backends!(
    a_trusted_device_skips_the_second_factor_with_a_rotating_cookie,
    device_trust_ends_with_a_password_change,
    a_password_reset_ends_device_trust_and_never_bypasses_two_factor,
    device_trust_ends_when_two_factor_is_disabled,
);

async fn a_trusted_device_skips_the_second_factor_with_a_rotating_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    // Without trustDevice, no trust cookie.
    let challenge = password_step(&app, &account).await;
    let reply = verify_backup_code(&app, &challenge, &account.backup_code()).await;
    assert_completed(&reply, &app);
    assert!(reply.set_cookie(TRUSTED).is_none());

    let challenge = password_step(&app, &account).await;
    let code = account.next_code().await;
    let reply = verify_with(
        &app,
        "totp",
        &challenge,
        json!({"code": code, "trustDevice": true}),
    )
    .await;
    assert_completed(&reply, &app);
    let cookie = reply.set_cookie(TRUSTED).expect("trusted-device cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/api/auth"] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "{attribute} missing: {cookie}"
        );
    }
    let lifetime = max_age(&cookie).expect("a persistent cookie");
    assert!(
        (THIRTY_DAYS - 60..=THIRTY_DAYS).contains(&lifetime),
        "30 days: {cookie}"
    );
    let first = cookie_value(&cookie);

    // A later sign-in from that browser: a session at once, and a new trust cookie.
    let before = sessions_of(&app, &account).await;
    let reply = sign_in_from_device(&app, &account, &first).await;
    let token = assert_signed_in(&reply);
    assert!(app.session_alive(&token).await);
    assert!(reply.set_cookie(&cookie_name(&app)).is_some());
    assert_eq!(sessions_of(&app, &account).await, before + 1);
    let rotated = reply.set_cookie(TRUSTED).expect("the trust cookie rotates");
    let second = cookie_value(&rotated);
    assert_ne!(second, first);
    let rotated_lifetime = max_age(&rotated).expect("a persistent cookie");
    assert!(
        rotated_lifetime <= lifetime && rotated_lifetime + 60 >= lifetime,
        "not extended: {lifetime} then {rotated_lifetime}"
    );

    // The old value no longer skips the second factor; the new one does, once.
    assert_two_factor_redirect(&sign_in_from_device(&app, &account, &first).await);
    let reply = sign_in_from_device(&app, &account, &second).await;
    assert_signed_in(&reply);
    let third = cookie_value(&reply.set_cookie(TRUSTED).unwrap());
    assert_two_factor_redirect(&sign_in_from_device(&app, &account, &second).await);
    // A wrong password is still a wrong password.
    let reply = browser_sign_in(
        &app,
        json!({"email": account.email, "password": strong_password(16)}),
        Some(&third),
    )
    .await;
    reply.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");

    // It never helps another account.
    let other = enabled_account(&app).await;
    assert_two_factor_redirect(&sign_in_from_device(&app, &other, &third).await);
}

async fn device_trust_ends_with_a_password_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let trusted = trust_this_device(&app, &mut account).await;
    let new_password = strong_password(18);
    let reply = app
        .post(
            "/change-password",
            Auth::Bearer(&account.session),
            json!({"currentPassword": account.password, "newPassword": new_password}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    account.password = new_password;
    assert_two_factor_redirect(&sign_in_from_device(&app, &account, &trusted).await);
}

async fn a_password_reset_ends_device_trust_and_never_bypasses_two_factor(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(backend, &[("smtp_url", smtp.as_str())]).await;
    let mut account = enabled_account(&app).await;
    let trusted = trust_this_device(&app, &mut account).await;

    let reply = app
        .post(
            "/request-password-reset",
            Auth::None,
            json!({ "email": account.email }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mail = sink.wait_for(&account.email, 1).await.remove(0);
    let link = link_in(&mail.text, &format!("{}/api/auth/reset-password/", app.url));
    let new_password = strong_password(18);
    let reply = app
        .post(
            "/reset-password",
            Auth::None,
            json!({"token": reset_token_of(&link), "newPassword": new_password}),
        )
        .await;
    assert_eq!(reply.body, json!({"status": true}));
    account.password = new_password;

    // Neither the reset nor the old trust skips the code; the same authenticator still works.
    let challenge = password_step(&app, &account).await;
    assert_two_factor_redirect(&sign_in_from_device(&app, &account, &trusted).await);
    let code = account.next_code().await;
    let token = assert_completed(&verify_totp(&app, &challenge, &code).await, &app);
    assert_eq!(user_of(&app, &token).await["twoFactorEnabled"], true);
}

async fn device_trust_ends_when_two_factor_is_disabled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let trusted = trust_this_device(&app, &mut account).await;
    let reply = disable(&app, &account.session, &account.password, json!({})).await;
    assert_eq!(reply.body, json!({"status": true}));
    assert_signed_in(&sign_in_from_device(&app, &account, &trusted).await);

    // Turned on again, the old trust is gone.
    start_enabling(&app, &mut account).await;
    let code = account.next_code().await;
    assert_eq!(
        verify_totp_signed_in(&app, &account.session, &code)
            .await
            .status,
        200
    );
    assert_two_factor_redirect(&sign_in_from_device(&app, &account, &trusted).await);
}

// ---------------------------------------------------------------------------------------------
// Token mode.
// ---------------------------------------------------------------------------------------------
