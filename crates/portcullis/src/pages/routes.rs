//! The pages' HTTP surface: each page a GET that renders it and a POST for its form, which passes
//! the form checks (`forms.rs`), calls the feature logic and either redirects (303, so a reload
//! never re-sends the form) or shows the form again with the refusal next to its field. Works
//! without JavaScript. Not part of the OpenAPI document: these answer HTML to browsers.

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::forms::{return_to, shown, Problems, Refusal, Visit};
use super::{device, page, see_other};
use crate::accounts::{self, NewAccount, SignedUp};
use crate::audit::{self, Event};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::password_reset;
use crate::rate_limit::{Class, Subject};
use crate::sessions::{self, Authenticated, Ending};
use crate::sign_in::challenge::Refusal as ChallengeRefusal;
use crate::sign_in::credentials;
use crate::sign_in::start::{self, Method, Outcome, SecondFactor, SignIn, Started};
use crate::sign_in::{self, Channel};
use crate::social::{self, Begin};
use crate::state::AppState;
use crate::two_factor::factors::{self, Factor};
use crate::two_factor::manage;
use crate::users::password_policy::Password;
use crate::verification::{self, LinkError};

/// The pages under `ui.path_prefix` (an empty router when `ui.enabled` is off).
pub fn router(state: &AppState) -> Router<AppState> {
    if !state.config.ui.enabled {
        return Router::new();
    }
    let p = |path: &str| state.config.ui.path(path);
    let home = if state.config.ui.path_prefix.is_empty() {
        "/".to_owned()
    } else {
        state.config.ui.path_prefix.clone()
    };
    Router::new()
        .route(&home, get(home_page))
        .route(&p("/sign-in"), get(sign_in_page).post(sign_in_submit))
        .route(&p("/sign-in/social/{provider}"), post(social_submit))
        .route(&p("/sign-up"), get(sign_up_page).post(sign_up_submit))
        .route(&p("/sign-up/password-check"), post(password_check))
        .route(
            &p("/two-factor"),
            get(two_factor_page).post(two_factor_submit),
        )
        .route(&p("/sign-out"), get(sign_out_page).post(sign_out_submit))
        .route(
            &p("/forgot-password"),
            get(forgot_password_page).post(forgot_password_submit),
        )
        .route(
            &p("/reset-password"),
            get(reset_password_page).post(reset_password_submit),
        )
        .route(&p("/verify-email"), get(verify_email_page))
        .route(&p("/error"), get(error_page))
        .route(&p("/account"), get(account_page).post(account_submit))
        .route(
            &p("/account/security"),
            get(security_page).post(security_submit),
        )
        .route(
            &p("/account/sessions"),
            get(sessions_page).post(sessions_submit),
        )
        .route(
            &p("/assets/style.css"),
            get(|State(state): State<AppState>| async move { super::stylesheet(&state) }),
        )
        .route(&p("/assets/pages.js"), get(|| async { super::script() }))
}

/// Every field any page's form may send; each page reads its own.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Fields {
    pub(super) csrf: Option<String>,
    pub(super) action: Option<String>,
    pub(super) name: Option<String>,
    pub(super) email: Option<String>,
    pub(super) image: Option<String>,
    pub(super) password: Option<String>,
    pub(super) current_password: Option<String>,
    pub(super) new_password: Option<String>,
    pub(super) remember_me: Option<String>,
    pub(super) revoke_others: Option<String>,
    pub(super) return_to: Option<String>,
    pub(super) code: Option<String>,
    pub(super) method: Option<String>,
    pub(super) trust_device: Option<String>,
    pub(super) token: Option<String>,
    pub(super) session: Option<String>,
    pub(super) slug: Option<String>,
    pub(super) organization: Option<String>,
    pub(super) invitation: Option<String>,
    pub(super) member: Option<String>,
    pub(super) role: Option<String>,
    pub(super) provider: Option<String>,
    pub(super) account: Option<String>,
}

impl Fields {
    pub(super) fn text(field: &Option<String>) -> &str {
        field.as_deref().unwrap_or_default()
    }

    fn checked(field: &Option<String>) -> bool {
        field.is_some()
    }
}

/// A posted form (`application/x-www-form-urlencoded`); a malformed one is a 400.
pub struct PageForm(pub(super) Fields);

impl FromRequest<AppState> for PageForm {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        Form::<Fields>::from_request(request, state)
            .await
            .map(|Form(fields)| Self(fields))
            .map_err(|e| ApiError::from(ErrorCode::ValidationError).with_message(e.body_text()))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PageQuery {
    return_to: Option<String>,
    token: Option<String>,
    error: Option<String>,
    status: Option<String>,
}

/// Where a signed-in browser goes: `return_to` if it is safe, else the account page.
fn destination(state: &AppState, return_to: Option<&str>) -> String {
    return_to.map_or_else(|| state.config.ui.path("/account"), str::to_owned)
}

/// `path` with `?return_to=` when there is one.
fn with_return_to(state: &AppState, path: &str, return_to: Option<&str>) -> String {
    let path = state.config.ui.path(path);
    match return_to {
        Some(target) => verification::with_query(&path, &[("return_to", target)]),
        None => path,
    }
}

/// The per-IP limit of the API endpoint a form stands for (the same bucket).
pub(super) async fn limit(state: &AppState, visit: &Visit, class: Class) -> ApiResult<()> {
    state
        .limits
        .check(class, Subject::Ip(visit.client.ip))
        .await
}

/// `?return_to=...` for links between the sign-in and sign-up pages.
fn return_query(back: Option<&str>) -> String {
    back.map(|target| verification::with_query("", &[("return_to", target)]))
        .unwrap_or_default()
}

/// The answer to a form refused before it was read.
fn refused(state: &AppState, visit: &mut Visit, refusal: Refusal) -> Response {
    let message = match refusal {
        Refusal::Origin => "form-refused-origin",
        Refusal::Token => "form-refused-token",
    };
    notice(
        state,
        visit,
        StatusCode::FORBIDDEN,
        "form-refused-title",
        message,
        true,
    )
}

/// A page with a title, a message (catalogue keys, shown in the page's language) and a way on.
pub(super) fn notice(
    state: &AppState,
    visit: &mut Visit,
    status: StatusCode,
    title: &str,
    message: &str,
    is_error: bool,
) -> Response {
    let title = state.pages.text(&visit.lang, title);
    let message = state.pages.text(&visit.lang, message);
    let values = json!({ "title": title, "message": message, "is_error": is_error });
    page(state, visit, status, "notice.html", values)
}

/// A form shown again with `error` next to its field (and the values the user typed, passwords
/// never). A server fault is answered as such instead.
pub(super) fn again(
    state: &AppState,
    visit: &mut Visit,
    template: &str,
    error: ApiError,
    new_password_field: &'static str,
    values: serde_json::Value,
) -> ApiResult<Response> {
    let error = shown(error)?;
    let mut values = values;
    values["problems"] = json!(Problems::of(state, &visit.lang, &error, new_password_field));
    let status = if error.status == StatusCode::TOO_MANY_REQUESTS {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(page(state, visit, status, template, values))
}

/// The signed-in session, or a redirect to sign in (and back here afterwards).
pub(super) fn require_session(
    state: &AppState,
    visit: &mut Visit,
    here: &str,
) -> Result<Authenticated, Box<Response>> {
    match &visit.auth {
        Some(auth) => Ok(auth.clone()),
        None => {
            let back = state.config.ui.path(here);
            let to = with_return_to(state, "/sign-in", Some(&back));
            Err(Box::new(see_other(state, visit, &to, [])))
        }
    }
}

/// The session and the form checks of a signed-in page's form, or the answer instead (to sign
/// in, or the refusal).
pub(super) fn signed_in_form(
    state: &AppState,
    visit: &mut Visit,
    here: &str,
    form: &Fields,
) -> Result<Authenticated, Box<Response>> {
    let auth = require_session(state, visit, here)?;
    if let Err(refusal) = visit.check_form(state, form.csrf.as_deref()) {
        return Err(Box::new(refused(state, visit, refusal)));
    }
    Ok(auth)
}

/// A signed-in page that shows the session's user only.
fn signed_in_page(state: &AppState, visit: &mut Visit, here: &str, template: &str) -> Response {
    match require_session(state, visit, here) {
        Ok(_) => page(state, visit, StatusCode::OK, template, json!({})),
        Err(redirect) => *redirect,
    }
}

/// The trusted-device token inside a `Set-Cookie` value from `sign_in::trusted_devices`, moved
/// into the pages' own cookie (the API's is scoped to `/api/auth`).
fn page_trust_cookie(state: &AppState, api_cookie: &HeaderValue) -> Option<HeaderValue> {
    let text = api_cookie.to_str().ok()?;
    let token = text.split(';').next()?.split_once('=')?.1;
    let max_age = text
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Max-Age="))
        .and_then(|age| age.parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    Some(state.pages.trusted_device_cookie.set(token, max_age))
}

/// The cookies of a new session for a page answer.
fn session_cookies(state: &AppState, started: &Started) -> Vec<HeaderValue> {
    let mut cookies = vec![sessions::cookie_for(
        state,
        &started.token,
        &started.session,
    )];
    if let Some(trust) = started
        .trusted_device_cookie
        .as_ref()
        .and_then(|c| page_trust_cookie(state, c))
    {
        cookies.push(trust);
    }
    cookies
}

async fn home_page(State(state): State<AppState>, mut visit: Visit) -> Response {
    let to = if visit.auth.is_some() {
        "/account"
    } else {
        "/sign-in"
    };
    see_other(&state, &mut visit, &state.config.ui.path(to), [])
}

// ---- sign-in -----------------------------------------------------------------------------------

/// One button per configured `[social.<id>]` provider (sorted by id), each a form that posts to
/// `{prefix}/sign-in/social/<id>` with the form token and `return_to`.
fn social_providers(state: &AppState) -> Vec<serde_json::Value> {
    state
        .social
        .provider_ids()
        .into_iter()
        .map(|id| {
            json!({
                "id": id,
                "name": provider_name(id),
                "action": state.config.ui.path(&format!("/sign-in/social/{id}")),
            })
        })
        .collect()
}

/// A provider's name on its button: the brand of a preset, else the id as configured.
fn provider_name(id: &str) -> String {
    match id {
        "google" => "Google".to_owned(),
        "github" => "GitHub".to_owned(),
        "apple" => "Apple".to_owned(),
        _ => {
            let mut chars = id.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

/// A social button: opens the provider's transaction (the same `social::begin` as
/// `/api/auth/sign-in/social`, the same rate limit) and sends the browser to the provider. It
/// comes back through the API's callback to `return_to` (else the account page), through the
/// pages' `/two-factor` step when the user has two-factor, or to the `/error` page with the code.
async fn social_submit(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let back = return_to(&state, form.return_to.as_deref());
    if let Err(refusal) = visit.check_form(&state, form.csrf.as_deref()) {
        return Ok(refused(&state, &mut visit, refusal));
    }
    let begun = async {
        limit(&state, &visit, Class::SignIn).await?;
        let begin = Begin {
            provider_id: provider,
            callback_url: Some(destination(&state, back.as_deref())),
            error_callback_url: Some(state.config.ui.path("/error")),
            two_factor_page: Some(state.config.ui.path("/two-factor")),
            ..Begin::default()
        };
        social::begin(&state, begin).await
    };
    match begun.await {
        Ok(redirect) => Ok(to_provider(&state, &mut visit, &redirect)),
        Err(e) => {
            let values = sign_in_values(&state, "", true, back.as_deref());
            again(&state, &mut visit, "sign_in.html", e, "password", values)
        }
    }
}

/// Sends the browser to the provider with the state cookie that binds the transaction to it.
fn to_provider(state: &AppState, visit: &mut Visit, redirect: &social::Redirect) -> Response {
    let lifetime = std::time::Duration::from_millis(social::TRANSACTION_LIFETIME_MS as u64);
    let cookie = state
        .social
        .state_cookie
        .set(&redirect.browser_token, Some(lifetime));
    see_other(state, visit, &redirect.url, [cookie])
}

fn sign_in_values(
    state: &AppState,
    email: &str,
    remember: bool,
    back: Option<&str>,
) -> serde_json::Value {
    json!({
        "email": email,
        "remember_me": remember,
        "return_to": back,
        "return_query": return_query(back),
        "providers": social_providers(state),
    })
}

async fn sign_in_page(
    State(state): State<AppState>,
    mut visit: Visit,
    Query(query): Query<PageQuery>,
) -> Response {
    let back = return_to(&state, query.return_to.as_deref());
    if visit.auth.is_some() {
        let to = destination(&state, back.as_deref());
        return see_other(&state, &mut visit, &to, []);
    }
    let values = sign_in_values(&state, "", true, back.as_deref());
    page(&state, &mut visit, StatusCode::OK, "sign_in.html", values)
}

async fn sign_in_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let back = return_to(&state, form.return_to.as_deref());
    let email = Fields::text(&form.email);
    let remember = Fields::checked(&form.remember_me);
    let values = sign_in_values(&state, email, remember, back.as_deref());
    if let Err(refusal) = visit.check_form(&state, form.csrf.as_deref()) {
        return Ok(refused(&state, &mut visit, refusal));
    }
    let checked = async {
        limit(&state, &visit, Class::SignIn).await?;
        credentials::check(&state, email, Fields::text(&form.password), &visit.client).await
    };
    let user = match checked.await {
        Ok(user) => user,
        Err(e) => return again(&state, &mut visit, "sign_in.html", e, "password", values),
    };
    let trusted_device = state
        .pages
        .trusted_device_cookie
        .read(&visit.headers)
        .map(str::to_owned);
    let client = &visit.client;
    let outcome =
        start::after_password(&state, user, remember, client, trusted_device.as_deref()).await?;
    match outcome {
        Outcome::Started(started) => {
            let to = destination(&state, back.as_deref());
            Ok(see_other(
                &state,
                &mut visit,
                &to,
                session_cookies(&state, &started),
            ))
        }
        Outcome::SecondFactorRequired(required) => {
            let cookies = sign_in::challenge_cookies(
                &state,
                &required,
                &state.pages.challenge_cookie,
                &state.pages.trusted_device_cookie,
            );
            let to = with_return_to(&state, "/two-factor", back.as_deref());
            Ok(see_other(&state, &mut visit, &to, cookies))
        }
    }
}

// ---- two-factor --------------------------------------------------------------------------------

async fn two_factor_page(
    State(state): State<AppState>,
    mut visit: Visit,
    Query(query): Query<PageQuery>,
) -> Response {
    let back = return_to(&state, query.return_to.as_deref());
    if state.pages.challenge_cookie.read(&visit.headers).is_none() {
        let to = with_return_to(&state, "/sign-in", back.as_deref());
        return see_other(&state, &mut visit, &to, []);
    }
    let values = json!({ "return_to": back, "method": "totp" });
    page(
        &state,
        &mut visit,
        StatusCode::OK,
        "two_factor.html",
        values,
    )
}

async fn two_factor_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let back = return_to(&state, form.return_to.as_deref());
    let backup = Fields::text(&form.method) == "backup";
    let trust = Fields::checked(&form.trust_device);
    let values = json!({
        "return_to": back,
        "method": if backup { "backup" } else { "totp" },
        "trust_device": trust,
    });
    if let Err(refusal) = visit.check_form(&state, form.csrf.as_deref()) {
        return Ok(refused(&state, &mut visit, refusal));
    }
    let Some(token) = state
        .pages
        .challenge_cookie
        .read(&visit.headers)
        .map(str::to_owned)
    else {
        let to = with_return_to(&state, "/sign-in", back.as_deref());
        return Ok(see_other(&state, &mut visit, &to, []));
    };
    if let Err(e) = limit(&state, &visit, Class::TwoFactor).await {
        return again(&state, &mut visit, "two_factor.html", e, "password", values);
    }
    let code = Fields::text(&form.code);
    let factor = if backup {
        Factor::BackupCode(code)
    } else {
        Factor::Totp(code)
    };
    let completed =
        factors::complete_challenge(&state, &token, Channel::Cookie, factor, &visit.client).await;
    let (user, persistent) = match completed {
        Ok(done) => done,
        Err(ChallengeRefusal::WrongCode { last: false }) => {
            let error = manage::wrong_code(factor);
            return again(
                &state,
                &mut visit,
                "two_factor.html",
                error,
                "password",
                values,
            );
        }
        Err(ChallengeRefusal::NotSetUp) => {
            let error = manage::not_set_up(factor);
            return again(
                &state,
                &mut visit,
                "two_factor.html",
                error,
                "password",
                values,
            );
        }
        Err(ChallengeRefusal::NoChallenge | ChallengeRefusal::WrongCode { last: true }) => {
            visit.push_cookie(state.pages.challenge_cookie.clear());
            let mut values = sign_in_values(&state, "", true, back.as_deref());
            values["problems"] = json!(Problems::form(
                state.pages.text(&visit.lang, "challenge-expired")
            ));
            let status = StatusCode::UNAUTHORIZED;
            return Ok(page(&state, &mut visit, status, "sign_in.html", values));
        }
        Err(ChallengeRefusal::Error(e)) => {
            return again(&state, &mut visit, "two_factor.html", e, "password", values)
        }
    };
    let outcome = start::start(
        &state,
        SignIn {
            user,
            method: Method::Password,
            channel: Channel::Cookie,
            persistent,
            client: &visit.client,
            second_factor: SecondFactor::Passed {
                trust_device: trust,
            },
        },
    )
    .await?;
    let Outcome::Started(started) = outcome else {
        return Err(ApiError::internal(
            "a passed second factor asked for another",
        ));
    };
    let mut cookies = session_cookies(&state, &started);
    cookies.push(state.pages.challenge_cookie.clear());
    let to = destination(&state, back.as_deref());
    Ok(see_other(&state, &mut visit, &to, cookies))
}

// ---- sign-up -----------------------------------------------------------------------------------

fn sign_up_values(
    state: &AppState,
    name: &str,
    email: &str,
    back: Option<&str>,
) -> serde_json::Value {
    let policy = &state.config.password;
    json!({
        "name": name,
        "email": email,
        "return_to": back,
        "return_query": return_query(back),
        "min_length": policy.min_length,
        "max_length": policy.max_length,
        "strength_checked": policy.min_strength > 0,
        "providers": social_providers(state),
    })
}

async fn sign_up_page(
    State(state): State<AppState>,
    mut visit: Visit,
    Query(query): Query<PageQuery>,
) -> Response {
    let back = return_to(&state, query.return_to.as_deref());
    let values = sign_up_values(&state, "", "", back.as_deref());
    page(&state, &mut visit, StatusCode::OK, "sign_up.html", values)
}

async fn sign_up_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let back = return_to(&state, form.return_to.as_deref());
    let (name, email) = (Fields::text(&form.name), Fields::text(&form.email));
    let values = sign_up_values(&state, name, email, back.as_deref());
    if let Err(refusal) = visit.check_form(&state, form.csrf.as_deref()) {
        return Ok(refused(&state, &mut visit, refusal));
    }
    let new = NewAccount {
        name,
        email,
        password: Fields::text(&form.password),
        image: None,
        callback: None,
        remember_me: true,
        language: &visit.language,
    };
    let signed_up = async {
        limit(&state, &visit, Class::SignUp).await?;
        accounts::sign_up(&state, &visit.client, new).await
    };
    match signed_up.await {
        Ok(SignedUp::Started(started)) => {
            let to = destination(&state, back.as_deref());
            Ok(see_other(
                &state,
                &mut visit,
                &to,
                session_cookies(&state, &started),
            ))
        }
        Ok(SignedUp::AwaitingVerification(_)) => Ok(notice(
            &state,
            &mut visit,
            StatusCode::OK,
            "check-email-title",
            "check-email-verify",
            false,
        )),
        Err(e) => again(&state, &mut visit, "sign_up.html", e, "password", values),
    }
}

/// The password policy's verdict on a candidate (with the name and email typed so far), for the
/// sign-up page's script to show the reasons before submit: `{"ok": true}` or `{"ok": false,
/// "code", "message"}`, the same as sign-up would answer. Nothing is stored; the form token is
/// required (only this server's page asks) and the calls are rate limited per IP.
async fn password_check(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    if let Err(refusal) = visit.check_form(&state, form.csrf.as_deref()) {
        let error = ApiError::from(ErrorCode::InvalidOrigin);
        return Err(match refusal {
            Refusal::Origin => error,
            Refusal::Token => error.with_message("Missing or wrong form token"),
        });
    }
    limit(&state, &visit, Class::PasswordCheck).await?;
    let email = Fields::text(&form.email).trim().to_lowercase();
    let name = Fields::text(&form.name).trim();
    let verdict = Password::new_for(
        Fields::text(&form.password),
        &state.config.password,
        &[email.as_str(), name],
    );
    let body = match verdict {
        Ok(_) => json!({ "ok": true }),
        Err(e) => json!({ "ok": false, "code": e.code.as_str(), "message": e.message }),
    };
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

// ---- sign-out ----------------------------------------------------------------------------------

async fn sign_out_page(State(state): State<AppState>, mut visit: Visit) -> Response {
    if visit.auth.is_none() {
        let to = state.config.ui.path("/sign-in");
        return see_other(&state, &mut visit, &to, []);
    }
    let values = json!({
        "title": state.pages.text(&visit.lang, "sign-out-title"),
        "message": state.pages.text(&visit.lang, "sign-out-question"),
        "sign_out_form": true,
    });
    page(&state, &mut visit, StatusCode::OK, "notice.html", values)
}

async fn sign_out_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    if let Err(refusal) = visit.check_form(&state, form.csrf.as_deref()) {
        return Ok(refused(&state, &mut visit, refusal));
    }
    if let Some(auth) = visit.auth.take() {
        sessions::end(&state, Ending::Id(&auth.session.id)).await?;
        let (user, session) = (Some(auth.user.id.as_str()), Some(auth.session.id.as_str()));
        audit::record(&state, Event::SignOut, user, session, &visit.client).await;
    }
    visit.push_cookie(state.session_cookie.clear());
    let to = state.config.ui.path("/sign-in");
    Ok(see_other(&state, &mut visit, &to, []))
}

// ---- password reset ----------------------------------------------------------------------------

async fn forgot_password_page(State(state): State<AppState>, mut visit: Visit) -> Response {
    page(
        &state,
        &mut visit,
        StatusCode::OK,
        "forgot_password.html",
        json!({ "email": "" }),
    )
}

async fn forgot_password_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let email = Fields::text(&form.email);
    let values = json!({ "email": email });
    if let Err(refusal) = visit.check_form(&state, form.csrf.as_deref()) {
        return Ok(refused(&state, &mut visit, refusal));
    }
    let requested = async {
        limit(&state, &visit, Class::PasswordReset).await?;
        password_reset::request(&state, email, None, &visit.language).await
    };
    match requested.await {
        Ok(()) => Ok(notice(
            &state,
            &mut visit,
            StatusCode::OK,
            "check-email-title",
            "check-email-reset",
            false,
        )),
        Err(e) => again(
            &state,
            &mut visit,
            "forgot_password.html",
            e,
            "password",
            values,
        ),
    }
}

async fn reset_password_page(
    State(state): State<AppState>,
    mut visit: Visit,
    Query(query): Query<PageQuery>,
) -> Response {
    match (query.token, query.error) {
        (Some(token), None) if !token.is_empty() => page(
            &state,
            &mut visit,
            StatusCode::OK,
            "reset_password.html",
            json!({ "token": token }),
        ),
        _ => notice(
            &state,
            &mut visit,
            StatusCode::BAD_REQUEST,
            "link-invalid-title",
            "reset-link-invalid",
            true,
        ),
    }
}

async fn reset_password_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let token = Fields::text(&form.token);
    let values = json!({ "token": token });
    if let Err(refusal) = visit.check_form(&state, form.csrf.as_deref()) {
        return Ok(refused(&state, &mut visit, refusal));
    }
    let completed = async {
        limit(&state, &visit, Class::PasswordReset).await?;
        password_reset::complete(
            &state,
            token,
            Fields::text(&form.new_password),
            &visit.client,
            &visit.language,
        )
        .await
    };
    match completed.await {
        Ok(()) => Ok(notice(
            &state,
            &mut visit,
            StatusCode::OK,
            "password-changed-title",
            "password-changed-reset",
            false,
        )),
        Err(e) => again(
            &state,
            &mut visit,
            "reset_password.html",
            e,
            "new_password",
            values,
        ),
    }
}

// ---- verification and errors -------------------------------------------------------------------

async fn verify_email_page(
    State(state): State<AppState>,
    mut visit: Visit,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    // The mailed link goes through `/api/auth/verify-email`, which comes back here with
    // `status=verified` or `error=<code>`; a link with the token itself is applied here.
    let outcome = match (query.token.as_deref(), query.error.as_deref()) {
        (_, Some(code)) if code == ErrorCode::TokenExpired.as_str() => Err(LinkError::Expired),
        (_, Some(_)) => Err(LinkError::Invalid),
        (Some(token), None) if !token.is_empty() => verification::apply_verification(&state, token)
            .await?
            .map(|_| ()),
        _ if query.status.as_deref() == Some("verified") => Ok(()),
        _ => Err(LinkError::Invalid),
    };
    Ok(match outcome {
        Ok(_) => notice(
            &state,
            &mut visit,
            StatusCode::OK,
            "email-verified-title",
            "email-verified-message",
            false,
        ),
        Err(LinkError::Expired) => notice(
            &state,
            &mut visit,
            StatusCode::BAD_REQUEST,
            "link-expired-title",
            "verify-link-expired",
            true,
        ),
        Err(LinkError::Invalid) => notice(
            &state,
            &mut visit,
            StatusCode::BAD_REQUEST,
            "link-invalid-title",
            "verify-link-invalid",
            true,
        ),
    })
}

async fn error_page(
    State(state): State<AppState>,
    mut visit: Visit,
    Query(query): Query<PageQuery>,
) -> Response {
    let code = query.error.unwrap_or_default();
    // Social sign-in lands here with its own codes (`access_denied`, `state_mismatch`, ...),
    // each worded in the catalogue as `error-social-<code>`.
    let social_key = format!("error-social-{code}");
    let is_social = !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && state
            .catalogues
            .message(&visit.lang, &social_key, None)
            .is_some();
    // Else the code's message from the catalogue, else its English text (a key `notice` does not
    // find is shown as it is), else a generic one.
    let message = if is_social {
        social_key
    } else {
        ErrorCode::ALL
            .iter()
            .find(|c| c.as_str() == code)
            .map_or_else(
                || "error-generic".to_owned(),
                |c| {
                    let key = format!("error-{}", c.as_str());
                    match state.catalogues.message(&visit.lang, &key, None) {
                        Some(_) => key,
                        None => c.message().to_owned(),
                    }
                },
            )
    };
    notice(
        &state,
        &mut visit,
        StatusCode::BAD_REQUEST,
        "error-title",
        &message,
        true,
    )
}

// ---- account -----------------------------------------------------------------------------------

async fn account_page(State(state): State<AppState>, mut visit: Visit) -> Response {
    signed_in_page(&state, &mut visit, "/account", "account.html")
}

async fn account_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let auth = match signed_in_form(&state, &mut visit, "/account", &form) {
        Ok(auth) => auth,
        Err(answer) => return Ok(*answer),
    };
    let values =
        json!({ "form_name": form.name, "form_image": form.image, "new_email": form.email });
    match Fields::text(&form.action) {
        "profile" => {
            let image = Fields::text(&form.image).trim();
            let image = Some((!image.is_empty()).then_some(image));
            let name = Some(Fields::text(&form.name));
            if let Err(e) = accounts::update_profile(&state, &auth.user.id, name, image).await {
                return again(&state, &mut visit, "account.html", e, "password", values);
            }
            let to = state.config.ui.path("/account");
            Ok(see_other(&state, &mut visit, &to, []))
        }
        "email" if auth.session.impersonated_by.is_some() => {
            let refused = ApiError::from(ErrorCode::ImpersonationRestricted);
            again(
                &state,
                &mut visit,
                "account.html",
                refused,
                "password",
                values,
            )
        }
        "email" => {
            let email = Fields::text(&form.email);
            let changed = verification::change_email(&state, &auth, email, None, &visit.language);
            if let Err(e) = changed.await {
                return again(&state, &mut visit, "account.html", e, "password", values);
            }
            Ok(notice(
                &state,
                &mut visit,
                StatusCode::OK,
                "check-new-inbox-title",
                "check-new-inbox",
                false,
            ))
        }
        "verify" => {
            let sent = async {
                limit(&state, &visit, Class::VerificationMail).await?;
                let (email, user) = (&auth.user.email, Some(&auth.user));
                verification::request_verification(&state, email, user, None, &visit.language).await
            };
            if let Err(e) = sent.await {
                return again(&state, &mut visit, "account.html", e, "password", values);
            }
            Ok(notice(
                &state,
                &mut visit,
                StatusCode::OK,
                "check-email-title",
                "check-email-resent",
                false,
            ))
        }
        _ => Ok(unknown_action(&state, &mut visit)),
    }
}

pub(super) fn unknown_action(state: &AppState, visit: &mut Visit) -> Response {
    notice(
        state,
        visit,
        StatusCode::BAD_REQUEST,
        "unknown-action-title",
        "unknown-action",
        true,
    )
}

// ---- security ----------------------------------------------------------------------------------

#[derive(Serialize, Default)]
struct Enrolling {
    qr_svg: String,
    secret: String,
    backup_codes: Vec<String>,
}

/// The user's provider accounts (`social::list_accounts` without the password) with an Unlink
/// form each, and a Link button per configured provider not linked yet.
async fn linked_accounts(state: &AppState, auth: &Authenticated) -> ApiResult<serde_json::Value> {
    let accounts = social::list_accounts(state, &auth.user).await?;
    let linked: Vec<_> = accounts
        .iter()
        .filter(|a| a.provider_id != "credential")
        .map(|a| json!({ "id": a.id, "name": provider_name(&a.provider_id) }))
        .collect();
    let unlinked: Vec<_> = state
        .social
        .provider_ids()
        .into_iter()
        .filter(|id| !accounts.iter().any(|a| a.provider_id == *id))
        .map(|id| json!({ "id": id, "name": provider_name(id) }))
        .collect();
    Ok(json!({ "linked": linked, "unlinked": unlinked }))
}

/// `values` with the linked accounts added (every rendering of the security page shows them).
async fn security_values(
    state: &AppState,
    auth: &Authenticated,
    mut values: serde_json::Value,
) -> ApiResult<serde_json::Value> {
    values["social"] = linked_accounts(state, auth).await?;
    Ok(values)
}

async fn security_page(State(state): State<AppState>, mut visit: Visit) -> ApiResult<Response> {
    let auth = match require_session(&state, &mut visit, "/account/security") {
        Ok(auth) => auth,
        Err(redirect) => return Ok(*redirect),
    };
    let values = security_values(&state, &auth, json!({})).await?;
    Ok(page(
        &state,
        &mut visit,
        StatusCode::OK,
        "account_security.html",
        values,
    ))
}

async fn security_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let auth = match signed_in_form(&state, &mut visit, "/account/security", &form) {
        Ok(auth) => auth,
        Err(answer) => return Ok(*answer),
    };
    let template = "account_security.html";
    let action = Fields::text(&form.action);
    let values = security_values(&state, &auth, json!({ "action": action })).await?;
    // As on the API (OwnSession): an administrator acting as the user changes no credential.
    if auth.session.impersonated_by.is_some() {
        let refused = ApiError::from(ErrorCode::ImpersonationRestricted);
        return again(&state, &mut visit, template, refused, "password", values);
    }
    let password = form.current_password.as_deref();
    let revoke_others = Fields::checked(&form.revoke_others);
    let client = visit.client.clone();
    let here = state.config.ui.path("/account/security");
    match action {
        "password" => {
            let new = Fields::text(&form.new_password);
            let current = password.unwrap_or_default();
            match accounts::change_password(&state, &client, &auth, current, new, revoke_others)
                .await
            {
                Ok(fresh) => {
                    if let Some((token, session)) = fresh {
                        visit.push_cookie(sessions::cookie_for(&state, &token, &session));
                        visit.signed_in_as(None);
                    }
                    Ok(notice(
                        &state,
                        &mut visit,
                        StatusCode::OK,
                        "password-changed-title",
                        "password-changed",
                        false,
                    ))
                }
                Err(e) => again(&state, &mut visit, template, e, "new_password", values),
            }
        }
        "enable" => match manage::enable(&state, &client, &auth, password, None, false).await {
            Ok(enrolment) => {
                let secret = url::Url::parse(&enrolment.uri)
                    .ok()
                    .and_then(|u| {
                        u.query_pairs()
                            .find(|(k, _)| k == "secret")
                            .map(|(_, v)| v.into_owned())
                    })
                    .unwrap_or_default();
                let enrolling = Enrolling {
                    qr_svg: strip_xml_declaration(&enrolment.qr_svg),
                    secret,
                    backup_codes: enrolment.backup_codes,
                };
                let values = json!({ "enrolling": enrolling, "social": values["social"] });
                Ok(page(&state, &mut visit, StatusCode::OK, template, values))
            }
            Err(e) => again(&state, &mut visit, template, e, "new_password", values),
        },
        "confirm" => {
            let factor = Factor::Totp(Fields::text(&form.code));
            match manage::confirm(&state, &client, &auth, factor).await {
                Ok(_) => Ok(see_other(&state, &mut visit, &here, [])),
                Err(e) => {
                    let mut values = values;
                    values["confirming"] = json!(true);
                    again(&state, &mut visit, template, e, "new_password", values)
                }
            }
        }
        "regenerate" => {
            match manage::regenerate_backup_codes(&state, &client, &auth, password, false).await {
                Ok(codes) => {
                    let values = json!({ "new_backup_codes": codes, "social": values["social"] });
                    Ok(page(&state, &mut visit, StatusCode::OK, template, values))
                }
                Err(e) => again(&state, &mut visit, template, e, "new_password", values),
            }
        }
        "disable" => match manage::disable(&state, &client, &auth, password, false).await {
            Ok(()) => {
                visit.push_cookie(state.pages.trusted_device_cookie.clear());
                Ok(see_other(&state, &mut visit, &here, []))
            }
            Err(e) => again(&state, &mut visit, template, e, "new_password", values),
        },
        // As `/link-social`: the provider's callback links its account to this user and comes
        // back here (or to the error page with the code).
        "link" => {
            let begun = async {
                limit(&state, &visit, Class::General).await?;
                let begin = Begin {
                    provider_id: Fields::text(&form.provider).to_owned(),
                    callback_url: Some(here.clone()),
                    error_callback_url: Some(state.config.ui.path("/error")),
                    link_user_id: Some(auth.user.id.clone()),
                    ..Begin::default()
                };
                social::begin(&state, begin).await
            };
            match begun.await {
                Ok(redirect) => Ok(to_provider(&state, &mut visit, &redirect)),
                Err(e) => again(&state, &mut visit, template, e, "new_password", values),
            }
        }
        // As `/unlink-account`: a recent sign-in, and never the last way to sign in.
        "unlink" => {
            let unlinked = async {
                sessions::require_fresh(&state, &auth.session)?;
                social::unlink(&state, &auth.user, Fields::text(&form.account), &client).await
            };
            match unlinked.await {
                Ok(()) => Ok(see_other(&state, &mut visit, &here, [])),
                Err(e) => again(&state, &mut visit, template, e, "new_password", values),
            }
        }
        _ => Ok(unknown_action(&state, &mut visit)),
    }
}

/// The QR code's SVG, embedded in the page as markup (it holds only shapes, made here).
fn strip_xml_declaration(svg: &str) -> String {
    match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => String::new(),
    }
}

// ---- sessions ----------------------------------------------------------------------------------

#[derive(Serialize)]
struct SessionRow {
    id: String,
    device: String,
    ip: Option<String>,
    created: String,
    last_active: String,
    current: bool,
}

fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

async fn sessions_page(State(state): State<AppState>, mut visit: Visit) -> ApiResult<Response> {
    let auth = match require_session(&state, &mut visit, "/account/sessions") {
        Ok(auth) => auth,
        Err(redirect) => return Ok(*redirect),
    };
    let rows: Vec<SessionRow> = sessions::list(&state, &auth.user.id)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            current: s.id == auth.session.id,
            device: device::recognise(s.user_agent.as_deref()).name(&state.catalogues, &visit.lang),
            ip: s.ip_address.clone(),
            created: when(s.created_at),
            last_active: when(s.last_active_at),
            id: s.id,
        })
        .collect();
    let values = json!({ "sessions": rows });
    Ok(page(
        &state,
        &mut visit,
        StatusCode::OK,
        "account_sessions.html",
        values,
    ))
}

async fn sessions_submit(
    State(state): State<AppState>,
    mut visit: Visit,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    let auth = match signed_in_form(&state, &mut visit, "/account/sessions", &form) {
        Ok(auth) => auth,
        Err(answer) => return Ok(*answer),
    };
    let client = visit.client.clone();
    match Fields::text(&form.action) {
        "revoke" => {
            let id = Fields::text(&form.session);
            let ended = sessions::revoke_own(&state, &client, &auth, id).await?;
            if ended.contains(&auth.session.id) {
                visit.push_cookie(state.session_cookie.clear());
                let to = state.config.ui.path("/sign-in");
                return Ok(see_other(&state, &mut visit, &to, []));
            }
        }
        "revoke_others" => sessions::revoke_others(&state, &client, &auth).await?,
        _ => return Ok(unknown_action(&state, &mut visit)),
    }
    let to = state.config.ui.path("/account/sessions");
    Ok(see_other(&state, &mut visit, &to, []))
}
