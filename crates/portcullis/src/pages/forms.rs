//! What every page request carries (`Visit`: the client, the signed-in session if any, the nonce,
//! the form-token binding) and the checks every form passes: a same-origin check and a per-session
//! form token (CSRF); `return_to` targets; refusals shown next to their field.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::header::{self, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use serde::Serialize;

use crate::crypto::tokens::random_secret;
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::redirect::check_callback;
use crate::i18n::Requested;
use crate::sessions::{self, Authenticated, Via};
use crate::state::AppState;

/// One request to a page.
pub struct Visit {
    pub client: ClientInfo,
    /// The live session of the session cookie (pages read no `Authorization` header).
    pub auth: Option<Authenticated>,
    pub headers: HeaderMap,
    /// This answer's CSP nonce.
    pub nonce: String,
    /// The page's language: `?lang=`, then `Accept-Language`, then the default.
    pub lang: String,
    /// What the request said about its language, for the mails a form sends.
    pub language: Requested,
    session_token: Option<String>,
    visitor: Option<String>,
    /// A visitor value made for this answer, to be set as a cookie.
    new_visitor: bool,
    /// Cookies the answer must set besides its own (a slid session, a dead one cleared).
    cookies: Vec<HeaderValue>,
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = ClientInfo::from_request_parts(parts, state).await?;
        let headers = parts.headers.clone();
        let mut cookies = Vec::new();
        let session_token = state.session_cookie.read(&headers).map(str::to_owned);
        let auth = match &session_token {
            Some(token) => sessions::authenticate(state, token, Via::Cookie).await?,
            None => None,
        };
        match (&auth, &session_token) {
            (Some(auth), Some(token)) if auth.extended => {
                cookies.push(sessions::cookie_for(state, token, &auth.session));
            }
            (None, Some(_)) => cookies.push(state.session_cookie.clear()),
            _ => {}
        }
        let visitor = state
            .pages
            .visitor_cookie
            .read(&headers)
            .filter(|v| v.len() <= 64)
            .map(str::to_owned);
        let language = Requested::of(&parts.uri, &headers);
        let lang = language.choose(&state.catalogues);
        Ok(Self {
            client,
            auth,
            headers,
            lang,
            language,
            nonce: random_secret(),
            session_token,
            visitor,
            new_visitor: false,
            cookies,
        })
    }
}

impl Visit {
    /// The value form tokens are bound to: the session, or for a visitor without one the
    /// visitor cookie (made now if missing).
    fn binding(&mut self) -> String {
        if let Some(auth) = &self.auth {
            return format!("session:{}", auth.session.id);
        }
        if self.visitor.is_none() {
            self.visitor = Some(random_secret());
            self.new_visitor = true;
        }
        format!("visitor:{}", self.visitor.as_deref().unwrap_or_default())
    }

    /// The form token of this visit's forms.
    pub fn form_token(&mut self, state: &AppState) -> String {
        let binding = self.binding();
        URL_SAFE_NO_PAD.encode(hmac::sign(&state.pages.form_key, binding.as_bytes()))
    }

    /// A POSTed form is accepted only from this server's own pages: its origin is the base URL's
    /// and its form token matches this session (or visitor). Answers the refusal page otherwise.
    pub fn check_form(&mut self, state: &AppState, token: Option<&str>) -> Result<(), Refusal> {
        if !same_origin(state, &self.headers) {
            return Err(Refusal::Origin);
        }
        if self.auth.is_none() && self.visitor.is_none() {
            return Err(Refusal::Token);
        }
        let binding = self.binding();
        let presented = token
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .unwrap_or_default();
        hmac::verify(&state.pages.form_key, binding.as_bytes(), &presented)
            .map_err(|_| Refusal::Token)
    }

    /// Signing in or out changes what forms are bound to: the next page binds to the new state.
    pub fn signed_in_as(&mut self, auth: Option<Authenticated>) {
        self.auth = auth;
    }

    /// The session cookie's token, if the request had one.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    pub fn push_cookie(&mut self, cookie: HeaderValue) {
        self.cookies.push(cookie);
    }

    pub(super) fn add_cookies(&mut self, state: &AppState, headers: &mut HeaderMap) {
        if self.new_visitor {
            if let Some(visitor) = &self.visitor {
                headers.append(SET_COOKIE, state.pages.visitor_cookie.set(visitor, None));
            }
            self.new_visitor = false;
        }
        for cookie in self.cookies.drain(..) {
            headers.append(SET_COOKIE, cookie);
        }
    }
}

/// Why a form was refused before it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Sent from another site (or with no sign of where it came from).
    Origin,
    /// No or a wrong form token: an old page, another session, or a forgery.
    Token,
}

/// Browsers send `Origin` with every form POST; `Sec-Fetch-Site` and `Referer` are the fallbacks
/// (the pages send `Referrer-Policy: no-referrer`, so a Referer is rare). Nothing at all: refused.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = text(header::ORIGIN.as_str()).filter(|o| *o != "null") {
        return origin == state.config.base_origin();
    }
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin";
    }
    text(header::REFERER.as_str())
        .and_then(|r| url::Url::parse(r).ok())
        .is_some_and(|r| r.origin().ascii_serialization() == state.config.base_origin())
}

/// `return_to` if it is a relative path or on a trusted origin; otherwise nothing (the caller
/// falls back to the account page). Never an error page: a bad link still signs the user in.
pub fn return_to(state: &AppState, raw: Option<&str>) -> Option<String> {
    let raw = raw.filter(|r| !r.is_empty() && r.len() <= 2048)?;
    check_callback(state, raw, ErrorCode::InvalidCallbackUrl)
        .ok()
        .map(|()| raw.to_owned())
}

/// Refusals to show: each next to its field, or for the whole form.
#[derive(Debug, Default, Serialize)]
pub struct Problems {
    /// Field name → message.
    pub fields: BTreeMap<&'static str, String>,
    /// A message for the whole form.
    pub form: Option<String>,
    /// The API's error code of the refusal (the same as the endpoint the form stands for).
    pub code: Option<&'static str>,
}

impl Problems {
    pub fn form(message: impl Into<String>) -> Self {
        Self {
            form: Some(message.into()),
            ..Self::default()
        }
    }

    pub fn field(name: &'static str, message: impl Into<String>) -> Self {
        let mut problems = Self::default();
        problems.fields.insert(name, message.into());
        problems
    }

    /// Places an error from the feature logic next to the field it is about, in the page's
    /// language. `new_password` names the field of a new password on this form.
    pub fn of(
        state: &AppState,
        language: &str,
        error: &ApiError,
        new_password: &'static str,
    ) -> Self {
        let message = shown_message(state, language, error);
        let field = match error.code {
            ErrorCode::InvalidEmail
            | ErrorCode::UserAlreadyExistsUseAnotherEmail
            | ErrorCode::EmailIsTheSame => Some("email"),
            ErrorCode::InvalidName => Some("name"),
            ErrorCode::InvalidImage => Some("image"),
            ErrorCode::PasswordTooShort | ErrorCode::PasswordTooWeak => Some(new_password),
            ErrorCode::PasswordTooLong if new_password != "password" => Some(new_password),
            ErrorCode::InvalidPassword | ErrorCode::CredentialAccountNotFound => {
                Some("current_password")
            }
            ErrorCode::InvalidCode
            | ErrorCode::InvalidBackupCode
            | ErrorCode::TotpNotEnabled
            | ErrorCode::BackupCodesNotEnabled => Some("code"),
            _ => None,
        };
        let mut problems = match field {
            Some(name) => Self::field(name, message),
            None => Self::form(message),
        };
        problems.code = Some(error.code.as_str());
        problems
    }
}

/// An error's message in `language`: the catalogue's `error-<CODE>` when the error carries its
/// code's standard message (or a password length, whose limits the catalogue is given), else
/// the server's own text, which is more precise (a password's weakness, a provider's reason).
pub fn shown_message(state: &AppState, language: &str, error: &ApiError) -> String {
    let code = error.code;
    let standard = error.message == code.message()
        || matches!(
            code,
            ErrorCode::PasswordTooShort | ErrorCode::PasswordTooLong
        );
    if !standard {
        return error.message.to_string();
    }
    let mut args = fluent_bundle::FluentArgs::new();
    args.set("min", state.config.password.min_length as i64);
    args.set("max", state.config.password.max_length as i64);
    state
        .catalogues
        .message(language, &format!("error-{}", code.as_str()), Some(&args))
        .unwrap_or_else(|| error.message.to_string())
}

/// Errors a form shows to its user (4xx); a server fault (5xx) is not shown but answered as such
/// (and logged once with its cause).
pub fn shown(error: ApiError) -> Result<ApiError, ApiError> {
    if error.status.is_server_error() {
        Err(error)
    } else {
        Ok(error)
    }
}
