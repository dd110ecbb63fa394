//! Hosted pages (`src/pages/`), over HTTP as a browser with JavaScript off sends them: form posts
//! with the `Origin` a browser adds, cookies kept between requests, redirects read one by one.
//! CSRF refusals, the Content-Security-Policy, escaping, `return_to` open-redirect attempts, the
//! sign-up → sign-in → two-factor → sign-out flow, reset by mail, the sessions page.
//! The same flows in a real Chromium: `pages_browser.rs`.

use std::collections::BTreeMap;

use serde_json::json;

use crate::both_backends;
use crate::helpers::{cookie_name, random_email, strong_password, Auth, Backend, TestApp};
use crate::smtp_sink::{link_in, SmtpSink};
use crate::social::{self, person, Back, Browser, Idp};
use crate::two_factor::{base32_decode, code_of_step};

both_backends!(
    sign_up_sign_in_and_sign_out_work_with_plain_forms,
    forms_from_other_sites_or_without_their_token_are_refused,
    pages_carry_a_strict_csp_with_a_fresh_nonce_and_refuse_framing,
    what_users_typed_is_escaped_and_passwords_are_never_echoed,
    return_to_leads_only_to_relative_paths_or_trusted_origins,
    two_factor_enrolment_and_sign_in_with_totp_backup_code_and_trusted_device,
    password_reset_by_mail_lands_on_the_reset_page,
    verification_mail_without_a_callback_lands_on_the_result_page,
    the_sessions_page_revokes_another_session_and_all_others,
    account_pages_need_a_session_and_update_the_profile,
    pages_follow_the_path_prefix_and_can_be_turned_off,
    theming_settings_and_template_overrides_change_the_pages,
    an_unverified_user_gets_a_new_link_from_the_account_page,
    an_impersonated_session_changes_no_credential_on_the_pages,
    social_buttons_sign_in_through_the_provider_and_keep_return_to,
    the_security_page_links_and_unlinks_provider_accounts,
    a_social_sign_in_with_two_factor_ends_on_the_pages_second_step,
    the_error_page_words_each_social_error_code,
    the_role_picker_offers_the_configured_and_the_organizations_own_roles,
    organizations_page_creates_switches_invites_and_manages_members,
    an_invitation_mail_leads_to_its_page_to_sign_up_verify_and_accept,
    the_sign_up_page_asks_the_policy_before_submit_without_storing_anything,
);

/// A browser without JavaScript: a cookie jar, forms posted with its `Origin`, its languages.
pub(crate) struct Visitor<'a> {
    app: &'a TestApp,
    cookies: BTreeMap<String, String>,
    origin: String,
    user_agent: String,
    pub accept_language: Option<String>,
}

pub(crate) struct Page {
    pub status: u16,
    headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .map(|l| l.to_str().unwrap())
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.body))
    }

    /// The value of the first hidden/visible input named `name`.
    fn input(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no input {name} in:\n{}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    fn csrf(&self) -> String {
        self.input("csrf")
    }
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
            origin: app.origin.clone(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
                .to_owned(),
            accept_language: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.accept_language {
            Some(languages) => request.header("accept-language", languages),
            None => request,
        };
        let response = request
            .header("cookie", self.cookie_header())
            .header("user-agent", &self.user_agent)
            .send()
            .await
            .expect("request");
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // Attribute values are read as a browser reads them (minijinja writes `/` as `&#x2f;`).
        let body = response.text().await.unwrap().replace("&#x2f;", "/");
        Page {
            status,
            headers,
            body,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.app.url)
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.app.http.get(self.url(path));
        self.send(request).await
    }

    /// Posts a form as the browser would: with this visitor's `Origin`.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self
            .app
            .http
            .post(self.url(path))
            .header("origin", &self.origin)
            .form(fields);
        self.send(request).await
    }

    /// Opens `path`, fills its form (the csrf token added) and posts it to `path`.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let form = self.get(path).await;
        assert_eq!(form.status, 200, "{path}: {}", form.body);
        let csrf = form.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    /// Invites `email` with `role` from the organization page `page` (the active organization's).
    pub async fn invite(&mut self, page: &str, email: &str, role: &str) -> Page {
        self.submit(
            page,
            &[("action", "invite"), ("email", email), ("role", role)],
        )
        .await
    }

    /// Turns two-factor on from the security page (enrol, confirm with a code):
    /// the TOTP key and the backup codes.
    async fn turn_on_two_factor(&mut self, password: &str) -> (Vec<u8>, Vec<String>) {
        let enrolment = self
            .submit(
                "/account/security",
                &[("action", "enable"), ("current_password", password)],
            )
            .await;
        assert_eq!(enrolment.status, 200, "{}", enrolment.body);
        let key = enrolment_secret(&enrolment.body);
        let codes = backup_codes_in(&enrolment.body);
        // The previous step: the current one stays unused for the sign-in that follows.
        let code = code_of_step(&key, self.app.clock.now_secs() / 30 - 1);
        let confirmed = self
            .post(
                "/account/security",
                &[
                    ("csrf", enrolment.csrf().as_str()),
                    ("action", "confirm"),
                    ("code", code.as_str()),
                ],
            )
            .await;
        assert_eq!(confirmed.status, 303, "{}", confirmed.body);
        (key, codes)
    }

    /// Presses the sign-in page's button for `provider` (with `return_to`), goes through the
    /// provider and lands back on the API's callback: its answer.
    async fn through_social_button(&mut self, provider: &str, return_to: &str) -> Page {
        let csrf = self.get("/sign-in").await.csrf();
        let started = self
            .post(
                &format!("/sign-in/social/{provider}"),
                &[("csrf", csrf.as_str()), ("return_to", return_to)],
            )
            .await;
        assert_eq!(started.status, 303, "{}", started.body);
        let Back::Redirect(callback) = Browser::new()
            .through_provider(self.app, started.location())
            .await
        else {
            panic!("the provider answers with a redirect");
        };
        self.get(&callback).await
    }

    fn has_session(&self) -> bool {
        self.cookies.contains_key(&cookie_name(self.app))
    }

    fn session_token(&self) -> String {
        self.cookies[&cookie_name(self.app)].clone()
    }

    pub(crate) async fn sign_up(&mut self, name: &str, email: &str, password: &str) -> Page {
        self.submit(
            "/sign-up",
            &[("name", name), ("email", email), ("password", password)],
        )
        .await
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.submit(
            "/sign-in",
            &[
                ("email", email),
                ("password", password),
                ("remember_me", "on"),
            ],
        )
        .await
    }
}

async fn sign_up_sign_in_and_sign_out_work_with_plain_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Visitor::new(&app);
    let (email, password) = (random_email(), strong_password(16));

    let form = browser.get("/sign-up").await;
    assert!(
        form.body.contains("autocomplete=\"new-password\""),
        "{}",
        form.body
    );
    assert!(
        form.body.contains("Use 8 to 128 characters"),
        "rules shown: {}",
        form.body
    );

    let signed_up = browser.sign_up("Ada", &email, &password).await;
    assert_eq!(signed_up.status, 303, "{}", signed_up.body);
    assert_eq!(signed_up.location(), "/account");
    assert!(browser.has_session());
    // The page's session is the API's session.
    let me = app
        .get("/get-session", Auth::Bearer(&browser.session_token()))
        .await;
    assert_eq!(me.body["user"]["email"], email.as_str());

    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains(&email), "{}", account.body);

    let signed_out = browser.submit("/sign-out", &[]).await;
    assert_eq!(signed_out.status, 303);
    assert!(!browser.has_session());
    let bounced = browser.get("/account").await;
    assert_eq!(bounced.status, 303);
    assert_eq!(bounced.location(), "/sign-in?return_to=%2Faccount");

    let wrong = browser.sign_in(&email, "not the password").await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("Invalid email or password"),
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains(&format!("value=\"{email}\"")),
        "email kept"
    );
    assert!(
        !wrong.body.contains("not the password"),
        "password never echoed"
    );
    assert!(!browser.has_session());

    let signed_in = browser.sign_in(&email, &password).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location(), "/account");
    assert!(browser.has_session());
    // The same audit trail as the API: sign_up, sign_out, sign_in_failed, sign_in.
    assert_eq!(
        app.count("audit_events WHERE kind = 'sign_in_failed'")
            .await,
        1
    );
    assert_eq!(app.count("audit_events WHERE kind = 'sign_in'").await, 1);
    assert_eq!(app.count("audit_events WHERE kind = 'sign_out'").await, 1);
}

async fn forms_from_other_sites_or_without_their_token_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password) = (random_email(), strong_password(16));
    let mut owner = Visitor::new(&app);
    assert_eq!(owner.sign_up("Ada", &email, &password).await.status, 303);

    let mut browser = Visitor::new(&app);
    let form = browser.get("/sign-in").await;
    let csrf = form.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("email", email.as_str()),
        ("password", password.as_str()),
    ];

    // Another site posts the form (login CSRF): refused before the password is looked at.
    browser.origin = "https://evil.example".to_owned();
    let foreign = browser.post("/sign-in", &fields).await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert!(foreign.body.contains("another site"));
    // No Origin and nothing else that shows where it came from.
    let request = app
        .http
        .post(format!("{}/sign-in", app.url))
        .header("cookie", browser.cookie_header())
        .form(&fields);
    assert_eq!(request.send().await.unwrap().status(), 403);
    browser.origin = app.origin.clone();

    // No token, a wrong token, another visitor's token.
    let without = browser
        .post("/sign-in", &[("email", &email), ("password", &password)])
        .await;
    assert_eq!(without.status, 403);
    let wrong = browser
        .post(
            "/sign-in",
            &[("csrf", "AAAA"), ("email", &email), ("password", &password)],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let mut other = Visitor::new(&app);
    let others_token = other.get("/sign-in").await.csrf();
    let stolen = browser
        .post(
            "/sign-in",
            &[
                ("csrf", others_token.as_str()),
                ("email", &email),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(stolen.status, 403);
    assert!(!browser.has_session());
    assert_eq!(
        app.count("audit_events WHERE kind = 'sign_in_failed'")
            .await,
        0
    );

    // Signed in, the token is bound to the session: the visitor token no longer works, and a
    // forged sign-out from another site leaves the session alone.
    let old_token = csrf.clone();
    assert_eq!(browser.post("/sign-in", &fields).await.status, 303);
    let stale = browser
        .post("/sign-out", &[("csrf", old_token.as_str())])
        .await;
    assert_eq!(stale.status, 403);
    browser.origin = "https://evil.example".to_owned();
    let token = browser.get("/sign-out").await.csrf();
    let forged = browser.post("/sign-out", &[("csrf", token.as_str())]).await;
    assert_eq!(forged.status, 403);
    assert!(app.session_alive(&browser.session_token()).await);
    // A browser that sends Sec-Fetch-Site instead of Origin is believed.
    let request = app
        .http
        .post(format!("{}/sign-out", app.url))
        .header("cookie", browser.cookie_header())
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", token.as_str())]);
    assert_eq!(request.send().await.unwrap().status(), 303);
    assert!(!app.session_alive(&browser.session_token()).await);
}

async fn pages_carry_a_strict_csp_with_a_fresh_nonce_and_refuse_framing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Visitor::new(&app);
    let first = browser.get("/sign-in").await;
    let second = browser.get("/sign-in").await;
    let csp = |page: &Page| {
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let nonce_of = |csp: &str| {
        csp.split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("no nonce in {csp}"))
            .to_owned()
    };
    let policy = csp(&first);
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let nonce = nonce_of(&policy);
    assert!(nonce.len() >= 32, "{nonce}");
    assert_ne!(nonce, nonce_of(&csp(&second)), "a fresh nonce per answer");
    assert!(first.body.contains(&format!("nonce=\"{nonce}\"")));
    // Every script tag carries the nonce; there is no inline script or style attribute.
    assert_eq!(
        first.body.matches("<script").count(),
        first
            .body
            .matches(&format!("nonce=\"{nonce}\" defer"))
            .count()
    );
    assert!(!first.body.contains("style="), "no inline style attributes");
    assert_eq!(first.headers["x-frame-options"], "DENY");
    assert_eq!(first.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(first.headers["cache-control"], "no-store");
    assert!(first
        .body
        .starts_with("<!doctype html>\n<html lang=\"en\">"));

    let style = browser.get("/assets/style.css").await;
    assert_eq!(style.status, 200);
    assert!(style.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(style.body.contains(":focus-visible"), "visible focus");
    let script = browser.get("/assets/pages.js").await;
    assert_eq!(script.status, 200);
}

async fn what_users_typed_is_escaped_and_passwords_are_never_echoed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Visitor::new(&app);
    let hostile = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";
    let email = random_email();
    let password = strong_password(16);
    assert_eq!(
        browser.sign_up(hostile, &email, &password).await.status,
        303
    );
    let account = browser.get("/account").await;
    assert!(!account.body.contains("<script>alert"), "{}", account.body);
    assert!(!account.body.contains("<img src=x"), "{}", account.body);
    assert!(
        account
            .body
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || account
                .body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        account.body
    );

    let mut stranger = Visitor::new(&app);
    let refused = stranger
        .submit(
            "/sign-up",
            &[("name", "Ok"), ("email", hostile), ("password", "short")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(!refused.body.contains("<script>alert"), "{}", refused.body);
    assert!(
        refused.body.contains("role=\"alert\""),
        "errors announced: {}",
        refused.body
    );
    assert!(refused.body.contains("aria-invalid=\"true\""));
    assert!(
        refused.body.contains("aria-describedby=\"email-error\""),
        "{}",
        refused.body
    );
    assert!(
        !refused.body.contains("value=\"short\""),
        "passwords never echoed"
    );
    // The return_to a link carries is escaped in the form too.
    let page = stranger
        .get("/sign-in?return_to=%2Fx%22%3E%3Cscript%3Ealert(3)%3C%2Fscript%3E")
        .await;
    assert!(!page.body.contains("<script>alert(3)"), "{}", page.body);
}

async fn return_to_leads_only_to_relative_paths_or_trusted_origins(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("trusted_origins", "https://app.example.com")]).await;
    let (email, password) = (random_email(), strong_password(16));
    assert_eq!(
        Visitor::new(&app)
            .sign_up("Ada", &email, &password)
            .await
            .status,
        303
    );
    let cases = [
        ("/dashboard?tab=1", "/dashboard?tab=1"),
        (
            "https://app.example.com/home",
            "https://app.example.com/home",
        ),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("https:evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
        ("https://app.example.com.evil.example/", "/account"),
        ("http://app.example.com/", "/account"),
        ("/\tevil", "/account"),
    ];
    for (asked, landed) in cases {
        let mut browser = Visitor::new(&app);
        let page = browser
            .submit(
                &format!(
                    "/sign-in?return_to={}",
                    url::form_urlencoded::byte_serialize(asked.as_bytes()).collect::<String>()
                ),
                &[
                    ("email", email.as_str()),
                    ("password", password.as_str()),
                    ("return_to", asked),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{asked}: {}", page.body);
        assert_eq!(page.location(), landed, "return_to {asked}");
        // A signed-in browser opening the sign-in page goes on at once, by the same rule.
        let again = browser
            .get(&format!(
                "/sign-in?return_to={}",
                url::form_urlencoded::byte_serialize(asked.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!(again.location(), landed, "signed in, return_to {asked}");
    }
}

/// The secret in the security page's enrolment (`<code id="totp-secret">`).
fn enrolment_secret(body: &str) -> Vec<u8> {
    let marker = "<code id=\"totp-secret\">";
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no secret: {body}"))
        + marker.len();
    let secret = body[start..].split('<').next().unwrap();
    base32_decode(secret).unwrap()
}

fn backup_codes_in(body: &str) -> Vec<String> {
    let list = body
        .split("id=\"backup-codes\">")
        .nth(1)
        .unwrap()
        .split("</ul>")
        .next()
        .unwrap();
    list.split("<code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect()
}

async fn two_factor_enrolment_and_sign_in_with_totp_backup_code_and_trusted_device(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Visitor::new(&app);
    let (email, password) = (random_email(), strong_password(16));
    assert_eq!(browser.sign_up("Ada", &email, &password).await.status, 303);

    let wrong_password = browser
        .submit(
            "/account/security",
            &[("action", "enable"), ("current_password", "nope nope nope")],
        )
        .await;
    assert_eq!(wrong_password.status, 422);
    assert!(wrong_password.body.contains("tfa_password-error"));

    let enrolment = browser
        .submit(
            "/account/security",
            &[
                ("action", "enable"),
                ("current_password", password.as_str()),
            ],
        )
        .await;
    assert_eq!(enrolment.status, 200, "{}", enrolment.body);
    assert!(
        enrolment.body.contains("<svg"),
        "the QR code is in the page"
    );
    let key = enrolment_secret(&enrolment.body);
    let codes = backup_codes_in(&enrolment.body);
    assert_eq!(codes.len(), 10, "{codes:?}");
    let step = app.clock.now_secs() / 30;

    let csrf = enrolment.csrf();
    let wrong = browser
        .post(
            "/account/security",
            &[
                ("csrf", csrf.as_str()),
                ("action", "confirm"),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("Invalid code"), "{}", wrong.body);
    let confirmed = browser
        .post(
            "/account/security",
            &[
                ("csrf", csrf.as_str()),
                ("action", "confirm"),
                ("code", &code_of_step(&key, step - 1)),
            ],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    let security = browser.get("/account/security").await;
    assert!(
        security.body.contains("Two-factor authentication is on."),
        "{}",
        security.body
    );
    assert!(browser.submit("/sign-out", &[]).await.status == 303);

    // Password, then the code: the session starts only after the second step.
    let first = browser.sign_in(&email, &password).await;
    assert_eq!(first.status, 303);
    assert_eq!(first.location(), "/two-factor");
    assert!(!browser.has_session());
    let two_factor = browser.get("/two-factor").await;
    assert!(two_factor.body.contains("autocomplete=\"one-time-code\""));
    let csrf = two_factor.csrf();
    let wrong = browser
        .post(
            "/two-factor",
            &[("csrf", csrf.as_str()), ("code", "123456")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(!browser.has_session());
    let done = browser
        .post(
            "/two-factor",
            &[
                ("csrf", csrf.as_str()),
                ("code", &code_of_step(&key, step)),
                ("trust_device", "on"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), "/account");
    assert!(browser.has_session());

    // Trusted: the next sign-in on this browser skips the code.
    assert_eq!(browser.submit("/sign-out", &[]).await.status, 303);
    let trusted = browser.sign_in(&email, &password).await;
    assert_eq!(trusted.location(), "/account");
    assert!(browser.has_session());

    // Another browser, with a backup code (used once).
    let mut other = Visitor::new(&app);
    assert_eq!(
        other.sign_in(&email, &password).await.location(),
        "/two-factor"
    );
    let with_backup = other
        .submit(
            "/two-factor",
            &[("method", "backup"), ("code", codes[0].as_str())],
        )
        .await;
    assert_eq!(with_backup.status, 303, "{}", with_backup.body);
    assert!(other.has_session());
    assert_eq!(
        app.count("audit_events WHERE kind = 'backup_code_used'")
            .await,
        1
    );

    // Regenerate, then disable.
    let regenerated = browser
        .submit(
            "/account/security",
            &[
                ("action", "regenerate"),
                ("current_password", password.as_str()),
            ],
        )
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.body);
    assert_eq!(backup_codes_in(&regenerated.body).len(), 10);
    let disabled = browser
        .submit(
            "/account/security",
            &[
                ("action", "disable"),
                ("current_password", password.as_str()),
            ],
        )
        .await;
    assert_eq!(disabled.status, 303, "{}", disabled.body);
    let off = browser.get("/account/security").await;
    assert!(off.body.contains("Two-factor authentication is off."));
}

async fn password_reset_by_mail_lands_on_the_reset_page(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(backend, &[("smtp_url", smtp.as_str())]).await;
    let (email, password) = (random_email(), strong_password(16));
    let mut browser = Visitor::new(&app);
    assert_eq!(browser.sign_up("Ada", &email, &password).await.status, 303);
    let mut stranger = Visitor::new(&app);
    let asked = stranger
        .submit("/forgot-password", &[("email", email.as_str())])
        .await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("Check your email"));
    let unknown = stranger
        .submit("/forgot-password", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(unknown.status, 200);
    let message = |page: &Page| page.body.split("<main").nth(1).unwrap().to_owned();
    assert_eq!(
        message(&unknown),
        message(&asked),
        "the same answer for an unknown address"
    );

    let mail = sink.wait_for(&email, 1).await.remove(0);
    let link = link_in(&mail.text, &format!("{}/api/auth/reset-password/", app.url));
    assert!(link.contains("callbackURL=%2Freset-password"), "{link}");
    let landing = stranger.get(&link).await;
    assert_eq!(landing.status, 302);
    let page_path = landing.location().to_owned();
    assert!(
        page_path.starts_with("/reset-password?token="),
        "{page_path}"
    );

    let weak = stranger
        .submit(
            &page_path,
            &[("token", &page_path[22..]), ("new_password", "password1")],
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.body.contains("new_password-error"), "{}", weak.body);
    let new_password = strong_password(18);
    let form = stranger.get(&page_path).await;
    let token = form.input("token");
    let done = stranger
        .post(
            "/reset-password",
            &[
                ("csrf", form.csrf().as_str()),
                ("token", token.as_str()),
                ("new_password", new_password.as_str()),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Password changed"));
    // Every session ended; the new password works.
    assert!(!app.session_alive(&browser.session_token()).await);
    assert_eq!(
        Visitor::new(&app)
            .sign_in(&email, &new_password)
            .await
            .status,
        303
    );
    let reused = stranger.get(&link).await;
    assert_eq!(reused.location(), "/reset-password?error=INVALID_TOKEN");
    let invalid = stranger.get(reused.location()).await;
    assert_eq!(invalid.status, 400);
    assert!(invalid.body.contains("Link not valid"));
}

async fn verification_mail_without_a_callback_lands_on_the_result_page(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("smtp_url", smtp.as_str()),
            ("email.require_verification", "true"),
        ],
    )
    .await;
    let (email, password) = (random_email(), strong_password(16));
    let mut browser = Visitor::new(&app);
    let signed_up = browser.sign_up("Ada", &email, &password).await;
    assert_eq!(signed_up.status, 200);
    assert!(signed_up.body.contains("Check your email"));
    assert!(!browser.has_session());
    let unverified = browser.sign_in(&email, &password).await;
    assert_eq!(unverified.status, 422);
    assert!(unverified.body.contains("Email not verified"));

    let mail = sink.wait_for(&email, 1).await.remove(0);
    let link = link_in(
        &mail.text,
        &format!("{}/api/auth/verify-email?token=", app.url),
    );
    assert!(
        link.contains("callbackURL=%2Fverify-email%3Fstatus%3Dverified"),
        "{link}"
    );
    let landing = browser.get(&link).await;
    assert_eq!(landing.location(), "/verify-email?status=verified");
    let result = browser.get(landing.location()).await;
    assert_eq!(result.status, 200);
    assert!(result.body.contains("Email verified"));
    let again = browser.get(&link).await;
    let failed = browser.get(again.location()).await;
    assert_eq!(failed.status, 400);
    assert!(failed.body.contains("Link not valid"));
    assert_eq!(browser.sign_in(&email, &password).await.status, 303);
}

async fn the_sessions_page_revokes_another_session_and_all_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password) = (random_email(), strong_password(16));
    let mut laptop = Visitor::new(&app);
    assert_eq!(laptop.sign_up("Ada", &email, &password).await.status, 303);
    let mut phone = Visitor::new(&app);
    phone.user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1".to_owned();
    assert_eq!(phone.sign_in(&email, &password).await.status, 303);
    let mut tablet = Visitor::new(&app);
    assert_eq!(tablet.sign_in(&email, &password).await.status, 303);

    let list = laptop.get("/account/sessions").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Safari on iOS"), "{}", list.body);
    assert!(list.body.contains("Firefox on Linux"));
    assert_eq!(list.body.matches("This device").count(), 1);
    assert!(list.body.contains("127.0.0.1"));

    let phone_session = app
        .get("/get-session", Auth::Bearer(&phone.session_token()))
        .await
        .body["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = laptop
        .post(
            "/account/sessions",
            &[
                ("csrf", list.csrf().as_str()),
                ("action", "revoke"),
                ("session", phone_session.as_str()),
            ],
        )
        .await;
    assert_eq!(revoked.status, 303);
    assert_eq!(revoked.location(), "/account/sessions");
    assert!(!app.session_alive(&phone.session_token()).await);
    assert_eq!(
        phone.get("/account").await.status,
        303,
        "the phone is signed out"
    );
    assert!(app.session_alive(&tablet.session_token()).await);

    let others = laptop
        .submit("/account/sessions", &[("action", "revoke_others")])
        .await;
    assert_eq!(others.status, 303);
    assert!(!app.session_alive(&tablet.session_token()).await);
    assert!(app.session_alive(&laptop.session_token()).await);
    // Someone else's session id changes nothing.
    let mut stranger = Visitor::new(&app);
    assert_eq!(
        stranger
            .sign_up("Eve", &random_email(), &password)
            .await
            .status,
        303
    );
    let laptop_session = app
        .get("/get-session", Auth::Bearer(&laptop.session_token()))
        .await
        .body["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf = stranger.get("/account").await.csrf();
    let refused = stranger
        .post(
            "/account/sessions",
            &[
                ("csrf", csrf.as_str()),
                ("action", "revoke"),
                ("session", laptop_session.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, 303);
    assert!(app.session_alive(&laptop.session_token()).await);
}

async fn account_pages_need_a_session_and_update_the_profile(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Visitor::new(&app);
    for page in ["/account", "/account/security", "/account/sessions"] {
        let bounced = browser.get(page).await;
        assert_eq!(bounced.status, 303, "{page}");
        assert!(
            bounced.location().starts_with("/sign-in?return_to="),
            "{page}"
        );
    }
    let (email, password) = (random_email(), strong_password(16));
    assert_eq!(browser.sign_up("Ada", &email, &password).await.status, 303);
    let account = browser.get("/account").await;
    for link in [
        "/account",
        "/account/security",
        "/account/sessions",
        "/sign-out",
    ] {
        assert!(
            account.body.contains(&format!("<a href=\"{link}\">")),
            "{link}"
        );
    }
    let saved = browser
        .submit(
            "/account",
            &[
                ("action", "profile"),
                ("name", "Ada Lovelace"),
                ("image", "https://img.example.com/ada.png"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let me = app
        .get("/get-session", Auth::Bearer(&browser.session_token()))
        .await;
    assert_eq!(me.body["user"]["name"], "Ada Lovelace");
    assert_eq!(me.body["user"]["image"], "https://img.example.com/ada.png");
    let bad = browser
        .submit(
            "/account",
            &[
                ("action", "profile"),
                ("name", "Ada"),
                ("image", "javascript:alert(1)"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("image-error"), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"javascript:alert(1)\""),
        "value kept"
    );
    let same = browser
        .submit(
            "/account",
            &[("action", "email"), ("email", email.as_str())],
        )
        .await;
    assert_eq!(same.status, 422);
    assert!(same.body.contains("email-error"));
    let changed = browser
        .submit(
            "/account",
            &[("action", "email"), ("email", &random_email())],
        )
        .await;
    assert_eq!(changed.status, 200);
    assert!(changed.body.contains("Check your new inbox"));
    let wrong = browser
        .submit(
            "/account/security",
            &[
                ("action", "password"),
                ("current_password", "wrong wrong wrong"),
                ("new_password", &strong_password(16)),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    let new_password = strong_password(17);
    let changed = browser
        .submit(
            "/account/security",
            &[
                ("action", "password"),
                ("current_password", password.as_str()),
                ("new_password", new_password.as_str()),
                ("revoke_others", "on"),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(browser.has_session());
    assert!(
        app.session_alive(&browser.session_token()).await,
        "a fresh session for this device"
    );
    assert_eq!(
        Visitor::new(&app)
            .sign_in(&email, &new_password)
            .await
            .status,
        303
    );
}

async fn pages_follow_the_path_prefix_and_can_be_turned_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("ui.path_prefix", "/auth")]).await;
    let mut browser = Visitor::new(&app);
    let page = browser.get("/auth/sign-in").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("action=\"/auth/sign-in\""));
    assert!(page.body.contains("href=\"/auth/assets/style.css\""));
    assert_eq!(browser.get("/sign-in").await.status, 404);
    let (email, password) = (random_email(), strong_password(16));
    let signed_up = browser
        .submit(
            "/auth/sign-up",
            &[
                ("name", "Ada"),
                ("email", email.as_str()),
                ("password", password.as_str()),
            ],
        )
        .await;
    assert_eq!(signed_up.location(), "/auth/account");
    assert_eq!(browser.get("/auth").await.location(), "/auth/account");
    drop(app);

    let app = TestApp::spawn_with(backend, &[("ui.enabled", "false")]).await;
    let mut browser = Visitor::new(&app);
    let gone = browser.get("/sign-in").await;
    assert_eq!(gone.status, 404);
    assert!(gone.body.contains("NOT_FOUND"));
}

async fn theming_settings_and_template_overrides_change_the_pages(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sign_up.html"),
        "{% extends \"base.html\" %}{% block content %}<h1>Join {{ product }}</h1>\
         <p>{{ min_length }}</p>{% endblock %}",
    )
    .unwrap();
    std::fs::write(dir.path().join("style.css"), "body { color: teal; }").unwrap();
    let templates = dir.path().display().to_string();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("ui.templates_dir", templates.as_str()),
            ("ui.primary_color", "#0F766E"),
            ("ui.logo_url", "https://cdn.acme.example/logo.svg"),
            ("ui.stylesheet_url", "https://cdn.acme.example/brand.css"),
            ("mail.product_name", "Acme <Cloud>"),
        ],
    )
    .await;
    let mut browser = Visitor::new(&app);
    let page = browser.get("/sign-in").await;
    let nonce = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        page.body.contains(&format!(
            "<style nonce=\"{nonce}\">:root {{ --primary: #0f766e; }}</style>"
        )),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("<img src=\"https://cdn.acme.example/logo.svg\" alt=\"Acme &lt;Cloud&gt;\""));
    assert!(page
        .body
        .contains("href=\"https://cdn.acme.example/brand.css\""));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("style-src 'self' 'nonce-"), "{csp}");
    assert!(csp.contains("https://cdn.acme.example; img-src"), "{csp}");
    let overridden = browser.get("/sign-up").await;
    assert!(
        overridden
            .body
            .contains("<h1>Join Acme &lt;Cloud&gt;</h1><p>8</p>"),
        "{}",
        overridden.body
    );
    assert_eq!(
        browser.get("/assets/style.css").await.body,
        "body { color: teal; }"
    );
}

async fn an_unverified_user_gets_a_new_link_from_the_account_page(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(backend, &[("smtp_url", smtp.as_str())]).await;
    let (email, password) = (random_email(), strong_password(16));
    let mut browser = Visitor::new(&app);
    assert_eq!(browser.sign_up("Ada", &email, &password).await.status, 303);
    let account = browser.get("/account").await;
    assert!(account.body.contains("not verified yet"));
    let sent = browser.submit("/account", &[("action", "verify")]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let mail = sink.wait_for(&email, 1).await.remove(0);
    let link = link_in(
        &mail.text,
        &format!("{}/api/auth/verify-email?token=", app.url),
    );
    let landing = browser.get(&link).await;
    assert_eq!(browser.get(landing.location()).await.status, 200);
    let account = browser.get("/account").await;
    assert!(account.body.contains("verified"));
    assert!(!account.body.contains("not verified yet"));
    assert!(!account.body.contains("name=\"action\" value=\"verify\""));
    // Verified now: asking again is refused next to nothing, as the API refuses it.
    let again = browser.submit("/account", &[("action", "verify")]).await;
    assert_eq!(again.status, 422);
    assert!(
        again.body.contains("Email is already verified"),
        "{}",
        again.body
    );
}

/// An administrator acting as a user changes none of the user's credentials on the pages either
/// (the API refuses them with IMPERSONATED_SESSION_RESTRICTED): not the password, not the email.
async fn an_impersonated_session_changes_no_credential_on_the_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, token) = app.new_user().await;
    let user_id = app.get("/get-session", Auth::Bearer(&token)).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin_email, admin_password, _) = app.new_user().await;
    let mut db = app.db().await;
    sqlx::query("UPDATE users SET role = 'admin' WHERE email = $1")
        .bind(&admin_email)
        .execute(&mut db)
        .await
        .unwrap();
    let admin_token = app.sign_in_token(&admin_email, &admin_password).await;
    let acting = app
        .post(
            "/admin/impersonate-user",
            Auth::Bearer(&admin_token),
            json!({"userId": user_id, "reason": "support ticket 42"}),
        )
        .await;
    assert_eq!(acting.status, 200, "{}", acting.body);

    let mut browser = Visitor::new(&app);
    browser.cookies.insert(
        cookie_name(&app),
        acting.body["token"].as_str().unwrap().to_owned(),
    );
    let new_password = strong_password(20);
    for (path, fields) in [
        (
            "/account/security",
            vec![
                ("action", "password"),
                ("current_password", password.as_str()),
                ("new_password", new_password.as_str()),
            ],
        ),
        (
            "/account/security",
            vec![("action", "unlink"), ("account", "any")],
        ),
        (
            "/account/security",
            vec![("action", "link"), ("provider", "any")],
        ),
        (
            "/account",
            vec![("action", "email"), ("email", "elsewhere@example.com")],
        ),
    ] {
        let refused = browser.submit(path, &fields).await;
        assert_eq!(refused.status, 422, "{path}: {}", refused.body);
        assert!(
            refused
                .body
                .contains("Not allowed while impersonating a user"),
            "{path}: {}",
            refused.body
        );
    }
    // Nothing changed: the user's own password still signs in, the new one does not.
    assert_eq!(app.sign_in(&email, &password).await.status, 200);
    assert_ne!(app.sign_in(&email, &new_password).await.status, 200);
    assert_eq!(
        app.get("/get-session", Auth::Bearer(&token)).await.body["user"]["email"],
        email.as_str()
    );
}

/// The sign-in page shows one button per configured provider; the button's form (CSRF-checked)
/// starts that provider's sign-in, which comes back through the API's callback to `return_to`
/// signed in, or to the `/error` page when the provider refuses.
async fn social_buttons_sign_in_through_the_provider_and_keep_return_to(backend: Backend) {
    let idp = Idp::start().await;
    let app = social::spawn(backend, &idp, &["acme", "github"], &[]).await;
    let mut visitor = Visitor::new(&app);

    let page = visitor.get("/sign-in?return_to=/account/sessions").await;
    assert_eq!(page.status, 200);
    for (id, name) in [("acme", "Acme"), ("github", "GitHub")] {
        assert!(
            page.body
                .contains(&format!("action=\"/sign-in/social/{id}\"")),
            "{}",
            page.body
        );
        assert!(page.body.contains(&format!(">{name}</button>")));
    }
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("form-action 'self' {} ", app.origin)) && csp.contains(&idp.issuer),
        "a button's form is redirected to the provider: {csp}"
    );
    let csrf = page.csrf();
    // Without the form token, or for a provider that is not configured: no provider visit.
    let forged = visitor
        .post(
            "/sign-in/social/acme",
            &[("return_to", "/account/sessions")],
        )
        .await;
    assert_eq!(forged.status, 403);
    let unknown = visitor
        .post("/sign-in/social/nobody", &[("csrf", &csrf)])
        .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body.contains("role=\"alert\""), "{}", unknown.body);

    let email = random_email();
    idp.sign_in_as(Some(person(&email, true))).await;
    let started = visitor
        .post(
            "/sign-in/social/acme",
            &[("csrf", &csrf), ("return_to", "/account/sessions")],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    assert!(started.location().starts_with(&idp.issuer));
    let Back::Redirect(callback) = Browser::new()
        .through_provider(&app, started.location())
        .await
    else {
        panic!("the provider answers with a redirect");
    };
    let landed = visitor.get(&callback).await;
    assert_eq!(landed.location(), "/account/sessions", "return_to is kept");
    assert!(visitor.has_session());
    let account = visitor.get("/account").await;
    assert!(account.body.contains(&email), "{}", account.body);

    // The provider refuses: the browser lands on the error page, signed out.
    let mut refused = Visitor::new(&app);
    idp.sign_in_as(None).await;
    let csrf = refused.get("/sign-in").await.csrf();
    let started = refused
        .post("/sign-in/social/acme", &[("csrf", &csrf)])
        .await;
    let Back::Redirect(callback) = Browser::new()
        .through_provider(&app, started.location())
        .await
    else {
        panic!("the provider answers with a redirect");
    };
    let landed = refused.get(&callback).await;
    assert_eq!(landed.location(), "/error?error=access_denied");
    let error = refused.get(landed.location()).await;
    assert_eq!(error.status, 400);
    assert!(
        error.body.contains("cancelled at the provider"),
        "{}",
        error.body
    );
    assert!(!refused.has_session());
}

/// The security page lists the user's provider accounts: a password user links the provider
/// with its button (through the provider and back to the page) and unlinks it again; a user
/// whose only way in is that provider is refused with the API's code and keeps it.
async fn the_security_page_links_and_unlinks_provider_accounts(backend: Backend) {
    let idp = Idp::start().await;
    let app = social::spawn(backend, &idp, &["acme"], &[]).await;
    let link_button = ">Link Acme</button>";
    let unlink_button = ">Unlink</button>";

    let mut browser = Visitor::new(&app);
    let (email, password) = (random_email(), strong_password(16));
    assert_eq!(browser.sign_up("Ada", &email, &password).await.status, 303);
    let page = browser.get("/account/security").await;
    assert!(
        page.body.contains("No sign-in provider is linked"),
        "{}",
        page.body
    );
    assert!(page.body.contains(link_button), "{}", page.body);
    assert!(!page.body.contains(unlink_button));

    idp.sign_in_as(Some(person(&email, true))).await;
    let started = browser
        .submit(
            "/account/security",
            &[("action", "link"), ("provider", "acme")],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    assert!(started.location().starts_with(&idp.issuer));
    let Back::Redirect(callback) = Browser::new()
        .through_provider(&app, started.location())
        .await
    else {
        panic!("the provider answers with a redirect");
    };
    let landed = browser.get(&callback).await;
    assert_eq!(landed.location(), "/account/security");
    let page = browser.get("/account/security").await;
    assert!(page.body.contains("<span>Acme</span>"), "{}", page.body);
    assert!(page.body.contains(unlink_button));
    assert!(!page.body.contains(link_button), "linked: no Link button");

    let unlinked = browser
        .post(
            "/account/security",
            &[
                ("csrf", page.csrf().as_str()),
                ("action", "unlink"),
                ("account", page.input("account").as_str()),
            ],
        )
        .await;
    assert_eq!(unlinked.status, 303, "{}", unlinked.body);
    let page = browser.get("/account/security").await;
    assert!(page.body.contains(link_button), "{}", page.body);
    assert!(!page.body.contains(unlink_button));

    // Signed up through the provider: it is the only way in, so it stays.
    let mut social_only = Visitor::new(&app);
    idp.sign_in_as(Some(person(&random_email(), true))).await;
    let landed = social_only
        .through_social_button("acme", "/account/security")
        .await;
    assert_eq!(landed.location(), "/account/security");
    let page = social_only.get("/account/security").await;
    let refused = social_only
        .post(
            "/account/security",
            &[
                ("csrf", page.csrf().as_str()),
                ("action", "unlink"),
                ("account", page.input("account").as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("data-code=\"FAILED_TO_UNLINK_LAST_ACCOUNT\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("<span>Acme</span>"), "still listed");
    let page = social_only.get("/account/security").await;
    assert!(page.body.contains(unlink_button), "still linked");
}

/// A user with two-factor who signs in with a social button goes through the pages' own
/// `/two-factor` step (the pages' challenge cookie, never the API's), with a TOTP code and
/// "trust this device", then a backup code in another browser, and always ends at `return_to`;
/// the trusted browser's next social sign-in skips the code.
async fn a_social_sign_in_with_two_factor_ends_on_the_pages_second_step(backend: Backend) {
    let idp = Idp::start().await;
    let app = social::spawn(
        backend,
        &idp,
        &["acme"],
        &[("social.account_linking.trusted_providers", "acme")],
    )
    .await;
    let mut browser = Visitor::new(&app);
    let (email, password) = (random_email(), strong_password(16));
    assert_eq!(browser.sign_up("Ada", &email, &password).await.status, 303);
    let (key, codes) = browser.turn_on_two_factor(&password).await;
    assert_eq!(browser.submit("/sign-out", &[]).await.status, 303);
    idp.sign_in_as(Some(person(&email, true))).await;

    let back = "/account/sessions";
    let landed = browser.through_social_button("acme", back).await;
    assert_eq!(landed.status, 302, "{}", landed.body);
    assert_eq!(
        landed.location(),
        "/two-factor?return_to=%2Faccount%2Fsessions"
    );
    assert!(!browser.has_session());
    let cookies: Vec<&String> = browser.cookies.keys().collect();
    assert!(
        cookies
            .iter()
            .any(|name| name.ends_with(".pages_two_factor")),
        "the pages' challenge cookie: {cookies:?}"
    );
    assert!(
        !cookies.iter().any(|name| name.ends_with(".two_factor")),
        "not the API's: {cookies:?}"
    );
    let step = browser.get(landed.location()).await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("autocomplete=\"one-time-code\""));
    let code = code_of_step(&key, app.clock.now_secs() / 30);
    let done = browser
        .post(
            landed.location(),
            &[
                ("csrf", step.csrf().as_str()),
                ("return_to", back),
                ("code", code.as_str()),
                ("trust_device", "on"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), back);
    assert!(browser.has_session());
    let account = browser.get("/account").await;
    assert!(account.body.contains(&email), "{}", account.body);

    // Trusted: this browser's next social sign-in skips the code (the pages' trust cookie).
    assert_eq!(browser.submit("/sign-out", &[]).await.status, 303);
    let trusted = browser.through_social_button("acme", back).await;
    assert_eq!(trusted.location(), back);
    assert!(browser.has_session());

    // Another browser: the same step with a backup code.
    let mut other = Visitor::new(&app);
    let landed = other.through_social_button("acme", back).await;
    assert!(landed.location().starts_with("/two-factor?"));
    assert!(!other.has_session());
    let with_backup = other
        .submit(
            landed.location(),
            &[
                ("return_to", back),
                ("method", "backup"),
                ("code", codes[0].as_str()),
            ],
        )
        .await;
    assert_eq!(with_backup.status, 303, "{}", with_backup.body);
    assert_eq!(with_backup.location(), back);
    assert!(other.has_session());
}

/// Each code social sign-in lands on `/error` with gets its own words (in an alert); any other
/// code the generic message, and what the query holds is never echoed.
async fn the_error_page_words_each_social_error_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut visitor = Visitor::new(&app);
    let worded = [
        ("access_denied", "cancelled at the provider"),
        ("state_mismatch", "started in another browser"),
        ("state_not_found", "started in another browser"),
        ("no_code", "answer could not be used"),
        ("invalid_code", "answer could not be used"),
        ("issuer_mismatch", "answer could not be used"),
        ("issuer_missing", "answer could not be used"),
        ("unable_to_get_user_info", "did not tell us who you are"),
        ("email_not_found", "did not share an email address"),
        ("account_not_linked", "link this provider from your account"),
        (
            "account_already_linked_to_different_user",
            "already linked to another user",
        ),
        ("email_does_not_match", "is not the email of your account"),
        ("unable_to_link_account", "could not be linked"),
        ("signup_disabled", "new accounts cannot be created"),
        ("unable_to_create_user", "could not be created"),
        ("oauth_provider_not_found", "provider is not available"),
        ("oauth_provider_error", "provider reported an error"),
        ("server_error", "provider reported an error"),
        ("temporarily_unavailable", "provider reported an error"),
    ];
    for (code, words) in worded {
        let page = visitor.get(&format!("/error?error={code}")).await;
        assert_eq!(page.status, 400, "{code}");
        assert!(
            page.body.contains("role=\"alert\""),
            "{code}: {}",
            page.body
        );
        assert!(page.body.contains(words), "{code}: {}", page.body);
        assert!(
            !page.body.contains("Try again.</p>"),
            "{code}: not the generic message"
        );
    }
    for other in [
        "/error",
        "/error?error=made_up_code",
        "/error?error=%3Cb%3Ex",
    ] {
        let page = visitor.get(other).await;
        assert_eq!(page.status, 400, "{other}");
        assert!(
            page.body.contains("Something went wrong. Try again.</p>"),
            "{other}: {}",
            page.body
        );
        assert!(!page.body.contains("<b>x"), "never echoed");
    }
}

/// The organization page's role pickers (invite, change role) offer the configured roles
/// (`organization.roles`) and the organization's own (`create-role`) besides the built-in ones,
/// and an invitation with the organization's own role goes through.
async fn the_role_picker_offers_the_configured_and_the_organizations_own_roles(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            (
                "organization.statements",
                r#"{"project": ["create", "deploy"]}"#,
            ),
            (
                "organization.roles",
                r#"{"deployer": {"project": ["deploy"]}}"#,
            ),
        ],
    )
    .await;
    let here = "/account/organizations";
    let mut owner = Visitor::new(&app);
    owner
        .sign_up("Olive", &random_email(), &strong_password(16))
        .await;
    let slug = format!("roles-{}", &random_email()[..6]);
    let created = owner
        .submit(
            here,
            &[("action", "create"), ("name", "Roles"), ("slug", &slug)],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let token = owner.session_token();
    let own_role = app
        .post(
            "/organization/create-role",
            Auth::Bearer(&token),
            json!({"role": "auditor", "permission": {"member": ["update"]}}),
        )
        .await;
    assert_eq!(own_role.status, 200, "{}", own_role.body);

    let page = owner.get(here).await;
    let picker = page
        .body
        .split("id=\"invite-role\"")
        .nth(1)
        .and_then(|rest| rest.split("</select>").next())
        .unwrap_or_else(|| panic!("no invite picker: {}", page.body));
    let offered: Vec<&str> = picker
        .split("<option value=\"")
        .skip(1)
        .map(|option| option.split('"').next().unwrap())
        .collect();
    assert_eq!(
        offered,
        ["member", "admin", "owner", "deployer", "auditor"],
        "{picker}"
    );
    let invitee = random_email();
    let invited = owner.invite(here, &invitee, "auditor").await;
    assert_eq!(invited.status, 303, "{}", invited.body);
    let listed = owner.get(here).await;
    assert!(
        listed
            .body
            .contains(&format!("{invitee} <span class=\"badge\">auditor</span>")),
        "{}",
        listed.body
    );
}

/// The `data-code` of a page's refusal: the API's error code for the same operation.
fn refusal_code(page: &Page) -> String {
    let marker = "data-code=\"";
    let start = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no refusal ({}):\n{}", page.status, page.body))
        + marker.len();
    page.body[start..].split('"').next().unwrap().to_owned()
}

/// The id of the invitation in a mail's link to its hosted page.
pub(crate) fn invitation_link(app: &TestApp, text: &str) -> (String, String) {
    let link = link_in(text, &format!("{}/invitations/", app.url));
    let id = link.rsplit('/').next().unwrap().to_owned();
    (link, id)
}

async fn organizations_page_creates_switches_invites_and_manages_members(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(backend, &[("smtp_url", smtp.as_str())]).await;
    let here = "/account/organizations";
    let mut owner = Visitor::new(&app);
    let owner_email = random_email();
    owner
        .sign_up("Olive", &owner_email, &strong_password(16))
        .await;
    let empty = owner.get(here).await;
    assert_eq!(empty.status, 200);
    assert!(
        empty.body.contains(&format!("href=\"{here}\"")),
        "in the navigation"
    );
    assert!(empty.body.contains("not in any organization"));

    let slug = format!("acme-{}", &random_email()[..6]);
    let created = owner
        .submit(
            here,
            &[("action", "create"), ("name", "Acme"), ("slug", &slug)],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location(), here);
    let taken = owner
        .submit(
            here,
            &[("action", "create"), ("name", "Other"), ("slug", &slug)],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert_eq!(refusal_code(&taken), "ORGANIZATION_ALREADY_EXISTS");
    assert!(
        taken.body.contains("value=\"Other\""),
        "what was typed is kept"
    );
    let forged = owner
        .post(here, &[("action", "create"), ("name", "X"), ("slug", "x")])
        .await;
    assert_eq!(forged.status, 403, "no form token, no organization");

    // Invite a member; the mail leads to the hosted invitation page.
    let member_email = random_email();
    let invited = owner.invite(here, &member_email, "member").await;
    assert_eq!(invited.status, 303, "{}", invited.body);
    let again = owner.invite(here, &member_email, "member").await;
    assert_eq!(
        refusal_code(&again),
        "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION"
    );
    let mail = sink.wait_for(&member_email, 1).await.remove(0);
    let (_, id) = invitation_link(&app, &mail.text);
    let listed = owner.get(here).await;
    assert!(
        listed.body.contains(&member_email),
        "pending invitation shown"
    );

    // The invitee, verified, accepts from the organizations page.
    let mut member = Visitor::new(&app);
    let member_password = strong_password(16);
    member.sign_up("Max", &member_email, &member_password).await;
    let unverified = member.get(here).await;
    assert!(unverified.body.contains("once the address is verified"));
    let mut db = app.db().await;
    sqlx::query("UPDATE users SET email_verified = 1 WHERE email = $1")
        .bind(&member_email)
        .execute(&mut db)
        .await
        .unwrap();
    // As if the link had been opened: a new session sees the verified address.
    let mut member = Visitor::new(&app);
    member.sign_in(&member_email, &member_password).await;
    let pending = member.get(here).await;
    assert!(
        pending.body.contains("Invitations for you"),
        "{}",
        pending.body
    );
    let accepted = member
        .submit(here, &[("action", "accept"), ("invitation", &id)])
        .await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    let joined = member.get(here).await;
    assert!(joined.body.contains("Members of Acme"));
    assert!(
        !joined.body.contains("Send invitation"),
        "members do not invite"
    );
    assert!(
        !joined.body.contains("name=\"member\""),
        "nor manage members"
    );
    let refused = member.invite(here, &random_email(), "member").await;
    assert_eq!(
        refusal_code(&refused),
        "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION"
    );

    // The owner makes them an admin: they may invite now, but not remove the owner.
    let member_id = owner.get(here).await.input("member");
    let promoted = owner
        .submit(
            here,
            &[
                ("action", "role"),
                ("member", &member_id),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(promoted.status, 303, "{}", promoted.body);
    let admin_page = member.get(here).await;
    assert!(admin_page.body.contains("Send invitation"));
    assert!(
        !admin_page.body.contains("<option value=\"owner\""),
        "owner only for owners"
    );
    assert!(
        !admin_page.body.contains("name=\"member\""),
        "no controls for the owner"
    );
    // The same forms sent anyway are refused as the API refuses them.
    let full = app
        .get(
            "/organization/get-full-organization",
            Auth::Cookie(&member.session_token()),
        )
        .await;
    let owner_id = full.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "owner")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let removal = member
        .submit(here, &[("action", "remove"), ("member", &owner_id)])
        .await;
    assert_eq!(
        refusal_code(&removal),
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"
    );
    let to_owner = member
        .submit(
            here,
            &[
                ("action", "role"),
                ("member", &owner_id),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(
        refusal_code(&to_owner),
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"
    );

    // A second organization becomes active; switching back works, and only to one's own.
    let second = owner
        .submit(
            here,
            &[
                ("action", "create"),
                ("name", "Beta"),
                ("slug", &format!("{slug}-b")),
            ],
        )
        .await;
    assert_eq!(second.status, 303);
    let page = owner.get(here).await;
    assert!(page.body.contains("Members of Beta"));
    let acme_id = page.input("organization");
    let switched = owner
        .submit(here, &[("action", "switch"), ("organization", &acme_id)])
        .await;
    assert_eq!(switched.status, 303);
    assert!(owner.get(here).await.body.contains("Members of Acme"));
    let mut stranger = Visitor::new(&app);
    stranger
        .sign_up("Sam", &random_email(), &strong_password(16))
        .await;
    let intrusion = stranger
        .submit(here, &[("action", "switch"), ("organization", &acme_id)])
        .await;
    assert_eq!(
        refusal_code(&intrusion),
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION"
    );

    // The owner removes the member.
    let removed = owner
        .submit(here, &[("action", "remove"), ("member", &member_id)])
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert!(member
        .get(here)
        .await
        .body
        .contains("not in any organization"));
    assert_eq!(
        app.count("audit_events WHERE kind = 'member_removed'")
            .await,
        1
    );
}

async fn an_invitation_mail_leads_to_its_page_to_sign_up_verify_and_accept(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(backend, &[("smtp_url", smtp.as_str())]).await;
    let here = "/account/organizations";
    let mut owner = Visitor::new(&app);
    owner
        .sign_up("Olive", &random_email(), &strong_password(16))
        .await;
    let slug = format!("team-{}", &random_email()[..6]);
    owner
        .submit(
            here,
            &[("action", "create"), ("name", "Team <b>"), ("slug", &slug)],
        )
        .await;
    let invitee_email = random_email();
    owner.invite(here, &invitee_email, "admin").await;
    let mail = sink.wait_for(&invitee_email, 1).await.remove(0);
    let (link, id) = invitation_link(&app, &mail.text);
    let invitation_path = format!("/invitations/{id}");

    // Signed out: the page reveals nothing but the way in, and comes back here after.
    let mut invitee = Visitor::new(&app);
    let landing = invitee.get(&link).await;
    assert_eq!(landing.status, 200);
    assert!(
        !landing.body.contains("Team"),
        "no details before signing in"
    );
    assert!(landing.body.contains(&format!(
        "/sign-up?return_to={}",
        invitation_path.replace('/', "%2F")
    )));
    let signed_up = invitee
        .submit(
            &format!("/sign-up?return_to={invitation_path}"),
            &[
                ("name", "Ivy"),
                ("email", &invitee_email),
                ("password", &strong_password(16)),
                ("return_to", &invitation_path),
            ],
        )
        .await;
    assert_eq!(signed_up.location(), invitation_path);

    // Not verified yet: the page says so and sends a link that comes back here.
    let unverified = invitee.get(&invitation_path).await;
    assert_eq!(unverified.status, 403);
    assert_eq!(
        refusal_code(&unverified),
        "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION"
    );
    let early = invitee
        .post(
            &invitation_path,
            &[("csrf", &unverified.csrf()), ("action", "accept")],
        )
        .await;
    assert_eq!(
        refusal_code(&early),
        "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION"
    );
    let before = sink.mails_to(&invitee_email).len();
    let sent = invitee
        .post(
            &invitation_path,
            &[("csrf", &early.csrf()), ("action", "verify")],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("Check your email"));
    let mail = sink
        .wait_for(&invitee_email, before + 1)
        .await
        .pop()
        .unwrap();
    let verify = link_in(
        &mail.text,
        &format!("{}/api/auth/verify-email?token=", app.url),
    );
    let back = invitee.get(&verify).await;
    assert_eq!(back.location(), invitation_path);

    // Someone else signed in cannot use it.
    let mut stranger = Visitor::new(&app);
    stranger
        .sign_up("Sam", &random_email(), &strong_password(16))
        .await;
    let foreign = stranger.get(&invitation_path).await;
    assert_eq!(foreign.status, 403);
    assert_eq!(
        refusal_code(&foreign),
        "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION"
    );

    let open = invitee.get(&invitation_path).await;
    assert_eq!(open.status, 200, "{}", open.body);
    assert!(
        open.body.contains("Join Team &lt;b&gt;"),
        "escaped: {}",
        open.body
    );
    let forged = invitee
        .post(&invitation_path, &[("action", "accept")])
        .await;
    assert_eq!(forged.status, 403, "no form token");
    let accepted = invitee
        .post(
            &invitation_path,
            &[("csrf", &open.csrf()), ("action", "accept")],
        )
        .await;
    assert_eq!(accepted.location(), here);
    let organizations = invitee.get(here).await;
    assert!(organizations.body.contains("Members of Team &lt;b&gt;"));
    let used = invitee.get(&invitation_path).await;
    assert_eq!(refusal_code(&used), "INVITATION_NOT_FOUND");
}

/// What the sign-up page's script asks while a password is typed: the policy's verdict with the
/// reasons sign-up would give, only with the page's form token, rate limited, nothing stored.
async fn the_sign_up_page_asks_the_policy_before_submit_without_storing_anything(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("rate_limits.password_check", "6/1m")]).await;
    let mut browser = Visitor::new(&app);
    let form = browser.get("/sign-up").await;
    assert!(form
        .body
        .contains("data-password-check=\"/sign-up/password-check\""));
    assert!(
        form.body.contains("8 to 128 characters"),
        "the rules before submit"
    );
    let csrf = form.csrf();
    let path = "/sign-up/password-check";
    let verdict = |page: &Page| -> serde_json::Value {
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.headers["cache-control"], "no-store");
        serde_json::from_str(&page.body).unwrap()
    };
    let short = verdict(
        &browser
            .post(path, &[("csrf", &csrf), ("password", "abc")])
            .await,
    );
    assert_eq!(short["ok"], false);
    assert_eq!(short["code"], "PASSWORD_TOO_SHORT");
    let common = verdict(
        &browser
            .post(path, &[("csrf", &csrf), ("password", "password123")])
            .await,
    );
    assert_eq!(common["code"], "PASSWORD_TOO_WEAK");
    assert!(common["message"].as_str().unwrap().len() > "Password too weak: ".len());
    let personal = [
        ("csrf", csrf.as_str()),
        ("name", "Ada"),
        ("email", "adalovelace1815@example.com"),
        ("password", "adalovelace1815"),
    ];
    assert_eq!(
        verdict(&browser.post(path, &personal).await)["code"],
        "PASSWORD_TOO_WEAK"
    );
    let strong = strong_password(16);
    let fine = verdict(
        &browser
            .post(path, &[("csrf", &csrf), ("password", &strong)])
            .await,
    );
    assert_eq!(fine, json!({ "ok": true }));

    // Only the page itself may ask.
    let tokenless = browser.post(path, &[("password", &strong)]).await;
    assert_eq!(tokenless.status, 403);
    browser.origin = "https://evil.example".to_owned();
    let foreign = browser
        .post(path, &[("csrf", &csrf), ("password", &strong)])
        .await;
    assert_eq!(foreign.status, 403);
    browser.origin = app.origin.clone();
    assert_eq!(app.count("users").await, 0, "nothing stored");

    // Rate limited per IP (6 a minute here; 4 answered above, refusals before the limit).
    let mut last = 0;
    for _ in 0..3 {
        last = browser
            .post(path, &[("csrf", &csrf), ("password", &strong)])
            .await
            .status;
    }
    assert_eq!(last, 429);
}
