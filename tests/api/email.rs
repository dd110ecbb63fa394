//! Email verification, password reset, email change and the outbox, against a real SMTP server.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Row;

use crate::both_backends;
use crate::helpers::{eventually, random_email, strong_password, Auth, Backend, Reply, TestApp};
use crate::smtp_sink::{link_in, reset_token_of, SmtpSink};
use crate::tokens::{password_grant, refresh};

both_backends!(
    sign_up_sends_a_verification_link_that_works_once,
    required_verification_blocks_sign_in_and_hides_taken_emails,
    send_verification_email_answers_alike_for_every_address,
    password_reset_round_trip,
    reset_tokens_expire_are_single_use_and_bound_to_their_purpose,
    password_reset_requests_reveal_nothing,
    email_change_needs_confirmation_from_the_new_address,
    email_change_to_a_taken_address_answers_like_a_free_one,
    an_smtp_outage_loses_nothing_and_sends_nothing_twice,
    links_use_the_configured_base_url_never_the_host_header,
    redirect_targets_must_be_relative_or_trusted,
    without_smtp_mail_is_held_in_the_outbox,
    smtp_without_starttls_is_refused_not_downgraded,
);

pub(crate) async fn spawn_with_mail(
    backend: Backend,
    sink: &SmtpSink,
    extra: &[(&str, &str)],
) -> TestApp {
    let url = sink.url();
    let mut settings = vec![
        ("smtp_url", url.as_str()),
        ("mail.from_address", "auth@acme.example"),
        ("mail.product_name", "Acme"),
    ];
    settings.extend_from_slice(extra);
    TestApp::spawn_with(backend, &settings).await
}

async fn get_no_redirect(app: &TestApp, url: &str) -> reqwest::Response {
    app.http.get(url).send().await.unwrap()
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "expected a redirect");
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn sign_up_sends_a_verification_link_that_works_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, &[("email.send_on_sign_up", "true")]).await;
    let email = random_email();
    let reply = app
        .post("/sign-up/email", Auth::None, json!({"name": "Ada <Lovelace>", "email": email, "password": strong_password(16), "callbackURL": "/welcome"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let session = reply.body["token"].as_str().unwrap().to_owned();

    let mail = sink.wait_for(&email, 1).await.remove(0);
    assert_eq!(mail.subject, "Confirm your email for Acme");
    assert_eq!(mail.from, "auth@acme.example");
    assert!(
        mail.raw
            .contains("From: \"Portcullis\" <auth@acme.example>")
            || mail.raw.contains("From: Portcullis <auth@acme.example>"),
        "{}",
        mail.raw
    );
    let link = link_in(
        &mail.text,
        &format!("{}/api/auth/verify-email?token=", app.url),
    );
    assert!(link.contains("callbackURL=%2Fwelcome"), "{link}");
    assert!(
        mail.html.contains("Ada &lt;Lovelace&gt;"),
        "HTML is escaped: {}",
        mail.html
    );
    let html = mail
        .html
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&amp;", "&");
    assert!(
        html.contains(&format!("href=\"{link}\"")),
        "the HTML carries the same link: {}",
        mail.html
    );

    let opened = get_no_redirect(&app, &link).await;
    assert_eq!(location(&opened), "/welcome");
    let me = app.get("/get-session", Auth::Bearer(&session)).await;
    assert_eq!(me.body["user"]["emailVerified"], true);

    // Single use: a second visit is told the token is invalid, in the redirect or as JSON.
    let again = get_no_redirect(&app, &link).await;
    assert_eq!(location(&again), "/welcome?error=INVALID_TOKEN");
    let token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    app.get(&format!("/verify-email?token={token}"), Auth::None)
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.get("/verify-email", Auth::None)
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

async fn required_verification_blocks_sign_in_and_hides_taken_emails(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, &[("email.require_verification", "true")]).await;
    let email = random_email();
    let password = strong_password(16);
    let first = app.sign_up(&email, &password).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first.body["token"].is_null(),
        "no session before verification"
    );
    assert!(first.set_cookie("portcullis.session_token").is_none());

    // A second sign-up with the same address looks exactly like the first.
    let second = app.sign_up(&email, &strong_password(16)).await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.body["token"], first.body["token"]);
    assert_eq!(second.body["user"]["email"], first.body["user"]["email"]);
    assert_eq!(second.body["user"]["name"], first.body["user"]["name"]);
    let mails = sink.wait_for(&email, 2).await;
    assert!(mails
        .iter()
        .any(|m| m.subject == "Confirm your email for Acme"));
    assert!(
        mails
            .iter()
            .any(|m| m.subject == "You already have a Acme account"),
        "the owner is told: {mails:?}"
    );

    app.sign_in(&email, &password)
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    app.sign_in(&email, &strong_password(16))
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let grant = password_grant(&app, &email, &password).await;
    assert_eq!(grant.status, 400);

    let verify = mails
        .iter()
        .find(|m| m.subject.starts_with("Confirm"))
        .unwrap();
    let link = link_in(&verify.text, &app.url);
    assert_eq!(get_no_redirect(&app, &link).await.status(), 302);
    let signed_in = app.sign_in(&email, &password).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.body["user"]["emailVerified"], true);
}

async fn send_verification_email_answers_alike_for_every_address(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, &[]).await;
    let (email, _, session) = app.new_user().await;
    let unknown = random_email();
    let known_reply = app
        .post(
            "/send-verification-email",
            Auth::None,
            json!({"email": email}),
        )
        .await;
    let unknown_reply = app
        .post(
            "/send-verification-email",
            Auth::None,
            json!({"email": unknown}),
        )
        .await;
    assert_eq!(
        (known_reply.status, known_reply.body.clone()),
        (200, json!({"status": true}))
    );
    assert_eq!(
        (unknown_reply.status, unknown_reply.body),
        (known_reply.status, known_reply.body)
    );
    sink.wait_for(&email, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.mails_to(&unknown).is_empty());

    app.post(
        "/send-verification-email",
        Auth::Bearer(&session),
        json!({"email": random_email()}),
    )
    .await
    .assert_error(400, "EMAIL_MISMATCH");
    app.post(
        "/send-verification-email",
        Auth::None,
        json!({"email": "not an email"}),
    )
    .await
    .assert_error(400, "INVALID_EMAIL");
}

/// The link of the `nth` reset mail to `email` (waiting for it).
async fn reset_link(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resets: Vec<_> = sink
            .mails_to(email)
            .into_iter()
            .filter(|m| m.subject == "Reset your Acme password")
            .collect();
        if let Some(mail) = resets.get(nth - 1) {
            return link_in(&mail.text, &format!("{}/api/auth/reset-password/", app.url));
        }
        assert!(
            Instant::now() < deadline,
            "reset mail {nth} to {email} never came"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn password_reset_round_trip(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, &[]).await;
    let (email, old_password, session) = app.new_user().await;
    let tokens = password_grant(&app, &email, &old_password).await.body;

    let reply = app
        .post(
            "/request-password-reset",
            Auth::None,
            json!({"email": email, "redirectTo": "/new-password"}),
        )
        .await;
    assert_eq!(reply.body["status"], true);
    let link = reset_link(&app, &sink, &email, 1).await;
    assert!(link.contains("callbackURL=%2Fnew-password"), "{link}");
    let landing = location(&get_no_redirect(&app, &link).await);
    assert!(landing.starts_with("/new-password?token="), "{landing}");
    let token = landing.split("token=").nth(1).unwrap().to_owned();

    // A refused password does not use the token up.
    app.post(
        "/reset-password",
        Auth::None,
        json!({"token": token, "newPassword": "password123"}),
    )
    .await
    .assert_error(400, "PASSWORD_TOO_WEAK");
    let new_password = strong_password(18);
    let done = app
        .post(
            "/reset-password",
            Auth::None,
            json!({"token": token, "newPassword": new_password}),
        )
        .await;
    assert_eq!(done.body, json!({"status": true}));

    // Every session and refresh token of the user is gone; the new password works.
    assert!(!app.session_alive(&session).await);
    assert_eq!(
        refresh(&app, tokens["refresh_token"].as_str().unwrap())
            .await
            .body["error"],
        "invalid_grant"
    );
    app.sign_in(&email, &old_password)
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(app.sign_in(&email, &new_password).await.status, 200);
    let notice = sink.wait_for(&email, 2).await;
    assert!(
        notice
            .iter()
            .any(|m| m.subject == "Your Acme password was changed"),
        "{notice:?}"
    );

    // Single use.
    app.post(
        "/reset-password",
        Auth::None,
        json!({"token": token, "newPassword": strong_password(18)}),
    )
    .await
    .assert_error(400, "INVALID_TOKEN");
    assert_eq!(
        location(&get_no_redirect(&app, &link).await),
        "/new-password?error=INVALID_TOKEN"
    );
    let mut db = app.db().await;
    let stored: String = sqlx::query("SELECT token_hash FROM email_tokens")
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("token_hash");
    assert_ne!(stored, token, "only a hash is stored");
}

async fn reset_tokens_expire_are_single_use_and_bound_to_their_purpose(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(
        backend,
        &sink,
        &[("email.reset_ttl", "1h"), ("email.send_on_sign_up", "true")],
    )
    .await;
    let (email, _, _) = app.new_user().await;
    let (other_email, other_password, _) = app.new_user().await;

    // A verification token is no reset token.
    let verification = sink.wait_for(&email, 1).await.remove(0);
    let verify_token = link_in(&verification.text, &app.url)
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    app.post(
        "/reset-password",
        Auth::None,
        json!({"token": verify_token, "newPassword": strong_password(18)}),
    )
    .await
    .assert_error(400, "INVALID_TOKEN");

    app.post(
        "/request-password-reset",
        Auth::None,
        json!({"email": email}),
    )
    .await;
    let link = reset_link(&app, &sink, &email, 1).await;
    let token = reset_token_of(&link);
    let mut tampered = token.clone().into_bytes();
    tampered[5] = if tampered[5] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    app.post(
        "/reset-password",
        Auth::None,
        json!({"token": tampered, "newPassword": strong_password(18)}),
    )
    .await
    .assert_error(400, "INVALID_TOKEN");
    app.clock.advance(Duration::from_secs(3601));
    app.post(
        "/reset-password",
        Auth::None,
        json!({"token": token, "newPassword": strong_password(18)}),
    )
    .await
    .assert_error(400, "TOKEN_EXPIRED");

    // A newer request retires the older link; a token changes only its own user's password.
    app.post(
        "/request-password-reset",
        Auth::None,
        json!({"email": email}),
    )
    .await;
    let older = reset_link(&app, &sink, &email, 2).await;
    app.post(
        "/request-password-reset",
        Auth::None,
        json!({"email": email}),
    )
    .await;
    let newer = reset_link(&app, &sink, &email, 3).await;
    app.post(
        "/reset-password",
        Auth::None,
        json!({"token": reset_token_of(&older), "newPassword": strong_password(18)}),
    )
    .await
    .assert_error(400, "INVALID_TOKEN");
    let new_password = strong_password(18);
    let done = app
        .post(
            "/reset-password",
            Auth::None,
            json!({"token": reset_token_of(&newer), "newPassword": new_password}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(app.sign_in(&email, &new_password).await.status, 200);
    assert_eq!(
        app.sign_in(&other_email, &other_password).await.status,
        200,
        "another user is untouched"
    );
    app.post(
        "/reset-password",
        Auth::None,
        json!({"newPassword": new_password}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
}

async fn password_reset_requests_reveal_nothing(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, &[]).await;
    let (email, _, _) = app.new_user().await;
    let request = |address: String| {
        let app = &app;
        async move {
            app.post(
                "/request-password-reset",
                Auth::None,
                json!({"email": address}),
            )
            .await
        }
    };
    let known = request(email.clone()).await;
    let unknown = request(random_email()).await;
    assert_eq!(
        (known.status, known.body.clone()),
        (unknown.status, unknown.body)
    );
    // Timing: abuse::password_reset_timing_does_not_tell_known_from_unknown_emails.
}

async fn email_change_needs_confirmation_from_the_new_address(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, &[]).await;
    let (old_email, password, session) = app.new_user().await;
    let new_email = random_email();
    let reply = app
        .post(
            "/change-email",
            Auth::Bearer(&session),
            json!({"newEmail": new_email.to_uppercase(), "callbackURL": "/settings"}),
        )
        .await;
    assert_eq!(reply.body, json!({"status": true}));
    let notice = sink.wait_for(&old_email, 1).await.remove(0);
    assert_eq!(notice.subject, "A change of your Acme email was requested");
    assert!(
        !notice.text.contains("token="),
        "the old address gets no link"
    );
    let confirm = sink.wait_for(&new_email, 1).await.remove(0);
    let link = link_in(
        &confirm.text,
        &format!("{}/api/auth/verify-email?token=", app.url),
    );
    // Nothing changes until the new address confirms.
    assert_eq!(
        app.get("/get-session", Auth::Bearer(&session)).await.body["user"]["email"],
        old_email.as_str()
    );
    assert_eq!(location(&get_no_redirect(&app, &link).await), "/settings");
    let user = app.get("/get-session", Auth::Bearer(&session)).await.body["user"].clone();
    assert_eq!(user["email"], new_email.as_str());
    assert_eq!(user["emailVerified"], true);
    assert_eq!(app.sign_in(&new_email, &password).await.status, 200);
    app.sign_in(&old_email, &password)
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");

    app.post(
        "/change-email",
        Auth::Bearer(&session),
        json!({"newEmail": "x@example.com\r\nBcc: y@example.com"}),
    )
    .await
    .assert_error(400, "INVALID_EMAIL");
    app.post(
        "/change-email",
        Auth::Bearer(&session),
        json!({"newEmail": new_email}),
    )
    .await
    .assert_error(400, "EMAIL_IS_THE_SAME");
    app.post(
        "/change-email",
        Auth::None,
        json!({"newEmail": random_email()}),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");

    // A sign-in older than session.fresh_age may not change the address.
    let strict = spawn_with_mail(backend, &sink, &[("session.fresh_age", "1d")]).await;
    let (_, _, session) = strict.new_user().await;
    strict.clock.advance(Duration::from_secs(86_401));
    strict
        .post(
            "/change-email",
            Auth::Bearer(&session),
            json!({"newEmail": random_email()}),
        )
        .await
        .assert_error(403, "SESSION_NOT_FRESH");
}

async fn email_change_to_a_taken_address_answers_like_a_free_one(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, &[]).await;
    let (old_email, _, session) = app.new_user().await;
    let (taken, _, _) = app.new_user().await;
    let free = random_email();
    let to_taken = app
        .post(
            "/change-email",
            Auth::Bearer(&session),
            json!({"newEmail": taken}),
        )
        .await;
    let to_free = app
        .post(
            "/change-email",
            Auth::Bearer(&session),
            json!({"newEmail": free}),
        )
        .await;
    assert_eq!(
        (to_taken.status, to_taken.body.clone()),
        (to_free.status, to_free.body.clone())
    );
    sink.wait_for(&free, 1).await;
    sink.wait_for(&old_email, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sink.mails_to(&taken).is_empty(),
        "the taken address's owner gets no link"
    );
}

async fn an_smtp_outage_loses_nothing_and_sends_nothing_twice(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.set_up(false);
    let app = spawn_with_mail(backend, &sink, &[]).await;
    let mut addresses = Vec::new();
    for _ in 0..5 {
        let (email, _, _) = app.new_user().await;
        app.post(
            "/request-password-reset",
            Auth::None,
            json!({"email": email}),
        )
        .await;
        addresses.push(email);
    }
    eventually("every message was tried and kept", || async {
        app.count("mail_outbox WHERE status = 'pending' AND attempts >= 1")
            .await
            == 5
    })
    .await;
    assert!(
        sink.mails().is_empty(),
        "nothing gets through while the server is down"
    );

    sink.set_up(true);
    for email in &addresses {
        sink.wait_for(email, 1).await;
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for email in &addresses {
        assert_eq!(sink.mails_to(email).len(), 1, "exactly one mail to {email}");
    }
    let sent = app.count("mail_outbox WHERE status = 'sent'").await;
    assert_eq!(sent, 5);
}

async fn links_use_the_configured_base_url_never_the_host_header(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(backend, &sink, &[]).await;
    let (email, _, _) = app.new_user().await;
    let reply = Reply::from(
        app.http
            .post(app.api("/request-password-reset"))
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let mail = sink.wait_for(&email, 1).await.remove(0);
    assert!(
        !mail.text.contains("evil.example") && !mail.html.contains("evil.example"),
        "{}",
        mail.text
    );
    link_in(&mail.text, &format!("{}/api/auth/reset-password/", app.url));
}

async fn redirect_targets_must_be_relative_or_trusted(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_mail(
        backend,
        &sink,
        &[("trusted_origins", "https://app.example.com")],
    )
    .await;
    let (email, _, session) = app.new_user().await;
    for evil in [
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "https://evil.example/reset",
        "javascript:alert(1)",
    ] {
        app.post(
            "/request-password-reset",
            Auth::None,
            json!({"email": email, "redirectTo": evil}),
        )
        .await
        .assert_error(403, "INVALID_REDIRECT_URL");
        app.post(
            "/send-verification-email",
            Auth::None,
            json!({"email": email, "callbackURL": evil}),
        )
        .await
        .assert_error(403, "INVALID_CALLBACK_URL");
        app.post(
            "/change-email",
            Auth::Bearer(&session),
            json!({"newEmail": random_email(), "callbackURL": evil}),
        )
        .await
        .assert_error(403, "INVALID_CALLBACK_URL");
        let encoded: String = url::form_urlencoded::byte_serialize(evil.as_bytes()).collect();
        app.get(
            &format!("/verify-email?token=x&callbackURL={encoded}"),
            Auth::None,
        )
        .await
        .assert_error(403, "INVALID_CALLBACK_URL");
        app.get(
            &format!("/reset-password/x?callbackURL={encoded}"),
            Auth::None,
        )
        .await
        .assert_error(403, "INVALID_CALLBACK_URL");
    }
    let trusted = app
        .post(
            "/request-password-reset",
            Auth::None,
            json!({"email": email, "redirectTo": "https://app.example.com/reset"}),
        )
        .await;
    assert_eq!(trusted.status, 200);
    let link = reset_link(&app, &sink, &email, 1).await;
    assert!(location(&get_no_redirect(&app, &link).await)
        .starts_with("https://app.example.com/reset?token="));
}

async fn without_smtp_mail_is_held_in_the_outbox(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("email.send_on_sign_up", "true")]).await;
    let (email, _, _) = app.new_user().await;
    let mut held = 0;
    for _ in 0..40 {
        let mut db = app.db().await;
        held = sqlx::query(
            "SELECT COUNT(*) AS n FROM mail_outbox WHERE status = 'held' AND to_address = $1",
        )
        .bind(&email)
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get::<i64, _>("n");
        if held == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held, 1);
    let run = |args: &[&str]| {
        let output = app.cli(args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let list = run(&["mail", "list"]);
    let line = list
        .lines()
        .find(|l| l.contains(&email))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(line.contains("held"), "{line}");
    let id = line.split_whitespace().next().unwrap();
    let shown = run(&["mail", "show", id]);
    assert!(shown.contains(&format!("To: {email}")), "{shown}");
    assert!(
        shown.contains(&format!("{}/api/auth/verify-email?token=", app.url)),
        "{shown}"
    );
}

async fn smtp_without_starttls_is_refused_not_downgraded(backend: Backend) {
    // smtp:// without tls=none requires STARTTLS; the sink does not offer it, so nothing may be
    // sent in clear text: the message stays pending with the reason.
    let sink = SmtpSink::start().await;
    let url = format!("smtp://{}", sink.addr);
    let app = TestApp::spawn_with(
        backend,
        &[
            ("smtp_url", url.as_str()),
            ("email.send_on_sign_up", "true"),
        ],
    )
    .await;
    let (email, _, _) = app.new_user().await;
    // Wait for a recorded outcome (the attempt counter moves at the claim, the error after it).
    let mut last_error = String::new();
    for _ in 0..200 {
        let mut db = app.db().await;
        let row = sqlx::query("SELECT status, last_error FROM mail_outbox WHERE to_address = $1")
            .bind(&email)
            .fetch_one(&mut db)
            .await
            .unwrap();
        if let Some(error) = row.get::<Option<String>, _>("last_error") {
            assert_eq!(
                row.get::<String, _>("status"),
                "pending",
                "kept for a retry"
            );
            last_error = error;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!last_error.is_empty(), "no delivery attempt was recorded");
    assert!(sink.mails().is_empty(), "a message went out without TLS");
}
