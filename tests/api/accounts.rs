//! Sign-up, sign-in, profile, password change and account deletion.

use serde_json::json;
use sqlx::Row;

use crate::both_backends;
use crate::helpers::{eventually, random_email, strong_password, Auth, Backend, TestApp};

both_backends!(
    sign_up_returns_user_and_a_working_session,
    look_alike_addresses_and_names_are_folded_or_refused,
    only_json_objects_are_bodies,
    sign_up_refuses_a_taken_email_in_any_case,
    fifty_parallel_sign_ups_make_one_account,
    sign_up_validates_every_field,
    password_length_edges_count_code_points,
    passwords_are_never_truncated,
    passwords_are_nfkc_normalised,
    common_and_personal_passwords_are_refused_with_a_reason,
    sign_in_gives_the_same_answer_for_unknown_email_and_wrong_password,
    sign_in_creates_a_new_session_each_time,
    bad_bodies_get_clear_4xx_answers,
    update_user_changes_name_and_image_only,
    change_password_needs_the_current_one,
    change_password_can_end_every_other_session,
    delete_user_needs_the_password_and_ends_all_sessions,
    hashes_are_stored_as_argon2id_and_upgraded_on_sign_in,
    callback_urls_must_be_relative_or_trusted,
    authentication_events_reach_the_audit_trail,
);

async fn sign_up_returns_user_and_a_working_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .post("/sign-up/email", Auth::None, json!({"name": " Ada ", "email": "  Ada.Lovelace@Example.COM ", "password": strong_password(16)}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let user = &reply.body["user"];
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["emailVerified"], false);
    assert!(user["image"].is_null());
    assert_eq!(user["id"].as_str().unwrap().len(), 24);
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(user.get("password").is_none() && user.get("passwordHash").is_none());
    let token = reply.body["token"].as_str().unwrap();
    assert!(reply
        .set_cookie("portcullis.session_token")
        .unwrap()
        .contains(token));

    let session = app.get("/get-session", Auth::Bearer(token)).await;
    assert_eq!(session.body["user"]["id"], user["id"]);
    let session = app.get("/get-session", Auth::Cookie(token)).await;
    assert_eq!(session.body["user"]["email"], "ada.lovelace@example.com");
}

async fn sign_up_refuses_a_taken_email_in_any_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, _, _) = app.new_user().await;
    let reply = app
        .sign_up(&email.to_uppercase(), &strong_password(16))
        .await;
    reply.assert_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    assert!(reply.set_cookie("portcullis.session_token").is_none());
}

async fn fifty_parallel_sign_ups_make_one_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = random_email();
    let attempts = (0..50).map(|_| {
        let password = strong_password(16);
        let app = &app;
        let email = email.clone();
        async move { app.sign_up(&email, &password).await }
    });
    let replies = futures::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(created, 1, "exactly one sign-up must win");
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.assert_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    }
    let mut db = app.db().await;
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n");
    assert_eq!(count, 1);
}

async fn sign_up_validates_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = strong_password(16);
    for email in [
        "not-an-email",
        "",
        "a@b",
        "ada@example.com\r\nBcc: victim@example.com",
    ] {
        app.post(
            "/sign-up/email",
            Auth::None,
            json!({"name": "Ada", "email": email, "password": password}),
        )
        .await
        .assert_error(400, "INVALID_EMAIL");
    }
    for name in ["", "   ", "Ada\r\nBcc: x@example.com"] {
        app.post(
            "/sign-up/email",
            Auth::None,
            json!({"name": name, "email": random_email(), "password": password}),
        )
        .await
        .assert_error(400, "INVALID_NAME");
    }
    app.post("/sign-up/email", Auth::None, json!({"name": "Ada", "email": random_email(), "password": password, "image": "javascript:alert(1)"}))
        .await
        .assert_error(400, "INVALID_IMAGE");
    app.post(
        "/sign-up/email",
        Auth::None,
        json!({"email": random_email(), "password": password}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    app.post(
        "/sign-up/email",
        Auth::None,
        json!({"name": "Ada", "email": random_email(), "password": 12345678}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    // Mass assignment: privileged fields are ignored.
    let reply = app
        .post("/sign-up/email", Auth::None, json!({"name": "Ada", "email": random_email(), "password": password, "emailVerified": true, "role": "admin", "id": "chosen-id"}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["user"]["emailVerified"], false);
    assert_ne!(reply.body["user"]["id"], "chosen-id");
    assert_eq!(reply.body["user"]["role"], "user");
}

async fn password_length_edges_count_code_points(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up(&random_email(), &strong_password(7))
        .await
        .assert_error(400, "PASSWORD_TOO_SHORT");
    for len in [8, 64, 128] {
        let password = strong_password(len);
        let email = random_email();
        let reply = app.sign_up(&email, &password).await;
        assert_eq!(
            reply.status, 200,
            "{len} code points must be accepted: {}",
            reply.body
        );
        assert_eq!(app.sign_in(&email, &password).await.status, 200);
    }
    app.sign_up(&random_email(), &strong_password(129))
        .await
        .assert_error(400, "PASSWORD_TOO_LONG");
    // 100 two-byte characters are 200 bytes but 100 code points: accepted.
    let greek: String = strong_password(100)
        .chars()
        .map(|_| 'λ')
        .collect::<String>();
    let reply = app
        .sign_up(&random_email(), &format!("{}{greek}", strong_password(8)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

async fn passwords_are_never_truncated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = random_email();
    let password: Vec<char> = strong_password(80).chars().collect();
    let original: String = password.iter().collect();
    assert_eq!(app.sign_up(&email, &original).await.status, 200);
    let mut altered = password.clone();
    altered[72] = if altered[72] == 'x' { 'y' } else { 'x' };
    let altered: String = altered.iter().collect();
    app.sign_in(&email, &altered)
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(app.sign_in(&email, &original).await.status, 200);
}

async fn passwords_are_nfkc_normalised(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = random_email();
    let suffix = strong_password(12);
    // U+FB01 LATIN SMALL LIGATURE FI is "fi" under NFKC; Å (U+212B ANGSTROM SIGN) is Å (U+00C5).
    assert_eq!(
        app.sign_up(&email, &format!("\u{FB01}\u{212B}{suffix}"))
            .await
            .status,
        200
    );
    assert_eq!(
        app.sign_in(&email, &format!("fi\u{00C5}{suffix}"))
            .await
            .status,
        200
    );
}

async fn common_and_personal_passwords_are_refused_with_a_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for weak in [
        "password",
        "password123",
        "qwertyuiop",
        "iloveyou1",
        "aaaaaaaaaaaa",
        "12345678910",
    ] {
        let reply = app.sign_up(&random_email(), weak).await;
        reply.assert_error(400, "PASSWORD_TOO_WEAK");
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.len() > 30, "the refusal must say why: {message}");
    }
    let email = "marguerite.yourcenar1903@example.com";
    app.sign_up(email, "marguerite.yourcenar1903")
        .await
        .assert_error(400, "PASSWORD_TOO_WEAK");
}

async fn sign_in_gives_the_same_answer_for_unknown_email_and_wrong_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, _, _) = app.new_user().await;
    let wrong = app.sign_in(&email, &strong_password(16)).await;
    let unknown = app.sign_in(&random_email(), &strong_password(16)).await;
    wrong.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.set_cookie("portcullis.session_token").is_none());
    assert!(unknown.set_cookie("portcullis.session_token").is_none());
}

async fn sign_in_creates_a_new_session_each_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, first) = app.new_user().await;
    let reply = app.sign_in(&email, &password).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["redirect"], false);
    assert_eq!(reply.body["user"]["email"], email.as_str());
    let second = reply.body["token"].as_str().unwrap();
    assert_ne!(first, second, "a new token at every sign-in");
    assert_eq!(second.len(), 43, "256-bit token, base64url");
    let sessions = app.get("/list-sessions", Auth::Bearer(second)).await;
    assert_eq!(sessions.body.as_array().unwrap().len(), 2);
    // Emails are matched case-insensitively at sign-in too.
    assert_eq!(
        app.sign_in(&email.to_uppercase(), &password).await.status,
        200
    );
}

async fn bad_bodies_get_clear_4xx_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let send = |body: &'static str, content_type: &'static str| {
        let request = app
            .http
            .post(app.api("/sign-in/email"))
            .header("content-type", content_type)
            .body(body);
        async move { crate::helpers::Reply::from(request.send().await.unwrap()).await }
    };
    send("{\"email\":", "application/json")
        .await
        .assert_error(400, "INVALID_JSON");
    send("[1,2,3]", "application/json")
        .await
        .assert_error(400, "VALIDATION_ERROR");
    send("null", "application/json")
        .await
        .assert_error(400, "VALIDATION_ERROR");
    send("{\"email\": 5, \"password\": \"x\"}", "application/json")
        .await
        .assert_error(400, "VALIDATION_ERROR");
    send("{\"password\": \"x\"}", "application/json")
        .await
        .assert_error(400, "VALIDATION_ERROR");
    send("email=a", "text/plain")
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.sign_in("not-an-email", "whatever-password")
        .await
        .assert_error(400, "INVALID_EMAIL");
    let huge = format!(
        "{{\"email\": \"a@example.com\", \"password\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let reply = crate::helpers::Reply::from(
        app.http
            .post(app.api("/sign-in/email"))
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(
        reply.headers["connection"], "close",
        "the unread body ends the connection"
    );
    let long_password = strong_password(10_000);
    app.sign_in("ada@example.com", &long_password)
        .await
        .assert_error(400, "PASSWORD_TOO_LONG");
    // The server is still healthy.
    assert_eq!(app.get("/ok", Auth::None).await.body, json!({"ok": true}));
}

async fn update_user_changes_name_and_image_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, _, token) = app.new_user().await;
    let reply = app
        .post("/update-user", Auth::Bearer(&token), json!({"name": "Grace", "image": "https://example.com/g.png", "emailVerified": true, "role": "admin", "banned": false}))
        .await;
    assert_eq!(reply.body, json!({"status": true}));
    let user = app.get("/get-session", Auth::Bearer(&token)).await.body["user"].clone();
    assert_eq!(user["name"], "Grace");
    assert_eq!(user["image"], "https://example.com/g.png");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["role"], "user");

    assert_eq!(
        app.post("/update-user", Auth::Cookie(&token), json!({"image": null}))
            .await
            .status,
        200
    );
    let user = app.get("/get-session", Auth::Bearer(&token)).await.body["user"].clone();
    assert!(user["image"].is_null());
    assert_eq!(user["name"], "Grace");

    app.post(
        "/update-user",
        Auth::Bearer(&token),
        json!({"email": "new@example.com"}),
    )
    .await
    .assert_error(400, "EMAIL_CAN_NOT_BE_UPDATED");
    app.post("/update-user", Auth::Bearer(&token), json!({}))
        .await
        .assert_error(400, "NO_FIELDS_TO_UPDATE");
    app.post(
        "/update-user",
        Auth::Bearer(&token),
        json!({"name": "x\ny"}),
    )
    .await
    .assert_error(400, "INVALID_NAME");
    app.post("/update-user", Auth::None, json!({"name": "Nobody"}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.post(
        "/update-user",
        Auth::Bearer("forged"),
        json!({"name": "Nobody"}),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
}

async fn change_password_needs_the_current_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, token) = app.new_user().await;
    let new_password = strong_password(18);
    app.post(
        "/change-password",
        Auth::Bearer(&token),
        json!({"currentPassword": strong_password(16), "newPassword": new_password}),
    )
    .await
    .assert_error(400, "INVALID_PASSWORD");
    app.post(
        "/change-password",
        Auth::Bearer(&token),
        json!({"newPassword": new_password}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    app.post(
        "/change-password",
        Auth::Bearer(&token),
        json!({"currentPassword": password, "newPassword": "password1"}),
    )
    .await
    .assert_error(400, "PASSWORD_TOO_WEAK");
    app.post(
        "/change-password",
        Auth::Bearer(&token),
        json!({"currentPassword": password, "newPassword": "short"}),
    )
    .await
    .assert_error(400, "PASSWORD_TOO_SHORT");
    app.post(
        "/change-password",
        Auth::None,
        json!({"currentPassword": password, "newPassword": new_password}),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    // Still the old password after every refusal.
    assert_eq!(app.sign_in(&email, &password).await.status, 200);

    let reply = app
        .post(
            "/change-password",
            Auth::Bearer(&token),
            json!({"currentPassword": password, "newPassword": new_password}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["token"].is_null());
    assert_eq!(reply.body["user"]["email"], email.as_str());
    app.sign_in(&email, &password)
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(app.sign_in(&email, &new_password).await.status, 200);
    // Without revokeOtherSessions the session stays.
    assert_eq!(
        app.get("/get-session", Auth::Bearer(&token)).await.body["user"]["email"],
        email.as_str()
    );
}

async fn change_password_can_end_every_other_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, current) = app.new_user().await;
    let other = app.sign_in_token(&email, &password).await;
    let new_password = strong_password(18);
    let reply = app
        .post("/change-password", Auth::Cookie(&current), json!({"currentPassword": password, "newPassword": new_password, "revokeOtherSessions": true}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let fresh = reply.body["token"].as_str().unwrap();
    assert!(reply
        .set_cookie("portcullis.session_token")
        .unwrap()
        .contains(fresh));
    assert!(!app.session_alive(&other).await);
    assert!(
        !app.session_alive(&current).await,
        "re-authentication issues a new token"
    );
    let sessions = app.get("/list-sessions", Auth::Bearer(fresh)).await;
    assert_eq!(sessions.body.as_array().unwrap().len(), 1);
}

async fn delete_user_needs_the_password_and_ends_all_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, token) = app.new_user().await;
    let other = app.sign_in_token(&email, &password).await;
    let (_, _, bystander) = app.new_user().await;

    app.post("/delete-user", Auth::Bearer(&token), json!({}))
        .await
        .assert_error(400, "INVALID_PASSWORD");
    app.post(
        "/delete-user",
        Auth::Bearer(&token),
        json!({"password": strong_password(16)}),
    )
    .await
    .assert_error(400, "INVALID_PASSWORD");
    app.post("/delete-user", Auth::None, json!({"password": password}))
        .await
        .assert_error(401, "UNAUTHORIZED");
    assert!(app.session_alive(&token).await);

    let reply = app
        .post(
            "/delete-user",
            Auth::Cookie(&token),
            json!({"password": password}),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({"success": true, "message": "User deleted"})
    );
    assert!(reply
        .set_cookie("portcullis.session_token")
        .unwrap()
        .contains("Max-Age=0"));
    assert!(!app.session_alive(&token).await);
    assert!(!app.session_alive(&other).await);
    app.sign_in(&email, &password)
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert!(
        app.session_alive(&bystander).await,
        "other users are untouched"
    );
    // The address is free again.
    assert_eq!(app.sign_up(&email, &strong_password(16)).await.status, 200);
}

async fn hashes_are_stored_as_argon2id_and_upgraded_on_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, token) = app.new_user().await;
    let before = stored_hash(&app, &email).await;
    assert!(
        before.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{before}"
    );
    assert!(!before.contains(&password));
    // Tokens are stored only as SHA-256.
    let mut db = app.db().await;
    let row = sqlx::query("SELECT token_hash FROM sessions")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let token_hash: String = row.get("token_hash");
    assert_ne!(token_hash, token);
    assert_eq!(token_hash.len(), 64);

    let storage = app.stop().await;
    let app = TestApp::start(storage, &[("password.argon2_iterations", "3")]).await;
    assert_eq!(app.sign_in(&email, &password).await.status, 200);
    // The upgrade happens after the answer, in the background.
    eventually("the hash upgrade", || async {
        stored_hash(&app, &email).await != before
    })
    .await;
    let upgraded = stored_hash(&app, &email).await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"),
        "not upgraded: {upgraded}"
    );
    assert_eq!(app.sign_in(&email, &password).await.status, 200);
}

async fn callback_urls_must_be_relative_or_trusted(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("trusted_origins", "https://app.example.com")]).await;
    let (email, password, _) = app.new_user().await;
    for evil in [
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "https://evil.example/x",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=1",
    ] {
        app.post(
            "/sign-in/email",
            Auth::None,
            json!({"email": email, "password": password, "callbackURL": evil}),
        )
        .await
        .assert_error(403, "INVALID_CALLBACK_URL");
    }
    for good in ["/dashboard?tab=1", "https://app.example.com/welcome"] {
        let reply = app
            .post(
                "/sign-in/email",
                Auth::None,
                json!({"email": email, "password": password, "callbackURL": good}),
            )
            .await;
        assert_eq!(reply.status, 200, "{good}: {}", reply.body);
        assert_eq!(reply.body["redirect"], true);
        assert_eq!(reply.body["url"], good);
        assert_eq!(reply.headers["location"], good);
    }
}

async fn stored_hash(app: &TestApp, email: &str) -> String {
    let mut db = app.db().await;
    let row = sqlx::query("SELECT password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&mut db)
        .await
        .unwrap();
    row.get::<String, _>("password_hash")
}

async fn authentication_events_reach_the_audit_trail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, token) = app.new_user().await;
    app.sign_in(&email, "wrong-password-here").await;
    app.sign_in(&random_email(), &password).await;
    let second = app.sign_in_token(&email, &password).await;
    let new_password = strong_password(20);
    app.post(
        "/change-password",
        Auth::Bearer(&second),
        json!({"currentPassword": password, "newPassword": new_password}),
    )
    .await;
    app.post("/revoke-other-sessions", Auth::Bearer(&second), json!({}))
        .await;
    app.post("/sign-out", Auth::Bearer(&second), json!({}))
        .await;
    assert!(!app.session_alive(&token).await);

    let mut db = app.db().await;
    let rows = sqlx::query("SELECT kind, user_id, ip_address FROM audit_events ORDER BY at, kind")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let kinds: Vec<String> = rows.iter().map(|r| r.get::<String, _>("kind")).collect();
    for expected in [
        "sign_up",
        "sign_in_failed",
        "sign_in",
        "password_changed",
        "sessions_revoked",
        "sign_out",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} missing from {kinds:?}"
        );
    }
    assert_eq!(kinds.iter().filter(|k| *k == "sign_in_failed").count(), 2);
    assert!(rows
        .iter()
        .all(|r| r.get::<String, _>("ip_address") == "127.0.0.1"));
    // The trail never holds a secret.
    let dump = sqlx::query("SELECT * FROM audit_events")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .len();
    assert!(dump >= 7);
    let all: Vec<String> = sqlx::query("SELECT kind || COALESCE(user_id, '') || COALESCE(session_id, '') || COALESCE(user_agent, '') AS line FROM audit_events")
        .fetch_all(&mut db).await.unwrap().iter().map(|r| r.get::<String, _>("line")).collect();
    for line in all {
        assert!(
            !line.contains(&password) && !line.contains(&token) && !line.contains(&new_password)
        );
    }
}

/// Unicode look-alikes (TS #39): a full-width address is the same account, an address that mixes
/// alphabets or hides invisible characters is refused, and names lose bidi overrides.
async fn look_alike_addresses_and_names_are_folded_or_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let local = random_email().split('@').next().unwrap().to_owned();
    let email = format!("{local}@example.com");
    assert_eq!(app.sign_up(&email, &strong_password(20)).await.status, 200);
    let full_width: String = local
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xFF41).unwrap(),
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap(),
            other => other,
        })
        .collect();
    app.sign_up(&format!("{full_width}@example.com"), &strong_password(20))
        .await
        .assert_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let cyrillic_a = format!("\u{0430}{local}@example.com");
    app.sign_up(&cyrillic_a, &strong_password(20))
        .await
        .assert_error(400, "INVALID_EMAIL");
    app.sign_up(
        &format!("{local}\u{200B}x@example.com"),
        &strong_password(20),
    )
    .await
    .assert_error(400, "INVALID_EMAIL");

    let reply = app
        .post(
            "/sign-up/email",
            Auth::None,
            json!({"name": "Ada\u{202E}evil", "email": random_email(), "password": strong_password(20)}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["user"]["name"], "Adaevil");
}

/// Where a JSON object is expected, an array or a scalar is refused (serde would otherwise read
/// `[null, null]` field by field) and nothing changes.
async fn only_json_objects_are_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, token) = app.new_user().await;
    app.post(
        "/update-user",
        Auth::Bearer(&token),
        json!({"image": "https://example.com/a.png"}),
    )
    .await;
    for body in [json!([null, null]), json!("name"), json!(42), json!(null)] {
        app.post("/update-user", Auth::Bearer(&token), body)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    let session = app.get("/get-session", Auth::Bearer(&token)).await;
    assert_eq!(session.body["user"]["image"], "https://example.com/a.png");
    // `["global"]` is no scope: refused, and the other session lives on.
    let other = app.sign_in_token(&email, &password).await;
    app.post("/sign-out", Auth::Bearer(&token), json!(["global"]))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    assert!(app.session_alive(&other).await);
    assert!(app.session_alive(&token).await);
}
