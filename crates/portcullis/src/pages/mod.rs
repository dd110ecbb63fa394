//! Hosted pages: sign-in, sign-up, two-factor, password reset, email verification and the account
//! portal, server-rendered from templates (minijinja, HTML autoescaping) that ship in the binary
//! and can be overridden from `ui.templates_dir`.
//!
//! The pages are a front end of the features to their left: every form calls the same logic the
//! API calls (`sign_in::credentials::check`, `sign_in::start::start`, `accounts::sign_up`, ...),
//! so rate limits, throttling, audit events and error codes are shared; never an HTTP call to the
//! server itself. Safety (`forms.rs`): every POST passes a same-origin check and a per-session
//! form token (CSRF), every answer carries a strict Content-Security-Policy with a fresh nonce
//! and `frame-ancestors 'none'`, and `return_to` is a relative path or a trusted origin only.

pub mod device;
pub mod forms;
pub mod organizations;
pub mod routes;
pub mod settings;

use std::path::Path;
use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{Environment, Value};
use ring::hmac;
use serde::Serialize;

use crate::config::Config;
use crate::crypto::keys::{MasterKey, Purpose};
use crate::error::ApiError;
use crate::http::cookies::CredentialCookie;
use crate::i18n::Catalogues;
use crate::state::AppState;

pub use forms::Visit;

/// Every page's route (each file's own; `ui.enabled` off: none).
pub fn router(state: &AppState) -> axum::Router<AppState> {
    routes::router(state).merge(organizations::router(state))
}

/// Every template, by file name: built in, each overridable by a file of the same name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("sign_up.html", include_str!("templates/sign_up.html")),
    ("two_factor.html", include_str!("templates/two_factor.html")),
    (
        "forgot_password.html",
        include_str!("templates/forgot_password.html"),
    ),
    (
        "reset_password.html",
        include_str!("templates/reset_password.html"),
    ),
    ("notice.html", include_str!("templates/notice.html")),
    ("account.html", include_str!("templates/account.html")),
    (
        "account_security.html",
        include_str!("templates/account_security.html"),
    ),
    (
        "account_sessions.html",
        include_str!("templates/account_sessions.html"),
    ),
    (
        "account_organizations.html",
        include_str!("templates/account_organizations.html"),
    ),
    ("invitation.html", include_str!("templates/invitation.html")),
];

const STYLESHEET: &str = include_str!("templates/style.css");
/// Progressive enhancement only (show a password, copy backup codes): every page works without.
const SCRIPT: &str = include_str!("templates/pages.js");

/// The pages' handles: templates, assets, the form-token key and the pages' own cookies.
pub struct Pages {
    env: Environment<'static>,
    catalogues: Arc<Catalogues>,
    stylesheet: String,
    form_key: hmac::Key,
    /// Binds form tokens of visitors who are not signed in (a random value, nothing else).
    pub visitor_cookie: CredentialCookie,
    /// The sign-in challenge between the password and the second factor.
    pub challenge_cookie: CredentialCookie,
    /// This browser skips the second factor (the token `sign_in::trusted_devices` issues).
    pub trusted_device_cookie: CredentialCookie,
}

impl Pages {
    /// Loads the templates (files in `ui.templates_dir` win); a broken override stops start-up.
    /// Their text comes from the catalogues: `t("key")` in the page's `lang`.
    pub fn load(
        config: &Config,
        master: &MasterKey,
        catalogues: Arc<Catalogues>,
    ) -> anyhow::Result<Self> {
        let dir = config.ui.templates_dir.as_deref();
        let mut env = Environment::new();
        crate::i18n::add_function(&mut env, Arc::clone(&catalogues));
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, built_in) in TEMPLATES {
            let source = read_override(dir, name)?.unwrap_or_else(|| (*built_in).to_owned());
            env.add_template_owned(*name, source)
                .map_err(|e| anyhow::anyhow!("ui.templates_dir: template {name}: {e}"))?;
        }
        let stylesheet = read_override(dir, "style.css")?.unwrap_or_else(|| STYLESHEET.to_owned());
        Ok(Self {
            env,
            catalogues,
            stylesheet,
            form_key: master.mac_key(Purpose::PageForms),
            visitor_cookie: CredentialCookie::page(config, "pages_visitor"),
            challenge_cookie: CredentialCookie::page(config, "pages_two_factor"),
            trusted_device_cookie: CredentialCookie::page(config, "pages_trusted_device"),
        })
    }

    /// The message `key` in `language` (text the routes put on a page: notices, errors).
    pub fn text(&self, language: &str, key: &str) -> String {
        self.catalogues.text(language, key, None)
    }

    fn render(&self, name: &str, context: Value) -> Result<String, ApiError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| ApiError::internal(format!("pages: render {name}: {e:#}")))
    }
}

fn read_override(dir: Option<&Path>, name: &str) -> anyhow::Result<Option<String>> {
    let Some(path) = dir.map(|d| d.join(name)).filter(|p| p.exists()) else {
        return Ok(None);
    };
    std::fs::read_to_string(&path)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("ui.templates_dir: cannot read {}: {e}", path.display()))
}

/// What every page's template may use besides its own values.
#[derive(Serialize)]
struct Common<'a> {
    product: &'a str,
    /// The page's language (`<html lang>`, and what `t()` looks messages up in).
    lang: &'a str,
    /// Prefix of every page path (`""` or `/auth`).
    prefix: &'a str,
    nonce: &'a str,
    csrf: &'a str,
    /// The signed-in user's name and email, if any.
    user: Option<UserView<'a>>,
    /// The account portal's navigation, when signed in.
    nav: Vec<NavLink>,
    /// Theming settings (`ui.logo_url`, `ui.primary_color`, `ui.stylesheet_url`).
    logo_url: Option<&'a str>,
    primary_color: Option<&'a str>,
    stylesheet_url: Option<&'a str>,
}

/// A page of the account portal's navigation.
#[derive(Serialize)]
pub struct NavLink {
    /// The page's path under the prefix (`/account/security`).
    pub path: &'static str,
    /// The catalogue key of its name.
    pub label: &'static str,
}

/// The account portal's pages, in the order the navigation shows them. Extension point: a
/// feature with pages of its own adds its entry here, its routes in `routes.rs`.
pub fn account_nav(_state: &AppState) -> Vec<NavLink> {
    vec![
        NavLink {
            path: "/account",
            label: "nav-profile",
        },
        NavLink {
            path: "/account/security",
            label: "nav-security",
        },
        NavLink {
            path: "/account/sessions",
            label: "nav-sessions",
        },
        NavLink {
            path: "/account/organizations",
            label: "nav-organizations",
        },
    ]
}

#[derive(Serialize)]
struct UserView<'a> {
    name: &'a str,
    email: &'a str,
    image: Option<&'a str>,
    email_verified: bool,
    two_factor_enabled: bool,
}

/// The policy of every page: nothing from elsewhere, scripts and styles only from this server
/// with this answer's nonce, forms only to this server (and the trusted origins a sign-in may
/// return to, and the social providers' sign-in pages a social button is redirected to), never
/// framed.
fn content_security_policy(state: &AppState, nonce: &str) -> String {
    let mut form_action = String::from("'self'");
    let providers = state.social.authorization_origins();
    for origin in state.trusted_origins.iter().chain(providers.iter()) {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    let ui = &state.config.ui;
    let origin_of = |url: &Option<url::Url>| {
        url.as_ref()
            .map(|u| format!(" {}", u.origin().ascii_serialization()))
            .unwrap_or_default()
    };
    let (styles, logo) = (origin_of(&ui.stylesheet_url), origin_of(&ui.logo_url));
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'{styles}; \
         img-src 'self' https: data:{logo}; form-action {form_action}; frame-ancestors 'none'; \
         base-uri 'none'; connect-src 'self'"
    )
}

/// A rendered page with its headers. `status` is 200 for a page, 4xx for a refused form.
pub fn page(
    state: &AppState,
    visit: &mut Visit,
    status: StatusCode,
    template: &str,
    values: impl Serialize,
) -> Response {
    let csrf = visit.form_token(state);
    let user = visit.auth.as_ref().map(|auth| UserView {
        name: &auth.user.name,
        email: &auth.user.email,
        image: auth.user.image.as_deref(),
        email_verified: auth.user.email_verified,
        two_factor_enabled: auth.user.two_factor_enabled,
    });
    let common = Common {
        product: &state.config.mail.product_name,
        lang: &visit.lang,
        prefix: &state.config.ui.path_prefix,
        nonce: &visit.nonce,
        csrf: &csrf,
        nav: if user.is_some() {
            account_nav(state)
        } else {
            Vec::new()
        },
        user,
        logo_url: state.config.ui.logo_url.as_ref().map(url::Url::as_str),
        primary_color: state.config.ui.primary_color.as_deref(),
        stylesheet_url: state
            .config
            .ui
            .stylesheet_url
            .as_ref()
            .map(url::Url::as_str),
    };
    let context = minijinja::context! {
        ..Value::from(Serde(&common)),
        ..Value::from(Serde(&values))
    };
    let html = match state.pages.render(template, context) {
        Ok(html) => html,
        Err(e) => return e.into_response(),
    };
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(state, &visit.nonce)) {
        headers.insert(CONTENT_SECURITY_POLICY, csp);
    }
    visit.add_cookies(state, headers);
    response
}

/// The stylesheet (the built-in one, or `style.css` from `ui.templates_dir`).
pub fn stylesheet(state: &AppState) -> Response {
    asset(state.pages.stylesheet.clone(), "text/css; charset=utf-8")
}

pub fn script() -> Response {
    asset(SCRIPT.to_owned(), "text/javascript; charset=utf-8")
}

fn asset(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// A `303 See Other` (after a form) to `to`, a target already checked, with the visit's cookies
/// and any `extra` cookies.
pub fn see_other(
    state: &AppState,
    visit: &mut Visit,
    to: &str,
    extra: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(axum::http::header::LOCATION, location);
    }
    visit.add_cookies(state, headers);
    for cookie in extra {
        headers.append(SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogues() -> Arc<Catalogues> {
        let config = Config::from_pairs::<&str, &str>([]).unwrap();
        Arc::new(Catalogues::load(&config.i18n).unwrap())
    }

    fn config(dir: &Path) -> Config {
        let dir = dir.display().to_string();
        Config::from_pairs([("ui.templates_dir", dir.as_str())]).unwrap()
    }

    #[test]
    fn files_in_the_templates_dir_override_and_a_broken_one_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::new(&[7u8; 32]);
        std::fs::write(dir.path().join("style.css"), "body { color: teal; }").unwrap();
        std::fs::write(dir.path().join("notice.html"), "<p>{{ message }}</p>").unwrap();
        let pages = Pages::load(&config(dir.path()), &master, catalogues()).unwrap();
        assert_eq!(pages.stylesheet, "body { color: teal; }");
        let html = pages
            .render("notice.html", minijinja::context! { message => "<b>" })
            .unwrap();
        assert_eq!(html, "<p>&lt;b&gt;</p>", "overrides are escaped too");
        std::fs::write(dir.path().join("sign_in.html"), "{% if %}").unwrap();
        assert!(Pages::load(&config(dir.path()), &master, catalogues()).is_err());
    }
}
