//! Languages of the hosted pages and the mails (`src/i18n/`): chosen by `?lang=`, then
//! `Accept-Language`, then `i18n.default_language`; catalogues an operator drops in
//! `i18n.catalogues_dir` add a language or replace messages; a message a catalogue lacks falls
//! back to English; a mail speaks the language of the request that caused it.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{random_email, strong_password, Auth, Backend, TestApp};
use crate::pages::{invitation_link, Visitor};
use crate::smtp_sink::SmtpSink;

both_backends!(
    pages_speak_the_language_of_the_query_or_the_header,
    errors_on_the_pages_are_in_the_pages_language,
    an_operator_catalogue_adds_a_language_and_overrides_a_message,
    a_mail_speaks_the_language_of_the_request_that_caused_it,
    the_organization_pages_the_invitation_mail_and_the_sessions_page_speak_german,
);

async fn page_in(app: &TestApp, path: &str, accept_language: Option<&str>) -> String {
    let mut visitor = Visitor::new(app);
    visitor.accept_language = accept_language.map(str::to_owned);
    let page = visitor.get(path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    page.body
}

async fn pages_speak_the_language_of_the_query_or_the_header(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let german = [
        "<html lang=\"de\">",
        "<h1>Anmelden</h1>",
        "Passwort vergessen?",
    ];
    let english = [
        "<html lang=\"en\">",
        "<h1>Sign in</h1>",
        "Forgot your password?",
    ];
    let contains_all = |body: &str, texts: &[&str]| texts.iter().all(|t| body.contains(t));

    let by_header = page_in(&app, "/sign-in", Some("de-DE,de;q=0.9,en;q=0.5")).await;
    assert!(contains_all(&by_header, &german), "{by_header}");
    let by_query = page_in(&app, "/sign-in?lang=de", Some("en-US,en")).await;
    assert!(contains_all(&by_query, &german), "{by_query}");
    let query_wins = page_in(&app, "/sign-in?lang=en", Some("de")).await;
    assert!(contains_all(&query_wins, &english), "{query_wins}");
    // A language without a catalogue: the next one the browser accepts, else the default.
    let next_choice = page_in(&app, "/sign-in", Some("fr-FR, de;q=0.7")).await;
    assert!(contains_all(&next_choice, &german), "{next_choice}");
    for header in [None, Some("fr-FR, ja;q=0.5"), Some("not a language")] {
        let body = page_in(&app, "/sign-in?lang=xx", header).await;
        assert!(contains_all(&body, &english), "{header:?}: {body}");
    }
    let sign_up = page_in(&app, "/sign-up", Some("de")).await;
    assert!(
        sign_up.contains("Verwenden Sie 8 bis 128 Zeichen."),
        "{sign_up}"
    );

    // The default language is a setting.
    let app = TestApp::spawn_with(backend, &[("i18n.default_language", "de")]).await;
    let body = page_in(&app, "/sign-in", Some("fr")).await;
    assert!(contains_all(&body, &german), "{body}");
}

async fn errors_on_the_pages_are_in_the_pages_language(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut visitor = Visitor::new(&app);
    visitor.accept_language = Some("de".to_owned());
    let refused = visitor
        .submit(
            "/sign-in",
            &[
                ("email", "nobody@example.com"),
                ("password", "wrong password 123"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("E-Mail-Adresse oder Passwort ist falsch"),
        "{}",
        refused.body
    );
    let short = visitor
        .submit(
            "/sign-up",
            &[
                ("name", "Ada"),
                ("email", &random_email()),
                ("password", "short"),
            ],
        )
        .await;
    assert!(
        short
            .body
            .contains("Das Passwort ist zu kurz: Verwenden Sie mindestens 8 Zeichen."),
        "{}",
        short.body
    );
    let notice = visitor.get("/verify-email?token=made-up").await;
    assert!(
        notice.body.contains("Link ungültig") || notice.body.contains("Link abgelaufen"),
        "{}",
        notice.body
    );
}

async fn an_operator_catalogue_adds_a_language_and_overrides_a_message(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // French, with two messages only: the rest falls back to English.
    std::fs::write(
        dir.path().join("fr.ftl"),
        "sign-in-title = Se connecter\nfield-email = Adresse e-mail\n",
    )
    .unwrap();
    // One German message replaced, the others stay.
    std::fs::write(dir.path().join("de.ftl"), "sign-in-button = Los geht's\n").unwrap();
    let catalogues = dir.path().display().to_string();
    let app = TestApp::spawn_with(backend, &[("i18n.catalogues_dir", &catalogues)]).await;

    let french = page_in(&app, "/sign-in", Some("fr-CA, fr;q=0.9")).await;
    for text in [
        "<html lang=\"fr\">",
        "<h1>Se connecter</h1>",
        "Adresse e-mail",
        "Forgot your password?",
        "Keep me signed in on this device",
    ] {
        assert!(french.contains(text), "{text} missing:\n{french}");
    }
    let german = page_in(&app, "/sign-in?lang=de", None).await;
    assert!(
        german.contains("Los geht&#x27;s") || german.contains("Los geht's"),
        "{german}"
    );
    assert!(german.contains("<h1>Anmelden</h1>"), "{german}");
    assert!(!german.contains(">Anmelden</button>"), "{german}");
}

async fn a_mail_speaks_the_language_of_the_request_that_caused_it(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp_url = sink.url();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("smtp_url", &smtp_url),
            ("mail.product_name", "Acme"),
            ("email.send_on_sign_up", "true"),
        ],
    )
    .await;
    // Through the API, as the official client in a German browser sends it.
    let german = random_email();
    let reply = app
        .http
        .post(app.api("/sign-up/email"))
        .header("origin", &app.origin)
        .header("accept-language", "de-DE,de;q=0.9")
        .json(&json!({"name": "Ada", "email": german, "password": strong_password(16)}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let mail = sink.wait_for(&german, 1).await.remove(0);
    assert_eq!(mail.subject, "Bestätigen Sie Ihre E-Mail-Adresse für Acme");
    for text in [
        "Hallo Ada,",
        &format!("Bitte bestätigen Sie, dass {german} Ihre E-Mail-Adresse ist"),
        "läuft in 24 Stunden ab",
    ] {
        assert!(mail.text.contains(text), "{text} missing:\n{}", mail.text);
    }
    assert!(mail.html.contains("<html lang=\"de\">"), "{}", mail.html);
    assert!(
        mail.html.contains("Meine E-Mail-Adresse bestätigen"),
        "{}",
        mail.html
    );

    // From the forgot-password page with ?lang=de.
    let mut visitor = Visitor::new(&app);
    let sent = visitor
        .submit("/forgot-password?lang=de", &[("email", german.as_str())])
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let reset = sink.wait_for(&german, 2).await.remove(1);
    assert_eq!(reset.subject, "Setzen Sie Ihr Passwort für Acme zurück");

    // No preference: English.
    let english = random_email();
    let reply = app
        .post(
            "/sign-up/email",
            Auth::None,
            json!({"name": "Ada", "email": english, "password": strong_password(16)}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let mail = sink.wait_for(&english, 1).await.remove(0);
    assert_eq!(mail.subject, "Confirm your email for Acme");
    assert!(mail.text.contains("expires in 24 hours"), "{}", mail.text);
}

/// The pages and mails written after the catalogues came: every word of them in German.
async fn the_organization_pages_the_invitation_mail_and_the_sessions_page_speak_german(
    backend: Backend,
) {
    let sink = SmtpSink::start().await;
    let smtp_url = sink.url();
    let app = TestApp::spawn_with(
        backend,
        &[("smtp_url", &smtp_url), ("mail.product_name", "Acme")],
    )
    .await;
    let here = "/account/organizations";
    let german_visitor = || {
        let mut visitor = Visitor::new(&app);
        visitor.accept_language = Some("de-DE,de;q=0.9".to_owned());
        visitor
    };
    let mut owner = german_visitor();
    let owner_email = random_email();
    owner
        .sign_up("Olive", &owner_email, &strong_password(16))
        .await;
    let empty = owner.get(here).await;
    for text in [
        "<h1>Organisationen</h1>",
        ">Organisationen</a>",
        "Sie gehören noch keiner Organisation an.",
        "Name der Organisation",
        "Buchstaben, Ziffern",
        ">Organisation erstellen</button>",
    ] {
        assert!(empty.body.contains(text), "{text} missing:\n{}", empty.body);
    }
    let slug = format!("acme-{}", &random_email()[..6]);
    let created = owner
        .submit(
            here,
            &[("action", "create"), ("name", "Werkstatt"), ("slug", &slug)],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let invitee_email = random_email();
    let invited = owner.invite(here, &invitee_email, "admin").await;
    assert_eq!(invited.status, 303, "{}", invited.body);
    let twice = owner.invite(here, &invitee_email, "admin").await;
    assert!(
        twice
            .body
            .contains("Diese Person ist schon in die Organisation eingeladen."),
        "{}",
        twice.body
    );
    let managed = owner.get(here).await;
    for text in [
        "Mitglieder von Werkstatt",
        "Rolle: Inhaber",
        "Jemanden einladen",
        ">Einladung senden</button>",
        "Offene Einladungen",
        "<span class=\"badge\">Administrator</span>",
        ">Mitglied</option>",
        &format!("Die Einladung an {invitee_email} zurückziehen"),
    ] {
        assert!(
            managed.body.contains(text),
            "{text} missing:\n{}",
            managed.body
        );
    }
    for english in [
        "Members of",
        "Invite someone",
        "Pending invitations",
        "Role:",
    ] {
        assert!(
            !managed.body.contains(english),
            "{english} left:\n{}",
            managed.body
        );
    }

    // The invitation mail speaks the inviter's language: the one who chose to write.
    let mail = sink.wait_for(&invitee_email, 1).await.remove(0);
    assert_eq!(
        mail.subject,
        "Olive hat Sie zu Werkstatt bei Acme eingeladen"
    );
    for text in [
        "Hallo,",
        &format!("Olive hat {invitee_email} eingeladen, Werkstatt bei Acme beizutreten."),
        "öffnen Sie diesen Link und melden Sie sich mit dieser Adresse an:",
        "Die Einladung läuft in 48 Stunden ab.",
    ] {
        assert!(mail.text.contains(text), "{text} missing:\n{}", mail.text);
    }
    assert!(mail.html.contains("<html lang=\"de\">"), "{}", mail.html);
    assert!(mail.html.contains(">Einladung öffnen</a>"), "{}", mail.html);
    let (link, _) = invitation_link(&app, &mail.text);

    // The invitation's page, signed out and then as the verified invitee.
    let mut invitee = german_visitor();
    let landing = invitee.get(&link).await;
    assert!(
        landing.body.contains("<h1>Sie haben eine Einladung</h1>"),
        "{}",
        landing.body
    );
    let password = strong_password(16);
    invitee.sign_up("Ivy", &invitee_email, &password).await;
    let unverified = invitee.get(&link).await;
    assert!(
        unverified
            .body
            .contains(&format!("Bestätigen Sie {invitee_email}, bevor Sie")),
        "{}",
        unverified.body
    );
    let mut db = app.db().await;
    sqlx::query("UPDATE users SET email_verified = 1 WHERE email = $1")
        .bind(&invitee_email)
        .execute(&mut db)
        .await
        .unwrap();
    let mut invitee = german_visitor();
    invitee.sign_in(&invitee_email, &password).await;
    let open = invitee.get(&link).await;
    assert_eq!(open.status, 200, "{}", open.body);
    for text in [
        "<h1>Werkstatt beitreten</h1>",
        &format!("{owner_email} hat Sie eingeladen, Werkstatt als Administrator beizutreten."),
        ">Einladung annehmen</button>",
        ">Ablehnen</button>",
    ] {
        assert!(open.body.contains(text), "{text} missing:\n{}", open.body);
    }

    // The sessions page names the device in German (the visitor is Firefox on Linux).
    let sessions = invitee.get("/account/sessions").await;
    assert!(
        sessions
            .body
            .contains("<strong>Firefox unter Linux</strong>"),
        "{}",
        sessions.body
    );
}
