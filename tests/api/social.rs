//! Social sign-in against a real OpenID Connect provider (`oidc-provider`, tests/oidc-provider),
//! with GitHub-style routes for plain OAuth 2. The test plays the browser: a cookie jar, and
//! redirects followed by hand so each hop can be looked at (or tampered with).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{http_client, random_email, Auth, Backend, Reply, TestApp};

both_backends!(
    new_user_then_returning_user,
    state_is_single_use_bound_to_the_browser_and_expires,
    issuer_is_checked_rfc_9207,
    a_code_is_bound_to_its_pkce_verifier,
    provider_errors_land_on_the_error_url_without_provider_text,
    linking_needs_a_trusted_provider_and_a_verified_email,
    callback_urls_must_be_relative_or_trusted,
    provider_down_or_slow_is_a_clear_error,
    github_gives_the_verified_primary_address,
    plain_oauth2_with_a_mapping,
    link_list_and_unlink_keep_the_last_way_in,
    id_token_sign_in,
    two_factor_still_applies_after_a_social_sign_in,
    form_post_callback,
    official_client_signs_in_links_and_unlinks,
    provider_tokens_are_sealed_and_refreshed,
    sign_in_rate_limits_cover_the_social_routes,
    sign_up_can_be_limited_to_explicit_requests,
    a_callback_id_token_must_carry_the_transactions_nonce,
    a_banned_user_is_refused_at_both_social_ways_in,
);

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider")
}

/// Installs the pinned provider package once (`npm ci`), if it is not there yet.
fn ensure_node_packages() {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if *installed || provider_dir().join("node_modules/oidc-provider").exists() {
        *installed = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(provider_dir())
        .status()
        .expect("npm must be installed (Node 20) to run the social sign-in tests");
    assert!(status.success(), "npm ci in tests/oidc-provider failed");
    *installed = true;
}

/// The provider process, stopped (by its id) when the test ends.
pub struct Idp {
    pub issuer: String,
    child: Child,
    http: reqwest::Client,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CLIENT_ID: &str = "portcullis-test";
const CLIENT_SECRET: &str = "portcullis-test-secret";

impl Idp {
    pub async fn start() -> Self {
        let (child, issuer) = tokio::task::spawn_blocking(|| {
            ensure_node_packages();
            let stderr = if std::env::var_os("PORTCULLIS_TEST_OIDC_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            };
            let mut child = Command::new("node")
                .arg("server.mjs")
                .current_dir(provider_dir())
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .expect("node must be installed (Node 20) to run the social sign-in tests");
            let stdout = child.stdout.take().unwrap();
            let mut lines = BufReader::new(stdout).lines();
            let issuer = loop {
                let line = lines
                    .next()
                    .expect("the provider prints its issuer")
                    .unwrap();
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    break value["issuer"].as_str().unwrap().to_owned();
                }
            };
            // Keep reading (and dropping) what it prints, so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            (child, issuer)
        })
        .await
        .unwrap();
        Self {
            issuer,
            child,
            http: http_client().build().unwrap(),
        }
    }

    /// Registers the test client with the callback URLs of `app`.
    pub async fn register(&self, app: &TestApp, providers: &[&str]) {
        let uris: Vec<String> = providers
            .iter()
            .map(|p| format!("{}/api/auth/callback/{p}", app.url))
            .collect();
        let reply = self
            .http
            .post(format!("{}/test/clients", self.issuer))
            .json(&json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": uris,
            }))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success());
    }

    /// An ID token signed by the provider (or, with `forge`, by another key under its `kid`).
    pub async fn mint(&self, claims: Value, forge: bool) -> String {
        let reply: Value = self
            .http
            .post(format!("{}/test/mint", self.issuer))
            .json(&json!({"claims": claims, "forge": forge}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["id_token"].as_str().unwrap().to_owned()
    }

    /// Makes the provider issue ID tokens with a wrong nonce (`"wrong"`), none (`"missing"`), or
    /// the right one again (`"honest"`).
    pub async fn nonce_mode(&self, mode: &str) {
        let reply = self
            .http
            .post(format!("{}/test/nonce", self.issuer))
            .json(&json!({"mode": mode}))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success());
    }

    /// The account that signs in when the authorization request names none (a browser pressing
    /// a sign-in button sends no `login_hint`); `None`: such requests are refused.
    pub async fn sign_in_as(&self, claims: Option<Value>) {
        let reply = self
            .http
            .post(format!("{}/test/account", self.issuer))
            .json(&json!({ "claims": claims.unwrap_or(json!({})) }))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success());
    }

    /// Settings for an OpenID Connect provider `id` at this issuer.
    pub fn oidc_settings(&self, id: &str) -> Vec<(String, String)> {
        vec![
            (format!("social.{id}.issuer"), self.issuer.clone()),
            (format!("social.{id}.client_id"), CLIENT_ID.to_owned()),
            (
                format!("social.{id}.client_secret"),
                CLIENT_SECRET.to_owned(),
            ),
        ]
    }
}

/// The account the provider signs in, as its `login_hint`.
fn hint(claims: Value) -> String {
    URL_SAFE_NO_PAD.encode(claims.to_string())
}

pub fn person(email: &str, verified: bool) -> Value {
    json!({
        "sub": format!("sub-{}", email),
        "email": email,
        "email_verified": verified,
        "name": "Ada Lovelace",
        "picture": "https://img.example/ada.png",
    })
}

/// A server with the loopback provider configured as each of `ids`, and `extra` settings.
pub async fn spawn(backend: Backend, idp: &Idp, ids: &[&str], extra: &[(&str, &str)]) -> TestApp {
    let mut settings: Vec<(String, String)> =
        vec![("social.allow_insecure_loopback".into(), "true".into())];
    for id in ids {
        settings.extend(idp.oidc_settings(id));
    }
    settings.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let app = TestApp::spawn_with(backend, &pairs).await;
    idp.register(&app, &["acme", "google", "github", "forge", "other"])
        .await;
    app
}

/// A browser: a cookie jar (by host and port, so the provider's cookies can be dropped on their
/// own) and hand-followed redirects.
pub struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: http_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    fn cookie_header(&self, url: &url::Url) -> Option<String> {
        let cookies = self.jar.get(&origin_key(url))?;
        (!cookies.is_empty()).then(|| {
            cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn store(&mut self, url: &url::Url, headers: &reqwest::header::HeaderMap) {
        let host = origin_key(url);
        for value in headers.get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let gone = text.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            let cookies = self.jar.entry(host.clone()).or_default();
            if gone {
                cookies.remove(name.trim());
            } else {
                cookies.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    /// Forgets the provider's cookies (its sign-in session).
    pub fn forget(&mut self, idp: &Idp) {
        self.jar
            .remove(&origin_key(&url::Url::parse(&idp.issuer).unwrap()));
    }

    pub fn cookie(&self, host: &str, name: &str) -> Option<String> {
        self.jar.get(host)?.get(name).cloned()
    }

    async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
        url: &url::Url,
    ) -> reqwest::Response {
        let request = match self.cookie_header(url) {
            Some(cookies) => request.header("cookie", cookies),
            None => request,
        };
        let response = request.send().await.expect("request");
        self.store(url, response.headers());
        response
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let parsed = url::Url::parse(url).unwrap();
        let request = self.http.get(url);
        self.send(request, &parsed).await
    }

    /// POST JSON with the app's Origin, as its page would.
    pub async fn post_json(&mut self, app: &TestApp, path: &str, body: Value) -> Reply {
        let url = url::Url::parse(&app.api(path)).unwrap();
        let request = self
            .http
            .post(url.as_str())
            .header("origin", &app.origin)
            .json(&body);
        Reply::from(self.send(request, &url).await).await
    }

    pub async fn get_json(&mut self, app: &TestApp, path: &str) -> Reply {
        let url = app.api(path);
        Reply::from(self.get(&url).await).await
    }

    /// Follows the provider's redirects (and its sign-in) until it sends the browser back to
    /// `app`: answers the callback URL, or (form_post) the form's action and fields.
    pub async fn through_provider(&mut self, app: &TestApp, start: &str) -> Back {
        let mut url = url::Url::parse(start).unwrap();
        for _ in 0..10 {
            if url.as_str().starts_with(&app.url) {
                return Back::Redirect(url.to_string());
            }
            let response = self.get(url.as_str()).await;
            let status = response.status().as_u16();
            if status == 200 {
                let html = response.text().await.unwrap();
                return Back::FormPost(parse_form(&html));
            }
            assert!(
                (300..400).contains(&status),
                "provider answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            url = url.join(&location).unwrap();
        }
        panic!("too many redirects at the provider");
    }
}

fn origin_key(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    )
}

pub enum Back {
    Redirect(String),
    FormPost((String, Vec<(String, String)>)),
}

impl Back {
    fn url(self) -> String {
        match self {
            Back::Redirect(url) => url,
            Back::FormPost(_) => panic!("expected a redirect back, got a form"),
        }
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&#x3D;", "=")
        .replace("&#x60;", "`")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn parse_form(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> String {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + tag[start..].find('"').unwrap();
        unescape(&tag[start..end])
    };
    let form = &html[html.find("<form").expect("a form")..];
    let action = attr(&form[..form.find('>').unwrap()], "action");
    let fields = form
        .split("<input")
        .skip(1)
        .map(|tag| {
            let tag = &tag[..tag.find('>').unwrap()];
            (attr(tag, "name"), attr(tag, "value"))
        })
        .collect();
    (action, fields)
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status().as_u16(), 302, "expected a redirect");
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn error_of(location: &str) -> String {
    let url = url::Url::parse("http://base.invalid/")
        .unwrap()
        .join(location)
        .unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no error in {location}"))
}

/// Starts a sign-in and follows the provider back: answers the callback URL (not yet opened).
async fn to_callback(
    app: &TestApp,
    browser: &mut Browser,
    provider: &str,
    account: Value,
    extra: Value,
) -> String {
    let mut body = json!({
        "provider": provider,
        "callbackURL": "/dashboard",
        "loginHint": hint(account),
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let reply = browser.post_json(app, "/sign-in/social", body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["redirect"], true);
    let url = reply.body["url"].as_str().unwrap().to_owned();
    browser.through_provider(app, &url).await.url()
}

/// A whole sign-in: answers where the callback sent the browser.
async fn social_sign_in(
    app: &TestApp,
    browser: &mut Browser,
    provider: &str,
    account: Value,
) -> String {
    let callback = to_callback(app, browser, provider, account, json!({})).await;
    let response = browser.get(&callback).await;
    location(&response)
}

fn host(app: &TestApp) -> String {
    origin_key(&url::Url::parse(&app.url).unwrap())
}

fn session_of(app: &TestApp, browser: &Browser) -> Option<String> {
    browser.cookie(&host(app), "portcullis.session_token")
}

async fn new_user_then_returning_user(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    let email = random_email();
    let mut browser = Browser::new();
    let body = json!({"newUserCallbackURL": "/welcome"});
    let callback = to_callback(&app, &mut browser, "acme", person(&email, true), body).await;
    assert!(callback.contains("iss="), "RFC 9207 iss in {callback}");
    let landing = location(&browser.get(&callback).await);
    assert_eq!(landing, "/welcome", "a new user goes to newUserCallbackURL");
    let token = session_of(&app, &browser).expect("a session cookie");
    let session = app.get("/get-session", Auth::Cookie(&token)).await;
    assert_eq!(session.body["user"]["email"], email.as_str());
    assert_eq!(session.body["user"]["emailVerified"], true);
    assert_eq!(session.body["user"]["name"], "Ada Lovelace");
    let user_id = session.body["user"]["id"].clone();
    // The state cookie is gone once used.
    assert!(browser
        .cookie(&host(&app), "portcullis.social_state")
        .is_none());

    let mut again = Browser::new();
    let body = json!({"newUserCallbackURL": "/welcome"});
    let callback = to_callback(&app, &mut again, "acme", person(&email, true), body).await;
    assert_eq!(location(&again.get(&callback).await), "/dashboard");
    let token = session_of(&app, &again).unwrap();
    let session = app.get("/get-session", Auth::Cookie(&token)).await;
    assert_eq!(
        session.body["user"]["id"], user_id,
        "the same user signs in again"
    );
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("accounts WHERE provider_id = 'acme'").await, 1);
    assert_eq!(
        app.count("audit_events WHERE kind = 'sign_up_social'")
            .await,
        1
    );
    assert_eq!(
        app.count("audit_events WHERE kind = 'sign_in_social'")
            .await,
        1
    );
    // An unverified address makes an unverified user.
    let unverified = random_email();
    let mut third = Browser::new();
    social_sign_in(&app, &mut third, "acme", person(&unverified, false)).await;
    let token = session_of(&app, &third).unwrap();
    let session = app.get("/get-session", Auth::Cookie(&token)).await;
    assert_eq!(session.body["user"]["emailVerified"], false);
}

async fn state_is_single_use_bound_to_the_browser_and_expires(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    let mut browser = Browser::new();
    // No state at all.
    let response = browser.get(&app.api("/callback/acme?code=x")).await;
    assert_eq!(error_of(&location(&response)), "state_not_found");
    assert!(location(&response).starts_with(&format!("{}/api/auth/error?", app.url)));
    // A state this server never made.
    let response = browser
        .get(&app.api("/callback/acme?code=x&state=made-up"))
        .await;
    assert_eq!(error_of(&location(&response)), "state_mismatch");
    let error_page = browser.get_json(&app, "/error?error=state_mismatch").await;
    assert_eq!(error_page.body["error"], "state_mismatch");
    let error_page = browser.get_json(&app, "/error?error=%3Cscript%3E").await;
    assert_eq!(error_page.body["error"], "oauth_provider_error");

    // From another browser: the state cookie is missing there.
    let callback = to_callback(
        &app,
        &mut browser,
        "acme",
        person(&random_email(), true),
        json!({"errorCallbackURL": "/oops"}),
    )
    .await;
    let mut other = Browser::new();
    let response = other.get(&callback).await;
    assert_eq!(location(&response), "/oops?error=state_mismatch");
    assert!(session_of(&app, &other).is_none());
    // The transaction is used up by that attempt: the right browser cannot use it either.
    let response = browser.get(&callback).await;
    assert_eq!(error_of(&location(&response)), "state_mismatch");
    assert!(session_of(&app, &browser).is_none());

    // Replay: a callback that worked cannot be used again (nor its code).
    let mut browser = Browser::new();
    let callback = to_callback(
        &app,
        &mut browser,
        "acme",
        person(&random_email(), true),
        json!({}),
    )
    .await;
    assert_eq!(location(&browser.get(&callback).await), "/dashboard");
    let response = browser.get(&callback).await;
    assert_eq!(error_of(&location(&response)), "state_mismatch");

    // Ten minutes: a transaction expires.
    let mut browser = Browser::new();
    let callback = to_callback(
        &app,
        &mut browser,
        "acme",
        person(&random_email(), true),
        json!({}),
    )
    .await;
    app.clock.advance(Duration::from_secs(11 * 60));
    let response = browser.get(&callback).await;
    assert_eq!(error_of(&location(&response)), "state_mismatch");

    // The state on another provider's callback.
    let mut browser = Browser::new();
    let callback = to_callback(
        &app,
        &mut browser,
        "acme",
        person(&random_email(), true),
        json!({}),
    )
    .await;
    let response = browser
        .get(&callback.replace("/callback/acme", "/callback/google"))
        .await;
    assert_eq!(error_of(&location(&response)), "state_mismatch");
    // The cookie is HttpOnly, Lax, and sent only to the callback.
    let reply = Browser::new()
        .post_json(&app, "/sign-in/social", json!({"provider": "acme"}))
        .await;
    let cookie = reply.set_cookie("portcullis.social_state").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Path=/api/auth/callback") && cookie.contains("Max-Age=600"));
    let url = url::Url::parse(reply.body["url"].as_str().unwrap()).unwrap();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert!(query["state"].len() >= 43 && query["nonce"].len() >= 43);
}

async fn issuer_is_checked_rfc_9207(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    let mut browser = Browser::new();
    let callback = to_callback(
        &app,
        &mut browser,
        "acme",
        person(&random_email(), true),
        json!({}),
    )
    .await;
    let tampered = callback.replace(
        &url::form_urlencoded::byte_serialize(idp.issuer.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fevil.example",
    );
    assert_ne!(tampered, callback);
    let response = browser.get(&tampered).await;
    assert_eq!(error_of(&location(&response)), "issuer_mismatch");
    assert!(session_of(&app, &browser).is_none());

    let mut browser = Browser::new();
    let callback = to_callback(
        &app,
        &mut browser,
        "acme",
        person(&random_email(), true),
        json!({}),
    )
    .await;
    let url = url::Url::parse(&callback).unwrap();
    let mut stripped = url.clone();
    stripped
        .query_pairs_mut()
        .clear()
        .extend_pairs(url.query_pairs().filter(|(k, _)| k != "iss"));
    let response = browser.get(stripped.as_str()).await;
    assert_eq!(error_of(&location(&response)), "issuer_missing");
}

async fn a_code_is_bound_to_its_pkce_verifier(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    // The victim's code, injected into the attacker's own transaction (its state, its cookie):
    // the verifier of that transaction does not match the code's challenge.
    let mut victim = Browser::new();
    let victims = to_callback(
        &app,
        &mut victim,
        "acme",
        person(&random_email(), true),
        json!({}),
    )
    .await;
    let mut attacker = Browser::new();
    let attackers = to_callback(
        &app,
        &mut attacker,
        "acme",
        person(&random_email(), true),
        json!({}),
    )
    .await;
    let code = |url: &str| {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    };
    let injected = attackers.replace(&code(&attackers), &code(&victims));
    let response = attacker.get(&injected).await;
    assert_eq!(error_of(&location(&response)), "invalid_code");
    assert!(session_of(&app, &attacker).is_none());
    assert_eq!(app.count("users").await, 0);
}

async fn provider_errors_land_on_the_error_url_without_provider_text(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    let mut browser = Browser::new();
    let body = json!({"errorCallbackURL": "/sign-in?from=acme"});
    let callback = to_callback(&app, &mut browser, "acme", json!({"deny": true}), body).await;
    let landing = location(&browser.get(&callback).await);
    assert_eq!(landing, "/sign-in?from=acme&error=access_denied");
    assert!(!landing.contains("script"));
}

async fn linking_needs_a_trusted_provider_and_a_verified_email(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(
        backend,
        &idp,
        &["acme", "google"],
        &[("social.account_linking.trusted_providers", "google")],
    )
    .await;
    let (email, _, _) = app.new_user().await;
    // acme is not trusted: even a verified address is not linked.
    let mut browser = Browser::new();
    let landing = social_sign_in(&app, &mut browser, "acme", person(&email, true)).await;
    assert_eq!(error_of(&landing), "account_not_linked");
    assert!(session_of(&app, &browser).is_none());
    // google is trusted, but the address is not verified: not linked either.
    let mut browser = Browser::new();
    let landing = social_sign_in(&app, &mut browser, "google", person(&email, false)).await;
    assert_eq!(error_of(&landing), "account_not_linked");
    assert_eq!(app.count("accounts").await, 0);
    let verified: i64 = app.count("users WHERE email_verified = 1").await;
    assert_eq!(
        verified, 0,
        "an unverified provider address marks nothing verified"
    );
    // Trusted and verified: linked to the existing user, who is now verified.
    let mut browser = Browser::new();
    let landing = social_sign_in(&app, &mut browser, "google", person(&email, true)).await;
    assert_eq!(landing, "/dashboard");
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("accounts WHERE provider_id = 'google'").await, 1);
    assert_eq!(app.count("users WHERE email_verified = 1").await, 1);
    assert_eq!(
        app.count("audit_events WHERE kind = 'account_linked'")
            .await,
        1
    );
    // A different subject with the same address at the same provider is a different account.
    let mut other = person(&email, true);
    other["sub"] = json!("someone-else");
    let mut browser = Browser::new();
    let landing = social_sign_in(&app, &mut browser, "google", other).await;
    assert_eq!(
        landing, "/dashboard",
        "trusted, verified: linked as a second account"
    );
    assert_eq!(app.count("accounts").await, 2);
}

async fn callback_urls_must_be_relative_or_trusted(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    for field in ["callbackURL", "newUserCallbackURL", "errorCallbackURL"] {
        for evil in [
            "https://evil.example/x",
            "//evil.example",
            "/\\evil.example",
            "https:evil.example",
        ] {
            let mut body = json!({"provider": "acme"});
            body[field] = json!(evil);
            let reply = app.post("/sign-in/social", Auth::None, body).await;
            reply.assert_error(403, "INVALID_CALLBACK_URL");
            assert!(reply.set_cookie("portcullis.social_state").is_none());
        }
    }
    let reply = app
        .post(
            "/sign-in/social",
            Auth::None,
            json!({"provider": "acme", "callbackURL": format!("{}/ok", app.url)}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let reply = app
        .post("/sign-in/social", Auth::None, json!({"provider": "nobody"}))
        .await;
    reply.assert_error(404, "PROVIDER_NOT_FOUND");
    let reply = app
        .post("/sign-in/social", Auth::None, json!({"provider": "acme", "additionalParams": {"redirect_uri": "https://evil.example"}}))
        .await;
    reply.assert_error(400, "VALIDATION_ERROR");
    let reply = app
        .post("/sign-in/social", Auth::None, json!({"provider": "acme", "additionalParams": {"prompt": "login"}, "scopes": ["offline_access"], "disableRedirect": true}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["redirect"], false);
    let url = reply.body["url"].as_str().unwrap();
    assert!(
        url.contains("prompt=login") && url.contains("offline_access"),
        "{url}"
    );
    let reply = app
        .post(
            "/sign-in/social",
            Auth::None,
            json!({"provider": "acme", "scopes": ["a b"]}),
        )
        .await;
    reply.assert_error(400, "VALIDATION_ERROR");
}

async fn provider_down_or_slow_is_a_clear_error(backend: Backend) {
    let idp = Idp::start().await;
    // A port nobody listens on, and a provider that never answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let slow = format!("{}/slow", idp.issuer);
    let app = spawn(
        backend,
        &idp,
        &["acme"],
        &[
            ("social.down.issuer", down.as_str()),
            ("social.down.client_id", "x"),
            ("social.down.client_secret", "y"),
            ("social.slow.issuer", slow.as_str()),
            ("social.slow.client_id", "x"),
            ("social.slow.client_secret", "y"),
            ("social.http_timeout", "1s"),
        ],
    )
    .await;
    for provider in ["down", "slow"] {
        let started = Instant::now();
        let reply = app
            .post("/sign-in/social", Auth::None, json!({"provider": provider}))
            .await;
        reply.assert_error(424, "PROVIDER_UNAVAILABLE");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{provider}: no hang"
        );
        let reply = app
            .post(
                "/sign-in/social",
                Auth::None,
                json!({"provider": provider, "idToken": {"token": "a.b.c"}}),
            )
            .await;
        assert!(reply.status < 500, "{provider}: {}", reply.body);
    }
    // The provider goes down between the redirect and the callback: the code exchange fails,
    // the browser lands on the error URL at once.
    let mut browser = Browser::new();
    let callback = to_callback(
        &app,
        &mut browser,
        "acme",
        person(&random_email(), true),
        json!({}),
    )
    .await;
    drop(idp);
    let started = Instant::now();
    let landing = location(&browser.get(&callback).await);
    assert_eq!(error_of(&landing), "unable_to_get_user_info");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(session_of(&app, &browser).is_none());
}

async fn github_gives_the_verified_primary_address(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(
        backend,
        &idp,
        &[],
        &[
            ("social.github.client_id", CLIENT_ID),
            ("social.github.client_secret", CLIENT_SECRET),
            ("social.github.web_url", idp.issuer.as_str()),
            ("social.github.api_url", idp.issuer.as_str()),
        ],
    )
    .await;
    let email = random_email();
    let mut account = person(&email, true);
    account["github_id"] = json!(4242);
    account["login"] = json!("ada");
    let mut browser = Browser::new();
    let reply = browser
        .post_json(
            &app,
            "/sign-in/social",
            json!({"provider": "github", "loginHint": hint(account.clone())}),
        )
        .await;
    let url = reply.body["url"].as_str().unwrap().to_owned();
    assert!(
        url.contains("code_challenge_method=S256"),
        "PKCE for GitHub too: {url}"
    );
    let callback = browser.through_provider(&app, &url).await.url();
    assert_eq!(
        location(&browser.get(&callback).await),
        "/",
        "no callbackURL: the root"
    );
    let token = session_of(&app, &browser).unwrap();
    let session = app.get("/get-session", Auth::Cookie(&token)).await;
    assert_eq!(session.body["user"]["email"], email.as_str());
    assert_eq!(session.body["user"]["emailVerified"], true);
    assert_eq!(
        app.count("accounts WHERE provider_id = 'github' AND account_id = '4242'")
            .await,
        1
    );
    // An unverified primary address: the user is not verified.
    let other = random_email();
    let mut account = person(&other, false);
    account["github_id"] = json!(4343);
    let mut browser = Browser::new();
    social_sign_in(&app, &mut browser, "github", account).await;
    let token = session_of(&app, &browser).unwrap();
    let session = app.get("/get-session", Auth::Cookie(&token)).await;
    assert_eq!(session.body["user"]["email"], other.as_str());
    assert_eq!(session.body["user"]["emailVerified"], false);
}

async fn plain_oauth2_with_a_mapping(backend: Backend) {
    let idp = Idp::start().await;
    let auth = format!("{}/auth", idp.issuer);
    let token = format!("{}/token", idp.issuer);
    let user = format!("{}/user", idp.issuer);
    let app = spawn(
        backend,
        &idp,
        &[],
        &[
            ("social.forge.client_id", CLIENT_ID),
            ("social.forge.client_secret", CLIENT_SECRET),
            ("social.forge.authorization_url", auth.as_str()),
            ("social.forge.token_url", token.as_str()),
            ("social.forge.userinfo_url", user.as_str()),
            ("social.forge.scopes", "openid"),
            ("social.forge.mapping.id", "/id"),
            ("social.forge.mapping.name", "/login"),
            ("social.forge.mapping.image", "/avatar_url"),
        ],
    )
    .await;
    let email = random_email();
    let mut account = person(&email, true);
    account["github_id"] = json!("forge-77");
    account["login"] = json!("ada77");
    // /user has no address: a provider without email cannot sign up.
    let mut browser = Browser::new();
    let landing = social_sign_in(&app, &mut browser, "forge", account.clone()).await;
    assert_eq!(error_of(&landing), "email_not_found");
    assert_eq!(app.count("users").await, 0);
    // With a public address: mapped, and (no email_verified pointer) not verified.
    account["public_email"] = json!(email);
    let mut browser = Browser::new();
    assert_eq!(
        social_sign_in(&app, &mut browser, "forge", account).await,
        "/dashboard"
    );
    let token = session_of(&app, &browser).unwrap();
    let session = app.get("/get-session", Auth::Cookie(&token)).await;
    assert_eq!(session.body["user"]["email"], email.as_str());
    assert_eq!(session.body["user"]["name"], "ada77");
    assert_eq!(session.body["user"]["emailVerified"], false);
    assert_eq!(
        app.count("accounts WHERE provider_id = 'forge' AND account_id = 'forge-77'")
            .await,
        1
    );
}

async fn link_list_and_unlink_keep_the_last_way_in(backend: Backend) {
    let idp = Idp::start().await;
    // No session cache: the test ages sessions in the database.
    let app = spawn(
        backend,
        &idp,
        &["acme", "other"],
        &[("session.cache_ttl", "0s")],
    )
    .await;
    let (email, _, token) = app.new_user().await;
    let mut browser = Browser::new();
    browser
        .jar
        .entry(host(&app))
        .or_default()
        .insert("portcullis.session_token".into(), token.clone());
    // Link acme (same address): the callback adds it to this user.
    let reply = browser
        .post_json(&app, "/link-social", json!({"provider": "acme", "callbackURL": "/settings", "loginHint": hint(person(&email, false))}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let url = reply.body["url"].as_str().unwrap().to_owned();
    let callback = browser.through_provider(&app, &url).await.url();
    assert_eq!(location(&browser.get(&callback).await), "/settings");
    // Linking another address is refused.
    browser.forget(&idp);
    let reply = browser
        .post_json(&app, "/link-social", json!({"provider": "other", "callbackURL": "/settings", "loginHint": hint(person(&random_email(), true))}))
        .await;
    let url = reply.body["url"].as_str().unwrap().to_owned();
    let callback = browser.through_provider(&app, &url).await.url();
    assert_eq!(
        error_of(&location(&browser.get(&callback).await)),
        "email_does_not_match"
    );

    let accounts = app.get("/list-accounts", Auth::Cookie(&token)).await;
    assert_eq!(accounts.status, 200);
    let list = accounts.body.as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", accounts.body);
    assert_eq!(list[0]["providerId"], "credential");
    assert_eq!(list[1]["providerId"], "acme");
    assert!(!accounts.body.to_string().contains("Token"), "never tokens");
    let acme_id = list[1]["id"].as_str().unwrap().to_owned();
    let info = app
        .get(
            &format!("/account-info?accountId={acme_id}"),
            Auth::Cookie(&token),
        )
        .await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["user"]["email"], email.as_str());
    app.get("/account-info?accountId=nope", Auth::Cookie(&token))
        .await
        .assert_error(400, "ACCOUNT_NOT_FOUND");
    app.get("/list-accounts", Auth::None)
        .await
        .assert_error(401, "UNAUTHORIZED");

    // Unlink: not someone else's account, and not with a stale session.
    let (_, _, stranger) = app.new_user().await;
    app.post(
        "/unlink-account",
        Auth::Cookie(&stranger),
        json!({"accountId": acme_id}),
    )
    .await
    .assert_error(400, "ACCOUNT_NOT_FOUND");
    // Sessions signed in two days ago (the provider's ID tokens follow the real clock, so the
    // server's is not moved here).
    let mut db = app.db().await;
    sqlx::query("UPDATE sessions SET created_at = created_at - 172800000")
        .execute(&mut db)
        .await
        .unwrap();
    let stale = app
        .post(
            "/unlink-account",
            Auth::Cookie(&token),
            json!({"accountId": acme_id}),
        )
        .await;
    stale.assert_error(403, "SESSION_NOT_FRESH");
    // A fresh session through the provider itself (a returning acme user).
    let mut again = Browser::new();
    assert_eq!(
        social_sign_in(&app, &mut again, "acme", person(&email, false)).await,
        "/dashboard"
    );
    let fresh = session_of(&app, &again).unwrap();
    let reply = app
        .post(
            "/unlink-account",
            Auth::Cookie(&fresh),
            json!({"accountId": acme_id}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        app.count("audit_events WHERE kind = 'account_unlinked'")
            .await,
        1
    );

    // A user whose only way in is one provider cannot unlink it.
    let mut browser = Browser::new();
    social_sign_in(&app, &mut browser, "acme", person(&random_email(), true)).await;
    let only = session_of(&app, &browser).unwrap();
    let list = app.get("/list-accounts", Auth::Cookie(&only)).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    let id = list.body[0]["id"].as_str().unwrap().to_owned();
    app.post(
        "/unlink-account",
        Auth::Cookie(&only),
        json!({"accountId": id}),
    )
    .await
    .assert_error(400, "FAILED_TO_UNLINK_LAST_ACCOUNT");
    app.post("/unlink-account", Auth::Cookie(&only), json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

async fn id_token_sign_in(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(
        backend,
        &idp,
        &["acme"],
        &[("social.acme.audiences", "ios-client")],
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let email = random_email();
    let claims = |aud: &str, exp: i64, nonce: &str| {
        json!({
            "iss": idp.issuer, "sub": "native-1", "aud": aud, "exp": exp, "iat": now,
            "nonce": nonce, "email": email, "email_verified": true, "name": "Native",
        })
    };
    let app = &app;
    let sign_in = |token: String, nonce: &str| {
        let body = json!({"provider": "acme", "idToken": {"token": token, "nonce": nonce}});
        async move { app.post("/sign-in/social", Auth::None, body).await }
    };
    let valid = idp
        .mint(claims("ios-client", now + 600, "n-1"), false)
        .await;
    let reply = sign_in(valid.clone(), "n-1").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["redirect"], false);
    assert_eq!(reply.body["user"]["email"], email.as_str());
    let token = reply.body["token"].as_str().unwrap();
    assert!(app.session_alive(token).await);
    assert!(reply.set_cookie("portcullis.session_token").is_some());
    // Wrong nonce, wrong audience, expired, forged signature: 401 INVALID_TOKEN.
    sign_in(valid, "n-2")
        .await
        .assert_error(401, "INVALID_TOKEN");
    let wrong_aud = idp
        .mint(claims("someone-else", now + 600, "n-1"), false)
        .await;
    sign_in(wrong_aud, "n-1")
        .await
        .assert_error(401, "INVALID_TOKEN");
    let expired = idp.mint(claims(CLIENT_ID, now - 3600, "n-1"), false).await;
    sign_in(expired, "n-1")
        .await
        .assert_error(401, "INVALID_TOKEN");
    let forged = idp.mint(claims(CLIENT_ID, now + 600, "n-1"), true).await;
    sign_in(forged, "n-1")
        .await
        .assert_error(401, "INVALID_TOKEN");
    sign_in("not-a-jwt".into(), "n-1")
        .await
        .assert_error(401, "INVALID_TOKEN");
    let mut other_issuer = claims(CLIENT_ID, now + 600, "n-1");
    other_issuer["iss"] = json!("https://evil.example");
    let other_issuer = idp.mint(other_issuer, false).await;
    sign_in(other_issuer, "n-1")
        .await
        .assert_error(401, "INVALID_TOKEN");
    // link-social with an ID token: added to the signed-in user at once, if the address is theirs.
    let (owner_email, _, owner) = app.new_user().await;
    let link = |token: String, session: String| async move {
        let body = json!({"provider": "acme", "idToken": {"token": token}});
        app.post("/link-social", Auth::Cookie(&session), body).await
    };
    let mut owned = claims("ios-client", now + 600, "n-1");
    owned["sub"] = json!("native-link");
    owned["email"] = json!(owner_email);
    let owned = idp.mint(owned, false).await;
    let reply = link(owned.clone(), owner.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["status"], true);
    assert_eq!(reply.body["redirect"], false);
    let list = app.get("/list-accounts", Auth::Cookie(&owner)).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2, "{}", list.body);
    let (_, _, other) = app.new_user().await;
    link(owned, other.clone())
        .await
        .assert_error(409, "SOCIAL_ACCOUNT_ALREADY_LINKED");
    let mut foreign = claims("ios-client", now + 600, "n-1");
    foreign["sub"] = json!("native-foreign");
    let foreign = idp.mint(foreign, false).await;
    link(foreign, other)
        .await
        .assert_error(400, "EMAIL_DOES_NOT_MATCH");
    // Token mode: grant_type=id_token (Supabase's signInWithIdToken shape) → access + refresh.
    let grant = |token: String, nonce: &'static str| async move {
        let response = app
            .http
            .post(app.api("/token"))
            .form(&[
                ("grant_type", "id_token"),
                ("provider", "acme"),
                ("id_token", &token),
                ("nonce", nonce),
            ])
            .send()
            .await
            .unwrap();
        Reply::from(response).await
    };
    let mobile = idp
        .mint(claims("ios-client", now + 600, "n-9"), false)
        .await;
    let reply = grant(mobile.clone(), "n-9").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["access_token"]
        .as_str()
        .is_some_and(|t| t.starts_with("ey")));
    assert!(reply.body["refresh_token"].as_str().is_some());
    assert_eq!(reply.body["user"]["email"], email.as_str());
    let refused = grant(mobile, "n-8").await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"], "invalid_grant");
    let forged = idp.mint(claims("ios-client", now + 600, "n-9"), true).await;
    assert_eq!(grant(forged, "n-9").await.body["error"], "invalid_grant");
    // The client id itself is an audience too; the server clock decides expiry.
    let later = idp.mint(claims(CLIENT_ID, now + 600, "n-1"), false).await;
    app.clock.advance(Duration::from_secs(3600));
    sign_in(later, "n-1")
        .await
        .assert_error(401, "INVALID_TOKEN");
}

async fn two_factor_still_applies_after_a_social_sign_in(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    let email = random_email();
    let mut browser = Browser::new();
    social_sign_in(&app, &mut browser, "acme", person(&email, true)).await;
    let mut db = app.db().await;
    sqlx::query("UPDATE users SET two_factor_enabled = 1")
        .execute(&mut db)
        .await
        .unwrap();
    let mut browser = Browser::new();
    let landing = social_sign_in(&app, &mut browser, "acme", person(&email, true)).await;
    assert_eq!(landing, "/dashboard?twoFactorRedirect=true");
    assert!(
        session_of(&app, &browser).is_none(),
        "no session before the second factor"
    );
    assert!(browser
        .cookie(&host(&app), "portcullis.two_factor")
        .is_some());

    // two_factor.skip_for_social: better-auth's behaviour, on request.
    let skipping = spawn(
        backend,
        &idp,
        &["acme"],
        &[("two_factor.skip_for_social", "true")],
    )
    .await;
    let mut browser = Browser::new();
    social_sign_in(&skipping, &mut browser, "acme", person(&email, true)).await;
    let mut db = skipping.db().await;
    sqlx::query("UPDATE users SET two_factor_enabled = 1")
        .execute(&mut db)
        .await
        .unwrap();
    let mut browser = Browser::new();
    assert_eq!(
        social_sign_in(&skipping, &mut browser, "acme", person(&email, true)).await,
        "/dashboard"
    );
    assert!(session_of(&skipping, &browser).is_some());
}

async fn form_post_callback(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(
        backend,
        &idp,
        &["acme"],
        &[("social.acme.response_mode", "form_post")],
    )
    .await;
    let mut browser = Browser::new();
    let email = random_email();
    // A provider that sends no name in its token, and (like Apple on the first authorization)
    // the user's name as a `user` form field.
    let mut nameless = person(&email, true);
    nameless.as_object_mut().unwrap().remove("name");
    let reply = browser
        .post_json(
            &app,
            "/sign-in/social",
            json!({"provider": "acme", "loginHint": hint(nameless)}),
        )
        .await;
    let url = reply.body["url"].as_str().unwrap().to_owned();
    assert!(url.contains("response_mode=form_post"));
    let Back::FormPost((action, fields)) = browser.through_provider(&app, &url).await else {
        panic!("expected a form_post answer");
    };
    assert_eq!(action, app.api("/callback/acme"));
    // The provider's page posts cross-site (its own Origin): no session cookie is sent, and the
    // answer is handed to the GET callback, where the Lax state cookie is sent again.
    let client = http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut fields_with_user = fields.clone();
    fields_with_user.push((
        "user".to_owned(),
        r#"{"name":{"firstName":"Ada","lastName":"Byron"},"email":"x@example.com"}"#.to_owned(),
    ));
    let posted = client
        .post(&action)
        .header("origin", "https://appleid.apple.com")
        .form(&fields_with_user)
        .send()
        .await
        .unwrap();
    let get = location(&posted);
    assert!(get.starts_with(&app.api("/callback/acme?")), "{get}");
    assert_eq!(location(&browser.get(&get).await), "/");
    let token = session_of(&app, &browser).unwrap();
    let session = app.get("/get-session", Auth::Cookie(&token)).await;
    assert_eq!(session.body["user"]["name"], "Ada Byron");
    // The POST carried no session cookie and changed nothing by itself: without the browser's
    // state cookie the GET it leads to fails.
    let posted = client
        .post(app.api("/callback/nobody"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(&location(&posted)), "oauth_provider_not_found");
}

async fn sign_in_rate_limits_cover_the_social_routes(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[("rate_limits.sign_in", "3/1m")]).await;
    for _ in 0..3 {
        let reply = app
            .post("/sign-in/social", Auth::None, json!({"provider": "acme"}))
            .await;
        assert_eq!(reply.status, 200);
    }
    app.post("/sign-in/social", Auth::None, json!({"provider": "acme"}))
        .await
        .assert_error(429, "TOO_MANY_REQUESTS");
    let callback = Browser::new()
        .get(&app.api("/callback/acme?state=x&code=y"))
        .await;
    assert_eq!(callback.status().as_u16(), 429, "the callback counts too");
}

/// The official better-auth client (tests/compat/social.test.mjs): `signIn.social`, `linkSocial`,
/// `listAccounts`, `unlinkAccount`.
async fn official_client_signs_in_links_and_unlinks(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    let run = crate::compat::run_node_args(
        &["--test", "social.test.mjs"],
        &[("PORTCULLIS_URL", &app.url), ("OIDC_ISSUER", &idp.issuer)],
    )
    .await;
    assert!(
        run.success,
        "better-auth client social flow failed:\n{}",
        run.report
    );
    assert!(
        run.report.contains("# pass 3") && run.report.contains("# fail 0"),
        "{}",
        run.report
    );
}

async fn provider_tokens_are_sealed_and_refreshed(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(
        backend,
        &idp,
        &["acme"],
        &[("social.store_provider_tokens", "true")],
    )
    .await;
    let mut browser = Browser::new();
    let body = json!({"scopes": ["offline_access"], "additionalParams": {"prompt": "consent"}});
    let callback = to_callback(
        &app,
        &mut browser,
        "acme",
        person(&random_email(), true),
        body,
    )
    .await;
    assert_eq!(location(&browser.get(&callback).await), "/dashboard");
    let token = session_of(&app, &browser).unwrap();
    let list = app.get("/list-accounts", Auth::Cookie(&token)).await;
    let id = list.body[0]["id"].as_str().unwrap().to_owned();
    assert!(!list.body.to_string().contains("refresh"), "{}", list.body);
    let first = app
        .post(
            "/get-access-token",
            Auth::Cookie(&token),
            json!({"accountId": id}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let access = first.body["accessToken"].as_str().unwrap().to_owned();
    assert!(
        first.body.get("refreshToken").is_none(),
        "the refresh token stays here"
    );
    // At rest: sealed, not the token.
    let mut db = app.db().await;
    let row = sqlx::query("SELECT sealed_access_token, sealed_refresh_token FROM accounts")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let sealed: String = sqlx::Row::get(&row, "sealed_access_token");
    let sealed_refresh: Option<String> = sqlx::Row::get(&row, "sealed_refresh_token");
    assert!(!sealed.contains(&access) && sealed_refresh.is_some());
    // Near its expiry (the server clock), the provider refreshes it.
    app.clock.advance(Duration::from_secs(3600));
    let second = app
        .post(
            "/get-access-token",
            Auth::Cookie(&token),
            json!({"providerId": "acme"}),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_ne!(
        second.body["accessToken"],
        access.as_str(),
        "a refreshed token"
    );
    // Another user's account, or none at all.
    let (_, _, stranger) = app.new_user().await;
    app.post(
        "/get-access-token",
        Auth::Cookie(&stranger),
        json!({"accountId": id}),
    )
    .await
    .assert_error(400, "ACCOUNT_NOT_FOUND");
    app.post("/get-access-token", Auth::None, json!({"accountId": id}))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn sign_up_can_be_limited_to_explicit_requests(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(
        backend,
        &idp,
        &["acme"],
        &[("social.acme.disable_sign_up", "true")],
    )
    .await;
    let email = random_email();
    let mut browser = Browser::new();
    let landing = social_sign_in(&app, &mut browser, "acme", person(&email, true)).await;
    assert_eq!(error_of(&landing), "signup_disabled");
    assert_eq!(app.count("users").await, 0);
    let mut browser = Browser::new();
    let body = json!({"requestSignUp": true});
    let callback = to_callback(&app, &mut browser, "acme", person(&email, true), body).await;
    assert_eq!(location(&browser.get(&callback).await), "/dashboard");
    assert_eq!(app.count("users").await, 1);
    // Once the user exists, signing in needs no request.
    let mut browser = Browser::new();
    assert_eq!(
        social_sign_in(&app, &mut browser, "acme", person(&email, true)).await,
        "/dashboard"
    );
}

/// `PORTCULLIS_SOCIAL_<ID>_<KEY>` sets a provider; a typo, in a provider key or a shared one, and
/// an incomplete provider stop start-up naming the setting.
#[test]
fn provider_settings_come_from_the_environment_and_typos_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let run = |vars: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        command.current_dir(dir.path()).arg("migrate");
        for (key, _) in std::env::vars() {
            if key.starts_with("PORTCULLIS_") {
                command.env_remove(key);
            }
        }
        let output = command.envs(vars.iter().copied()).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    };
    let (code, text) = run(&[
        ("PORTCULLIS_SOCIAL_GOOGLE_CLIENT_ID", "id"),
        ("PORTCULLIS_SOCIAL_GOOGLE_CLIENT_SECRET", "secret"),
    ]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&[("PORTCULLIS_SOCIAL_GOOGLE_CLIENT_SECRT", "secret")]);
    assert_ne!(code, 0);
    assert!(
        text.contains("PORTCULLIS_SOCIAL_GOOGLE_CLIENT_SECRT"),
        "{text}"
    );
    let (code, text) = run(&[("PORTCULLIS_SOCIAL_ALOW_INSECURE_LOOPBACK", "true")]);
    assert_ne!(code, 0);
    assert!(
        text.contains("did you mean PORTCULLIS_SOCIAL_ALLOW_INSECURE_LOOPBACK"),
        "{text}"
    );
    let (code, text) = run(&[
        ("PORTCULLIS_SOCIAL_ACME_CLIENT_ID", "id"),
        ("PORTCULLIS_SOCIAL_ACME_CLIENT_SECRET", "secret"),
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("social.acme.issuer"), "{text}");
}

async fn a_callback_id_token_must_carry_the_transactions_nonce(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(backend, &idp, &["acme"], &[]).await;
    for mode in ["wrong", "missing"] {
        idp.nonce_mode(mode).await;
        let mut browser = Browser::new();
        let callback = to_callback(
            &app,
            &mut browser,
            "acme",
            person(&random_email(), true),
            json!({"errorCallbackURL": "/oops"}),
        )
        .await;
        let response = browser.get(&callback).await;
        // better-auth's code when the provider's user cannot be established from its answer.
        assert_eq!(
            location(&response),
            "/oops?error=unable_to_get_user_info",
            "nonce {mode}"
        );
        assert!(session_of(&app, &browser).is_none(), "nonce {mode}");
    }
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("accounts").await, 0);
    // The same provider, honest again: the same kind of sign-in works.
    idp.nonce_mode("honest").await;
    let mut browser = Browser::new();
    let landing = social_sign_in(&app, &mut browser, "acme", person(&random_email(), true)).await;
    assert_eq!(landing, "/dashboard");
    assert!(session_of(&app, &browser).is_some());
}

/// A ban (here from the command line, against the running server) refuses the redirect flow and
/// the ID-token sign-in alike, with better-auth's `403 BANNED_USER`.
async fn a_banned_user_is_refused_at_both_social_ways_in(backend: Backend) {
    let idp = Idp::start().await;
    let app = spawn(
        backend,
        &idp,
        &["acme"],
        &[("social.acme.audiences", "ios-client")],
    )
    .await;
    let email = random_email();
    let account = person(&email, true);
    assert_eq!(
        social_sign_in(&app, &mut Browser::new(), "acme", account.clone()).await,
        "/dashboard"
    );
    let banned = app.cli(&["users", "ban", &email, "--reason", "chargebacks"]);
    assert!(banned.status.success(), "{banned:?}");

    // The callback answers as better-auth's does: 403, no session.
    let mut browser = Browser::new();
    let callback = to_callback(&app, &mut browser, "acme", account.clone(), json!({})).await;
    Reply::from(browser.get(&callback).await)
        .await
        .assert_error(403, "BANNED_USER");
    assert!(session_of(&app, &browser).is_none());

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = account;
    claims.as_object_mut().unwrap().extend(
        json!({"iss": idp.issuer, "aud": "ios-client", "exp": now + 600, "iat": now, "nonce": "n"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let id_token = idp.mint(claims, false).await;
    app.post(
        "/sign-in/social",
        Auth::None,
        json!({"provider": "acme", "idToken": {"token": id_token, "nonce": "n"}}),
    )
    .await
    .assert_error(403, "BANNED_USER");
}
