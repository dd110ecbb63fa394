//! Two-factor authentication (docs/two-factor.md): TOTP and backup codes under `/two-factor/`,
//! the second step of password sign-ins and of the token endpoint, trusted devices, limits, audit.
//!
//! TOTP codes are computed here, independently of the server, with RFC 6238 (checked against the
//! RFC's own vectors). A code is accepted once per 30-second step and only later steps afterwards,
//! so one account completes at most three checks (steps s−1, s, s+1) in one step: every scenario
//! uses fresh accounts, activates two-factor with the s−1 code, and `next_code` hands out the next
//! usable step, moving the server's clock to the next step when it must (no test waits for time).

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::{AssertSqlSafe, Row};

use crate::both_backends;
use crate::helpers::{cookie_name, strong_password, Auth, Backend, Reply, TestApp};
use crate::smtp_sink::{link_in, reset_token_of, SmtpSink};
use portcullis::ManualClock;

both_backends!(
    enable_answers_a_totp_uri_a_qr_code_and_ten_backup_codes,
    two_factor_is_active_only_after_a_first_correct_code,
    enable_needs_the_password_a_session_and_a_valid_issuer,
    sensitive_calls_need_a_fresh_session,
    get_totp_uri_shows_the_same_secret,
    secrets_and_backup_codes_are_never_stored_in_clear,
    password_sign_in_asks_for_the_second_factor_and_creates_no_session,
    verify_totp_completes_a_sign_in_once,
    a_backup_code_completes_a_sign_in_once,
    a_missing_or_unknown_challenge_cookie_is_refused,
    the_challenge_cookie_needs_a_trusted_origin,
    remember_me_false_carries_over_to_the_session_cookie,
    codes_one_step_either_side_are_accepted_two_steps_away_are_not,
    a_code_is_accepted_once_and_never_an_earlier_step,
    parallel_uses_of_one_totp_code_let_exactly_one_pass,
    a_challenge_dies_at_its_fifth_wrong_code,
    parallel_guesses_on_one_challenge_check_at_most_five,
    code_checks_are_throttled_per_account_apart_from_passwords,
    signed_in_code_checks_count_against_the_account_throttle,
    code_checks_are_rate_limited_per_client_ip,
    two_factor_events_are_audited,
    parallel_uses_of_one_backup_code_let_exactly_one_pass,
    generating_backup_codes_replaces_the_set,
    backup_codes_ignore_case_spaces_and_dashes,
    backup_codes_are_refused_before_activation,
    disable_turns_two_factor_off,
    revoke_other_sessions_ends_every_other_session_of_the_user,
    a_trusted_device_skips_the_second_factor_with_a_rotating_cookie,
    device_trust_ends_with_a_password_change,
    a_password_reset_ends_device_trust_and_never_bypasses_two_factor,
    device_trust_ends_when_two_factor_is_disabled,
    token_mode_completes_with_a_totp_code_or_a_backup_code,
    token_mode_refusals_follow_rfc6749,
    challenge_cookies_and_mfa_tokens_are_not_interchangeable,
    list_sessions_shows_only_sessions_that_exist_after_a_two_factor_sign_in,
    malformed_bodies_answer_400_with_a_message_and_a_code,
    settings_set_the_issuer_and_the_lifetimes_of_challenges_and_trust,
    cookies_are_secure_and_prefixed_over_https,
);

const CHALLENGE: &str = "portcullis.two_factor";
const TRUSTED: &str = "portcullis.trusted_device";
const THIRTY_DAYS: u64 = 30 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// RFC 6238, independently of the server.
// ---------------------------------------------------------------------------------------------

/// RFC 4648 base32 (upper or lower case, padding optional).
pub(crate) fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut count, mut out) = (0u64, 0u32, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        bits = (bits << 5) | value as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// RFC 4226 HOTP with HMAC-SHA1.
fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mac = ring::hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes(mac[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// RFC 6238 TOTP: 30-second steps from the Unix epoch.
fn totp_at(key: &[u8], unix_time: u64, digits: u32) -> String {
    hotp(key, unix_time / 30, digits)
}

/// The 6-digit code of a time step.
pub(crate) fn code_of_step(key: &[u8], step: i64) -> String {
    hotp(key, step as u64, 6)
}

/// The server's time in seconds, with milliseconds.
fn server_now(clock: &ManualClock) -> f64 {
    clock.now_ms() as f64 / 1000.0
}

/// Moves the server's clock, if needed, to where at least 2 s of the current step have passed
/// and at least `min_remaining` s are left, and answers the step: codes computed now for steps
/// relative to it stay what the test means them to be while the server checks them.
fn settle_in_step(clock: &ManualClock, min_remaining: f64) -> i64 {
    assert!(min_remaining <= 26.0);
    let into = server_now(clock) % 30.0;
    if into < 2.0 || 30.0 - into < min_remaining {
        let to_next_step_and_two_seconds = if into < 2.0 { 2.0 } else { 32.0 } - into;
        clock.advance(Duration::from_secs_f64(to_next_step_and_two_seconds));
    }
    (server_now(clock) / 30.0) as i64
}

#[test]
fn totp_generator_reproduces_the_rfc6238_sha1_vectors() {
    let key = b"12345678901234567890";
    for (time, expected) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp_at(key, time, 8), expected, "T = {time}");
    }
    assert_eq!(
        base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(),
        key.to_vec()
    );
    assert_eq!(base32_decode("mzxw6ytboi").unwrap(), b"foobar".to_vec());
}

// ---------------------------------------------------------------------------------------------
// Accounts and requests.
// ---------------------------------------------------------------------------------------------

/// A user, the session it signed up with, and (once enabled) its second factors.
pub(crate) struct Account {
    pub(crate) email: String,
    pub(crate) password: String,
    session: String,
    pub(crate) id: String,
    secret: Vec<u8>,
    secret_base32: String,
    backup_codes: Vec<String>,
    /// The last TOTP step this test had the server accept (or burn).
    last_step: i64,
    /// The server's clock, which decides the current step.
    clock: ManualClock,
}

impl Account {
    /// The code of the next step the server will still accept: the earliest of s−1, s, s+1
    /// after the last used one (waiting for the next step when all three are used).
    async fn next_code(&mut self) -> String {
        loop {
            let now = settle_in_step(&self.clock, 4.0);
            let step = (self.last_step + 1).max(now - 1);
            if step <= now + 1 {
                self.last_step = step;
                return code_of_step(&self.secret, step);
            }
            let to_next_step = 30.0 - server_now(&self.clock) % 30.0 + 0.1;
            self.clock.advance(Duration::from_secs_f64(to_next_step));
        }
    }

    /// A 6-digit code that is none of the codes of the steps around the server's now.
    fn wrong_code(&self) -> String {
        let step = (server_now(&self.clock) / 30.0) as i64;
        let near: Vec<String> = (step - 3..=step + 3)
            .map(|s| code_of_step(&self.secret, s))
            .collect();
        (0..)
            .map(|n: u32| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
            .find(|c| !near.contains(c))
            .unwrap()
    }

    pub(crate) fn backup_code(&mut self) -> String {
        self.backup_codes.pop().expect("a backup code left")
    }
}

/// A new user without two-factor.
async fn account(app: &TestApp) -> Account {
    let (email, password, session) = app.new_user().await;
    let id = user_of(app, &session).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Account {
        email,
        password,
        session,
        id,
        secret: Vec::new(),
        secret_base32: String::new(),
        backup_codes: Vec::new(),
        last_step: 0,
        clock: app.clock.clone(),
    }
}

/// A new user with two-factor active (enabled with its sign-up session, activated with a code).
pub(crate) async fn enabled_account(app: &TestApp) -> Account {
    let mut account = account(app).await;
    start_enabling(app, &mut account).await;
    let code = account.next_code().await;
    let reply = verify_totp_signed_in(app, &account.session, &code).await;
    assert_eq!(reply.status, 200, "activation failed: {}", reply.body);
    assert_eq!(reply.body["user"]["twoFactorEnabled"], true);
    account
}

/// Calls `enable` and keeps the secret and backup codes it answers (two-factor is pending).
async fn start_enabling(app: &TestApp, account: &mut Account) -> Value {
    let reply = enable(app, &account.session, &account.password, json!({})).await;
    assert_eq!(reply.status, 200, "enable failed: {}", reply.body);
    let (secret_base32, secret) = secret_of(&reply.body["totpURI"]);
    account.secret_base32 = secret_base32;
    account.secret = secret;
    account.backup_codes = backup_codes_of(&reply.body);
    reply.body
}

async fn user_of(app: &TestApp, token: &str) -> Value {
    let reply = app.get("/get-session", Auth::Bearer(token)).await;
    assert!(!reply.body.is_null(), "no live session for the token");
    reply.body["user"].clone()
}

async fn enable(app: &TestApp, session: &str, password: &str, extra: Value) -> Reply {
    with_password(app, "enable", session, password, extra).await
}

async fn disable(app: &TestApp, session: &str, password: &str, extra: Value) -> Reply {
    with_password(app, "disable", session, password, extra).await
}

async fn generate_backup_codes(
    app: &TestApp,
    session: &str,
    password: &str,
    extra: Value,
) -> Reply {
    with_password(app, "generate-backup-codes", session, password, extra).await
}

async fn get_totp_uri(app: &TestApp, session: &str, password: &str) -> Reply {
    with_password(app, "get-totp-uri", session, password, json!({})).await
}

/// A signed-in `/two-factor/<endpoint>` call confirmed by the password, with `extra` fields.
async fn with_password(
    app: &TestApp,
    endpoint: &str,
    session: &str,
    password: &str,
    extra: Value,
) -> Reply {
    let mut body = json!({ "password": password });
    merge(&mut body, extra);
    app.post(
        &format!("/two-factor/{endpoint}"),
        Auth::Bearer(session),
        body,
    )
    .await
}

/// `verify-backup-code` with a session (testing a code).
async fn verify_backup_code_signed_in(app: &TestApp, session: &str, code: &str) -> Reply {
    code_signed_in(app, "verify-backup-code", session, code).await
}

/// `verify-totp` with a session (activation).
async fn verify_totp_signed_in(app: &TestApp, session: &str, code: &str) -> Reply {
    code_signed_in(app, "verify-totp", session, code).await
}

async fn code_signed_in(app: &TestApp, endpoint: &str, session: &str, code: &str) -> Reply {
    app.post(
        &format!("/two-factor/{endpoint}"),
        Auth::Bearer(session),
        json!({ "code": code }),
    )
    .await
}

fn merge(body: &mut Value, extra: Value) {
    if let Value::Object(extra) = extra {
        body.as_object_mut().unwrap().extend(extra);
    }
}

/// A POST carrying the given `Cookie` header and the base URL's `Origin`, as a browser sends it.
async fn post_with_cookies(app: &TestApp, path: &str, cookies: &str, body: Value) -> Reply {
    Reply::from(
        app.http
            .post(app.api(path))
            .header("cookie", cookies)
            .header("origin", &app.origin)
            .json(&body)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// A password sign-in from a browser (with `Origin`), optionally sending a trusted-device cookie.
async fn browser_sign_in(app: &TestApp, body: Value, trusted_device: Option<&str>) -> Reply {
    let mut request = app
        .http
        .post(app.api("/sign-in/email"))
        .header("origin", &app.origin)
        .json(&body);
    if let Some(trusted) = trusted_device {
        request = request.header("cookie", format!("{TRUSTED}={trusted}"));
    }
    Reply::from(request.send().await.expect("request")).await
}

/// Asserts that a sign-in answer is the two-factor redirect and answers the challenge cookie.
#[track_caller]
fn assert_two_factor_redirect(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["twoFactorRedirect"], true, "{}", reply.body);
    assert_eq!(reply.body["twoFactorMethods"], json!(["totp"]));
    assert!(
        reply.body["token"].is_null(),
        "no session yet: {}",
        reply.body
    );
    let cookie = reply
        .set_cookie(CHALLENGE)
        .unwrap_or_else(|| panic!("no challenge cookie: {:?}", reply.headers));
    cookie_value(&cookie)
}

/// Asserts that a sign-in answer is a plain session and answers its token.
#[track_caller]
fn assert_signed_in(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.get("twoFactorRedirect").is_none() || reply.body["twoFactorRedirect"] == false,
        "no second factor expected: {}",
        reply.body
    );
    reply.body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {}", reply.body))
        .to_owned()
}

/// The password step of a sign-in for an account with two-factor: the challenge cookie's value.
async fn password_step(app: &TestApp, account: &Account) -> String {
    password_step_with(app, account, json!({})).await
}

async fn password_step_with(app: &TestApp, account: &Account, extra: Value) -> String {
    let mut body = json!({ "email": account.email, "password": account.password });
    merge(&mut body, extra);
    assert_two_factor_redirect(&browser_sign_in(app, body, None).await)
}

/// `verify-totp` with a challenge cookie.
async fn verify_totp(app: &TestApp, challenge: &str, code: &str) -> Reply {
    verify_with(app, "totp", challenge, json!({ "code": code })).await
}

/// `verify-backup-code` with a challenge cookie.
async fn verify_backup_code(app: &TestApp, challenge: &str, code: &str) -> Reply {
    verify_with(app, "backup-code", challenge, json!({ "code": code })).await
}

async fn verify_with(app: &TestApp, method: &str, challenge: &str, body: Value) -> Reply {
    post_with_cookies(
        app,
        &format!("/two-factor/verify-{method}"),
        &format!("{CHALLENGE}={challenge}"),
        body,
    )
    .await
}

/// Asserts a completed sign-in: `{token, user}`, the session cookie, the challenge cookie cleared.
#[track_caller]
fn assert_completed(reply: &Reply, app: &TestApp) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {}", reply.body))
        .to_owned();
    assert_eq!(
        reply.body["user"]["twoFactorEnabled"], true,
        "{}",
        reply.body
    );
    assert!(
        reply.set_cookie(&cookie_name(app)).is_some(),
        "no session cookie"
    );
    let cleared = reply
        .set_cookie(CHALLENGE)
        .expect("the challenge cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    token
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .unwrap()
}

fn max_age(set_cookie: &str) -> Option<u64> {
    set_cookie
        .split(';')
        .map(str::trim)
        .find_map(|attribute| attribute.strip_prefix("Max-Age="))
        .map(|age| age.parse().expect("Max-Age in seconds"))
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
        .to_owned()
}

/// Percent-decoding, for the label and query of an otpauth URI.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// The parts of an `otpauth://totp/` URI: (decoded label, query parameters).
fn parse_totp_uri(uri: &Value) -> (String, Vec<(String, String)>) {
    let uri = uri.as_str().unwrap_or_else(|| panic!("totpURI: {uri}"));
    let parsed = url::Url::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
    assert_eq!(parsed.scheme(), "otpauth", "{uri}");
    assert_eq!(parsed.host_str(), Some("totp"), "{uri}");
    let label = percent_decode(parsed.path().trim_start_matches('/'));
    let query = parsed.query_pairs().into_owned().collect();
    (label, query)
}

fn query_param(query: &[(String, String)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

/// The base32 secret of a `totpURI` and its 160 bits.
fn secret_of(uri: &Value) -> (String, Vec<u8>) {
    let (_, query) = parse_totp_uri(uri);
    let secret = query_param(&query, "secret").unwrap_or_else(|| panic!("no secret in {uri}"));
    assert_eq!(
        secret.len(),
        32,
        "160 bits are 32 base32 characters: {secret}"
    );
    let bytes = base32_decode(&secret).unwrap_or_else(|| panic!("not base32: {secret}"));
    assert_eq!(bytes.len(), 20);
    (secret, bytes)
}

fn backup_codes_of(body: &Value) -> Vec<String> {
    body["backupCodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no backupCodes in {body}"))
        .iter()
        .map(|c| c.as_str().expect("a backup code is a string").to_owned())
        .collect()
}

#[track_caller]
fn assert_backup_code_shape(codes: &[String]) {
    assert_eq!(codes.len(), 10, "{codes:?}");
    let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10, "{codes:?}");
    for code in codes {
        let halves: Vec<&str> = code.split('-').collect();
        assert!(
            halves.len() == 2
                && halves.iter().all(|h| h.len() == 5
                    && h.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
            "backup code not xxxxx-xxxxx from [a-z0-9]: {code}"
        );
    }
}

/// Asserts a 429 with a `Retry-After` in whole seconds, and answers it.
#[track_caller]
fn assert_limited(reply: &Reply) -> u64 {
    reply.assert_error(429, "TOO_MANY_REQUESTS");
    let seconds: u64 = reply
        .headers
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(seconds >= 1, "Retry-After {seconds}");
    seconds
}

async fn sessions_of(app: &TestApp, account: &Account) -> i64 {
    app.count(&format!("sessions WHERE user_id = '{}'", account.id))
        .await
}

async fn audit_count(app: &TestApp, kind: &str, account: &Account) -> i64 {
    app.count(&format!(
        "audit_events WHERE kind = '{kind}' AND user_id = '{}'",
        account.id
    ))
    .await
}

// ---------------------------------------------------------------------------------------------
// Turning it on.
// ---------------------------------------------------------------------------------------------

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

async fn password_sign_in_asks_for_the_second_factor_and_creates_no_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let account = enabled_account(&app).await;
    let before = sessions_of(&app, &account).await;
    let reply = browser_sign_in(
        &app,
        json!({"email": account.email, "password": account.password}),
        None,
    )
    .await;
    assert_eq!(
        reply.body,
        json!({"twoFactorRedirect": true, "twoFactorMethods": ["totp"]})
    );
    assert_two_factor_redirect(&reply);
    let cookie = reply.set_cookie(CHALLENGE).unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
        "Path=/api/auth/two-factor",
    ] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "{attribute} missing: {cookie}"
        );
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(
        reply.set_cookie(&cookie_name(&app)).is_none(),
        "no session cookie before the second factor"
    );
    assert_eq!(sessions_of(&app, &account).await, before);
    // A wrong password still answers as always, without a challenge.
    let wrong = app.sign_in(&account.email, &strong_password(16)).await;
    wrong.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert!(wrong.set_cookie(CHALLENGE).is_none());
}

async fn verify_totp_completes_a_sign_in_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    let code = account.next_code().await;
    let reply = verify_totp(&app, &challenge, &code).await;
    let token = assert_completed(&reply, &app);
    assert_eq!(reply.body["user"]["email"], account.email.as_str());
    assert_eq!(
        cookie_value(&reply.set_cookie(&cookie_name(&app)).unwrap()),
        token,
        "the session cookie holds the session"
    );
    let session = app.get("/get-session", Auth::Bearer(&token)).await.body;
    assert_eq!(session["user"]["id"], account.id.as_str());
    assert_eq!(session["user"]["twoFactorEnabled"], true);
    assert!(app.session_alive(&token).await);

    // The challenge is used up, whatever the code.
    verify_totp(&app, &challenge, &code)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    let later = code_of_step(&account.secret, account.last_step + 1);
    verify_totp(&app, &challenge, &later)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
}

async fn a_backup_code_completes_a_sign_in_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let code = account.backup_code();
    let challenge = password_step(&app, &account).await;
    let reply = verify_backup_code(&app, &challenge, &code).await;
    let token = assert_completed(&reply, &app);
    assert!(app.session_alive(&token).await);
    verify_backup_code(&app, &challenge, &account.backup_codes[0])
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");

    let challenge = password_step(&app, &account).await;
    verify_backup_code(&app, &challenge, &code)
        .await
        .assert_error(401, "INVALID_BACKUP_CODE");
    // The refusal did not end the challenge: another code still completes it.
    let other = account.backup_code();
    assert_completed(&verify_backup_code(&app, &challenge, &other).await, &app);
    // Nor does the used code work signed in.
    app.post(
        "/two-factor/verify-backup-code",
        Auth::Bearer(&token),
        json!({ "code": code }),
    )
    .await
    .assert_error(401, "INVALID_BACKUP_CODE");
}

async fn a_missing_or_unknown_challenge_cookie_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let code = account.backup_code();
    for method in ["totp", "backup-code"] {
        let path = format!("/two-factor/verify-{method}");
        app.post(&path, Auth::None, json!({"code": "123456"}))
            .await
            .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
        post_with_cookies(
            &app,
            &path,
            &format!("{CHALLENGE}=not-a-challenge"),
            json!({"code": code}),
        )
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    }
    // The session cookie is no challenge.
    post_with_cookies(
        &app,
        "/two-factor/verify-backup-code",
        &format!("{CHALLENGE}={}", account.session),
        json!({ "code": code }),
    )
    .await
    .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    // None of those used the backup code up.
    let challenge = password_step(&app, &account).await;
    assert_completed(&verify_backup_code(&app, &challenge, &code).await, &app);
}

/// The challenge cookie is a credential: a forged cross-site request carrying it is refused before
/// any code is checked (and spends none of the challenge's attempts).
async fn the_challenge_cookie_needs_a_trusted_origin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    let code = account.backup_code();
    let forged = |origin: Option<&'static str>| {
        let mut request = app
            .http
            .post(app.api("/two-factor/verify-backup-code"))
            .header("cookie", format!("{CHALLENGE}={challenge}"))
            .json(&json!({ "code": code }));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    };
    for _ in 0..5 {
        let reply = Reply::from(forged(Some("https://evil.example")).send().await.unwrap()).await;
        reply.assert_error(403, "INVALID_ORIGIN");
        let reply = Reply::from(forged(None).send().await.unwrap()).await;
        reply.assert_error(403, "MISSING_OR_NULL_ORIGIN");
    }
    assert_completed(&verify_backup_code(&app, &challenge, &code).await, &app);
}

async fn remember_me_false_carries_over_to_the_session_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step_with(&app, &account, json!({"rememberMe": false})).await;
    let reply = verify_backup_code(&app, &challenge, &account.backup_code()).await;
    assert_completed(&reply, &app);
    let cookie = reply.set_cookie(&cookie_name(&app)).unwrap();
    assert!(
        max_age(&cookie).is_none(),
        "a browser-session cookie: {cookie}"
    );

    let challenge = password_step(&app, &account).await;
    let reply = verify_backup_code(&app, &challenge, &account.backup_code()).await;
    assert_completed(&reply, &app);
    let cookie = reply.set_cookie(&cookie_name(&app)).unwrap();
    assert!(max_age(&cookie).is_some_and(|age| age > 0), "{cookie}");
}

// ---------------------------------------------------------------------------------------------
// How codes are checked.
// ---------------------------------------------------------------------------------------------

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

/// Many failures on one account without the account throttle getting in the way.
const LENIENT_THROTTLE: [(&str, &str); 1] = [("throttle.free_failures", "60")];

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

/// A complete sign-in with a backup code: the new session's token.
async fn backup_sign_in(app: &TestApp, account: &mut Account) -> String {
    let code = account.backup_code();
    let challenge = password_step(app, account).await;
    assert_completed(&verify_backup_code(app, &challenge, &code).await, app)
}

// ---------------------------------------------------------------------------------------------
// Trusted devices.
// ---------------------------------------------------------------------------------------------

/// Completes a sign-in with a backup code and `trustDevice: true`: the trusted-device cookie.
async fn trust_this_device(app: &TestApp, account: &mut Account) -> String {
    let challenge = password_step(app, account).await;
    let reply = verify_with(
        app,
        "backup-code",
        &challenge,
        json!({"code": account.backup_code(), "trustDevice": true}),
    )
    .await;
    assert_completed(&reply, app);
    cookie_value(
        &reply
            .set_cookie(TRUSTED)
            .expect("trustDevice sets the trusted-device cookie"),
    )
}

async fn sign_in_from_device(app: &TestApp, account: &Account, trusted: &str) -> Reply {
    browser_sign_in(
        app,
        json!({"email": account.email, "password": account.password}),
        Some(trusted),
    )
    .await
}

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

async fn token(app: &TestApp, body: Value) -> Reply {
    app.post("/token", Auth::None, body).await
}

/// The password grant for an account with two-factor: the `mfa_token`.
async fn mfa_token(app: &TestApp, account: &Account) -> String {
    let reply = token(
        app,
        json!({"grant_type": "password", "email": account.email, "password": account.password}),
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["error"], "mfa_required");
    assert!(reply.body["error_description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    assert_eq!(reply.body["mfa_methods"], json!(["totp", "backup_code"]));
    assert!(reply.body.get("access_token").is_none());
    text(&reply.body, "mfa_token")
}

#[track_caller]
fn assert_oauth_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (status, Some(error)),
        "{}",
        reply.body
    );
    assert!(
        reply.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        reply.body
    );
}

#[track_caller]
fn assert_tokens(reply: &Reply, account: &Account) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    text(&reply.body, "refresh_token");
    assert_eq!(reply.body["user"]["id"], account.id.as_str());
    assert_eq!(reply.body["user"]["twoFactorEnabled"], true);
    text(&reply.body, "access_token")
}

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

async fn list_sessions_shows_only_sessions_that_exist_after_a_two_factor_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    // A second password step whose challenge is never completed.
    password_step(&app, &account).await;
    let code = account.next_code().await;
    let token = assert_completed(&verify_totp(&app, &challenge, &code).await, &app);

    let reply = app.get("/list-sessions", Auth::Bearer(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let listed: Vec<String> = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| text(s, "id"))
        .collect();
    let mut expected = vec![
        text(&user_session(&app, &account.session).await, "id"),
        text(&user_session(&app, &token).await, "id"),
    ];
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    expected.sort();
    assert_eq!(listed_sorted, expected, "{}", reply.body);
    assert_eq!(sessions_of(&app, &account).await, 2);
    let current: Vec<_> = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], user_session(&app, &token).await["id"]);
}

async fn user_session(app: &TestApp, token: &str) -> Value {
    app.get("/get-session", Auth::Bearer(token)).await.body["session"].clone()
}

#[track_caller]
fn assert_bad_request(reply: &Reply) {
    assert_eq!(reply.status, 400, "{}", reply.body);
    for field in ["message", "code"] {
        assert!(
            reply.body[field].as_str().is_some_and(|v| !v.is_empty()),
            "no {field}: {}",
            reply.body
        );
    }
}

async fn malformed_bodies_answer_400_with_a_message_and_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut account = enabled_account(&app).await;
    let challenge = password_step(&app, &account).await;
    let cookies = format!("{CHALLENGE}={challenge}");
    for method in ["totp", "backup-code"] {
        let path = format!("/two-factor/verify-{method}");
        assert_bad_request(&post_with_cookies(&app, &path, &cookies, json!({})).await);
        assert_bad_request(
            &post_with_cookies(&app, &path, &cookies, json!({"code": 123456})).await,
        );
        let reply = Reply::from(
            app.http
                .post(app.api(&path))
                .header("cookie", &cookies)
                .header("origin", &app.origin)
                .header("content-type", "application/json")
                .body("{\"code\": ")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_bad_request(&reply);
        let reply = Reply::from(
            app.http
                .post(app.api(&path))
                .header("cookie", &cookies)
                .header("origin", &app.origin)
                .header("content-type", "text/plain")
                .body("code=123456")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            (400..500).contains(&reply.status) && reply.body["code"].is_string(),
            "{} {}",
            reply.status,
            reply.body
        );
    }
    for path in [
        "/two-factor/enable",
        "/two-factor/disable",
        "/two-factor/generate-backup-codes",
        "/two-factor/get-totp-uri",
    ] {
        assert_bad_request(
            &app.post(path, Auth::Bearer(&account.session), json!({}))
                .await,
        );
        assert_bad_request(
            &app.post(
                path,
                Auth::Bearer(&account.session),
                json!({"password": 42}),
            )
            .await,
        );
    }
    // A string that is no 6-digit code is just a wrong code.
    for malformed in ["12ab56", "1234567"] {
        verify_totp(&app, &challenge, malformed)
            .await
            .assert_error(401, "INVALID_CODE");
    }
    // None of that killed the challenge.
    let code = account.next_code().await;
    assert_completed(&verify_totp(&app, &challenge, &code).await, &app);
}

// ---------------------------------------------------------------------------------------------
// Settings and https.
// ---------------------------------------------------------------------------------------------

async fn settings_set_the_issuer_and_the_lifetimes_of_challenges_and_trust(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("two_factor.issuer", "Acme"),
            ("two_factor.challenge_lifetime", "5m"),
            ("two_factor.trust_device_lifetime", "7d"),
        ],
    )
    .await;
    let mut account = enabled_account(&app).await;
    let reply = get_totp_uri(&app, &account.session, &account.password).await;
    let (label, query) = parse_totp_uri(&reply.body["totpURI"]);
    assert_eq!(label, format!("Acme:{}", account.email));
    assert_eq!(query_param(&query, "issuer").as_deref(), Some("Acme"));

    let reply = browser_sign_in(
        &app,
        json!({"email": account.email, "password": account.password}),
        None,
    )
    .await;
    let challenge = assert_two_factor_redirect(&reply);
    assert_eq!(max_age(&reply.set_cookie(CHALLENGE).unwrap()), Some(300));
    let mfa = mfa_token(&app, &account).await;
    let trusted = trust_this_device(&app, &mut account).await;
    app.clock.advance(Duration::from_secs(7 * 86_400 + 1));

    // Expired: the challenge, the mfa_token and the device trust.
    let code = account.backup_code();
    verify_backup_code(&app, &challenge, &code)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    assert_oauth_error(
        &token(
            &app,
            json!({"grant_type": "mfa_backup_code", "mfa_token": mfa, "code": code}),
        )
        .await,
        400,
        "invalid_grant",
    );
    assert_two_factor_redirect(&sign_in_from_device(&app, &account, &trusted).await);
}

async fn cookies_are_secure_and_prefixed_over_https(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("base_url", "https://auth.example.com")]).await;
    let mut account = enabled_account(&app).await;
    let secure_challenge = format!("__Secure-{CHALLENGE}");
    let secure_trusted = format!("__Secure-{TRUSTED}");
    let reply = browser_sign_in(
        &app,
        json!({"email": account.email, "password": account.password}),
        None,
    )
    .await;
    assert_eq!(reply.body["twoFactorRedirect"], true, "{}", reply.body);
    assert!(
        reply.set_cookie(CHALLENGE).is_none(),
        "only the prefixed name"
    );
    let cookie = reply
        .set_cookie(&secure_challenge)
        .expect("__Secure- prefixed challenge cookie");
    for attribute in [
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/api/auth/two-factor",
    ] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "{attribute} missing: {cookie}"
        );
    }
    let challenge = cookie_value(&cookie);
    let code = account.backup_code();

    // The plain name means nothing over https.
    post_with_cookies(
        &app,
        "/two-factor/verify-backup-code",
        &format!("{CHALLENGE}={challenge}"),
        json!({ "code": code }),
    )
    .await
    .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");

    let reply = post_with_cookies(
        &app,
        "/two-factor/verify-backup-code",
        &format!("{secure_challenge}={challenge}"),
        json!({"code": code, "trustDevice": true}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cleared = reply
        .set_cookie(&secure_challenge)
        .expect("challenge cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let trusted = reply
        .set_cookie(&secure_trusted)
        .expect("__Secure- prefixed trust cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/api/auth"] {
        assert!(
            trusted.split(';').any(|a| a.trim() == attribute),
            "{attribute} missing: {trusted}"
        );
    }
    let reply = Reply::from(
        app.http
            .post(app.api("/sign-in/email"))
            .header("origin", &app.origin)
            .header(
                "cookie",
                format!("{secure_trusted}={}", cookie_value(&trusted)),
            )
            .json(&json!({"email": account.email, "password": account.password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_signed_in(&reply);
}
