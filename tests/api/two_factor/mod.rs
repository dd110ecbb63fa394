//! Two-factor authentication (docs/two-factor.md): TOTP and backup codes under `/two-factor/`,
//! the second step of password sign-ins and of the token endpoint, trusted devices, limits, audit.
//!
//! TOTP codes are computed here, independently of the server, with RFC 6238 (checked against the
//! RFC's own vectors). A code is accepted once per 30-second step and only later steps afterwards,
//! so one account completes at most three checks (steps s−1, s, s+1) in one step: every scenario
//! uses fresh accounts, activates two-factor with the s−1 code, and `next_code` hands out the next
//! usable step, moving the server's clock to the next step when it must (no test waits for time).
//!
//! This file holds the RFC 6238 generator and the helpers every flow shares; the tests sit in one
//! file per flow (`enrolment`, `sign_in`, `codes`, `backup_codes`, `trusted_devices`,
//! `token_mode`, `input_and_settings`).

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::{AssertSqlSafe, Row};

use crate::both_backends;
use crate::helpers::{cookie_name, strong_password, Auth, Backend, Reply, TestApp};
use crate::smtp_sink::{link_in, reset_token_of, SmtpSink};
use portcullis::ManualClock;

mod backup_codes;
mod codes;
mod enrolment;
mod input_and_settings;
mod sign_in;
mod token_mode;
mod trusted_devices;

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

/// Many failures on one account without the account throttle getting in the way.
const LENIENT_THROTTLE: [(&str, &str); 1] = [("throttle.free_failures", "60")];

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

async fn user_session(app: &TestApp, token: &str) -> Value {
    app.get("/get-session", Auth::Bearer(token)).await.body["session"].clone()
}
