//! Social sign-in: Google, GitHub, Apple and any OpenID Connect or plain OAuth 2 provider.
//!
//! `begin` opens a transaction (state, PKCE verifier, nonce, the expected issuer; bound to the
//! browser by an HttpOnly cookie, single use, 10 minutes) and answers the provider's URL.
//! `callback` takes the transaction back, checks the browser binding and RFC 9207's `iss`,
//! exchanges the code, verifies the ID token (or reads the profile), finds or creates the user
//! under the linking policy, and signs in through `sign_in::start` (so two-factor still applies).
//! `id_token_sign_in` does the same for a provider's ID token a native app already holds.
//!
//! Provider accounts are keyed by (provider, subject), never by email. A new subject whose email
//! belongs to an existing user is linked only when the provider says the address is verified and
//! is one of `social.account_linking.trusted_providers`.

pub mod apple;
pub mod protocol;
pub mod providers;
pub mod routes;
pub mod settings;
pub mod store;

use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::audit::{self, Event};
use crate::crypto::tokens::{hash_secret, random_id, random_secret};
use crate::db::Context;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::redirect::check_callback;
use crate::http::timestamp::Timestamp;
use crate::sign_in::start::{self, Method, Outcome, Required, SecondFactor, SignIn, Started};
use crate::sign_in::Channel;
use crate::state::AppState;
use crate::users::email::Email;
use crate::users::{self, User};
use protocol::{Profile, ProfileError, TokenSet};
pub use providers::Social;
use providers::{Fault, Provider};
pub use routes::router;

/// A transaction lives 10 minutes.
pub const TRANSACTION_LIFETIME_MS: i64 = 10 * 60_000;
/// Scopes and extra parameters are short printable tokens.
const MAX_PARAM_LEN: usize = 256;

/// The callback URL a provider sends the browser back to.
pub fn redirect_uri(state: &AppState, provider_id: &str) -> String {
    format!("{}/api/auth/callback/{provider_id}", state.config.issuer())
}

/// Where failures land when the transaction names no `errorCallbackURL`.
pub fn default_error_url(state: &AppState) -> String {
    format!("{}/api/auth/error", state.config.issuer())
}

/// What a sign-in (or link) request asks for.
#[derive(Default)]
pub struct Begin {
    pub provider_id: String,
    pub callback_url: Option<String>,
    pub new_user_callback_url: Option<String>,
    pub error_callback_url: Option<String>,
    pub scopes: Vec<String>,
    pub login_hint: Option<String>,
    pub additional_params: Vec<(String, String)>,
    pub request_sign_up: bool,
    /// link-social: the signed-in user to add the provider account to.
    pub link_user_id: Option<String>,
    /// The hosted pages' second-factor page when they started the sign-in: the callback then
    /// sends a user with two-factor there, with the pages' own challenge cookie.
    pub two_factor_page: Option<String>,
}

/// The trusted-device tokens a browser sent to the callback: the API's and the hosted pages'
/// (the one of whoever started the sign-in counts).
#[derive(Clone, Copy, Default)]
pub struct BrowserTrust<'a> {
    pub api: Option<&'a str>,
    pub pages: Option<&'a str>,
}

/// The provider URL to send the browser to, and the browser binding for the state cookie.
pub struct Redirect {
    pub url: String,
    pub browser_token: String,
}

pub fn provider_or_404(state: &AppState, id: &str) -> ApiResult<std::sync::Arc<Provider>> {
    state
        .social
        .provider(id)
        .ok_or_else(|| ApiError::from(ErrorCode::ProviderNotFound))
}

fn log_fault(provider: &Provider, fault: &Fault) {
    tracing::warn!(provider = %provider.settings.id, error = %fault, "social: provider failed");
}

fn unavailable(provider: &Provider, fault: &Fault) -> ApiError {
    log_fault(provider, fault);
    ApiError::from(ErrorCode::ProviderUnavailable)
}

/// Opens a transaction and answers the provider's authorization URL.
pub async fn begin(state: &AppState, begin: Begin) -> ApiResult<Redirect> {
    for url in [
        &begin.callback_url,
        &begin.new_user_callback_url,
        &begin.error_callback_url,
    ]
    .into_iter()
    .flatten()
    {
        check_callback(state, url, ErrorCode::InvalidCallbackUrl)?;
    }
    let provider = provider_or_404(state, &begin.provider_id)?;
    for (name, value) in &begin.additional_params {
        if protocol::RESERVED_PARAMS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(ApiError::from(ErrorCode::ValidationError)
                .with_message(format!("additionalParams may not set `{name}`")));
        }
        if !printable(name) || value.len() > MAX_PARAM_LEN || value.chars().any(char::is_control) {
            return Err(ApiError::from(ErrorCode::ValidationError)
                .with_message("additionalParams holds an invalid parameter"));
        }
    }
    let mut scopes = provider.settings.scopes.clone();
    for scope in &begin.scopes {
        if !printable(scope) {
            return Err(ApiError::from(ErrorCode::ValidationError)
                .with_message("scopes holds an invalid scope"));
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    if let Some(hint) = &begin.login_hint {
        if hint.len() > MAX_PARAM_LEN * 4 || hint.chars().any(char::is_control) {
            return Err(
                ApiError::from(ErrorCode::ValidationError).with_message("loginHint is invalid")
            );
        }
    }
    let endpoints = state
        .social
        .endpoints(&provider)
        .await
        .map_err(|fault| unavailable(&provider, &fault))?;
    let state_value = random_secret();
    let browser_token = random_secret();
    let code_verifier = random_secret();
    let nonce = random_secret();
    let state_hash = hash_secret(&state_value);
    // The pages' second-factor page rides in the sealed secrets (no column of its own).
    let secrets = serde_json::json!({ "v": code_verifier, "n": nonce, "t": begin.two_factor_page })
        .to_string();
    let now = state.clock.now_ms();
    store::insert_transaction(
        &state.db,
        &store::Transaction {
            sealed_secrets: state.social.sealer.seal(secrets.as_bytes(), &state_hash),
            state_hash,
            browser_hash: hash_secret(&browser_token),
            provider_id: provider.settings.id.clone(),
            issuer: endpoints.issuer.clone(),
            callback_url: begin.callback_url.unwrap_or_else(|| "/".to_owned()),
            new_user_callback_url: begin.new_user_callback_url,
            error_callback_url: begin.error_callback_url,
            link_user_id: begin.link_user_id,
            request_sign_up: begin.request_sign_up,
            created_at: now,
            expires_at: now + TRANSACTION_LIFETIME_MS,
        },
    )
    .await?;
    let redirect_uri = redirect_uri(state, &provider.settings.id);
    let url = protocol::authorization_url(
        &provider,
        &endpoints,
        &protocol::AuthorizationRequest {
            redirect_uri: &redirect_uri,
            state: &state_value,
            code_verifier: &code_verifier,
            nonce: &nonce,
            scopes: &scopes,
            login_hint: begin.login_hint.as_deref(),
            extra: &begin.additional_params,
        },
    );
    Ok(Redirect { url, browser_token })
}

fn printable(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_PARAM_LEN && text.chars().all(|c| c.is_ascii_graphic())
}

/// What the provider sent back to the callback. Lengths are not limited here: a browser landing
/// never answers 400; oversized values simply fail the checks (`state_mismatch`, ...).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state this server sent.
    pub state: Option<String>,
    /// The provider's error code (`access_denied`, ...).
    pub error: Option<String>,
    /// Ignored: provider text is never shown.
    pub error_description: Option<String>,
    /// RFC 9207: the issuer of this response.
    pub iss: Option<String>,
    /// Apple's first-authorization user (JSON with the name).
    pub user: Option<String>,
}

/// Where the browser goes after the callback.
pub enum Landing {
    SignedIn {
        started: Box<Started>,
        to: String,
    },
    /// Two-factor is on: the challenge cookie is set and the browser goes to `to`, or to
    /// `page?return_to=<to>` when the hosted pages started the sign-in.
    SecondFactor {
        required: Required,
        to: String,
        page: Option<String>,
    },
    Linked {
        to: String,
    },
    /// `to?error=<code>`.
    Failed {
        code: String,
        to: String,
    },
}

fn failed(code: &str, to: &str) -> ApiResult<Landing> {
    Ok(Landing::Failed {
        code: code.to_owned(),
        to: to.to_owned(),
    })
}

/// An error code from the provider, passed on only if it is a plain OAuth error token.
pub fn provider_error_code(raw: &str) -> String {
    if !raw.is_empty() && raw.len() <= 64 && raw.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    {
        raw.to_owned()
    } else {
        "oauth_provider_error".to_owned()
    }
}

/// Completes a sign-in (or link) at the callback.
pub async fn callback(
    state: &AppState,
    provider_id: &str,
    params: CallbackParams,
    browser_token: Option<&str>,
    client: &ClientInfo,
    trust: BrowserTrust<'_>,
) -> ApiResult<Landing> {
    let default_error = default_error_url(state);
    let Some(state_value) = params.state.as_deref().filter(|s| s.len() <= MAX_PARAM_LEN) else {
        return failed("state_not_found", &default_error);
    };
    let Some(tx) = store::take_transaction(&state.db, &hash_secret(state_value)).await? else {
        return failed("state_mismatch", &default_error);
    };
    let error_to = tx.error_callback_url.clone().unwrap_or(default_error);
    let bound = browser_token.is_some_and(|token| {
        bool::from(
            hash_secret(token)
                .as_bytes()
                .ct_eq(tx.browser_hash.as_bytes()),
        )
    });
    if !bound || tx.provider_id != provider_id || state.clock.now_ms() > tx.expires_at {
        return failed("state_mismatch", &error_to);
    }
    if let Some(error) = &params.error {
        return failed(&provider_error_code(error), &error_to);
    }
    let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
        return failed("no_code", &error_to);
    };
    let Some(provider) = state.social.provider(provider_id) else {
        return failed("oauth_provider_not_found", &error_to);
    };
    let endpoints = match state.social.endpoints(&provider).await {
        Ok(endpoints) => endpoints,
        Err(fault) => {
            log_fault(&provider, &fault);
            return failed("unable_to_get_user_info", &error_to);
        }
    };
    // RFC 9207: the response names the issuer the transaction was opened with (mix-up defence).
    match (&tx.issuer, &params.iss) {
        (Some(expected), Some(given)) if expected != given => {
            return failed("issuer_mismatch", &error_to)
        }
        (Some(_), None) if endpoints.iss_required => return failed("issuer_missing", &error_to),
        _ => {}
    }
    let Some(secrets) = state
        .social
        .sealer
        .open(&tx.sealed_secrets, &tx.state_hash)
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    else {
        return failed("state_mismatch", &error_to);
    };
    let verifier = secrets["v"].as_str().unwrap_or_default();
    let nonce = secrets["n"].as_str().unwrap_or_default();
    let two_factor_page = secrets["t"].as_str().map(str::to_owned);
    let trusted_device = if two_factor_page.is_some() {
        trust.pages
    } else {
        trust.api
    };
    let client_secret = client_secret(state, &provider)?;
    let redirect_uri = redirect_uri(state, provider_id);
    let tokens = match protocol::exchange_code(
        &state.social,
        &provider,
        &endpoints,
        client_secret.as_deref(),
        code,
        verifier,
        &redirect_uri,
    )
    .await
    {
        Ok(tokens) => tokens,
        Err(Fault::Refused(why)) => {
            tracing::info!(provider = provider_id, why, "social: code refused");
            return failed("invalid_code", &error_to);
        }
        Err(fault) => {
            log_fault(&provider, &fault);
            return failed("unable_to_get_user_info", &error_to);
        }
    };
    let mut profile = match protocol::fetch_profile(
        &state.social,
        &provider,
        &endpoints,
        &tokens,
        nonce,
        &state.clock,
    )
    .await
    {
        Ok(profile) => profile,
        Err(ProfileError::IdToken(why)) => {
            tracing::warn!(provider = provider_id, ?why, "social: ID token refused");
            return failed("unable_to_get_user_info", &error_to);
        }
        Err(why) => {
            tracing::warn!(provider = provider_id, ?why, "social: no profile");
            return failed("unable_to_get_user_info", &error_to);
        }
    };
    if profile.name.is_none() {
        profile.name = params.user.as_deref().and_then(apple_user_name);
    }
    let settled = match settle(
        state,
        &provider,
        tx.link_user_id.as_deref(),
        tx.request_sign_up,
        &profile,
        &tokens,
        client,
    )
    .await?
    {
        Ok(settled) => settled,
        Err(code) => return failed(code, &error_to),
    };
    let (user, method) = match settled {
        Settled::Linked => {
            return Ok(Landing::Linked {
                to: tx.callback_url,
            })
        }
        Settled::Returning(user) => (user, Method::Social),
        Settled::Created(user) => (user, Method::SocialSignUp),
    };
    let to = match (method, tx.new_user_callback_url) {
        (Method::SocialSignUp, Some(new_user)) => new_user,
        _ => tx.callback_url,
    };
    match start_session(state, user, method, Channel::Cookie, client, trusted_device).await? {
        Outcome::Started(started) => Ok(Landing::SignedIn { started, to }),
        Outcome::SecondFactorRequired(required) => Ok(Landing::SecondFactor {
            required,
            to,
            page: two_factor_page,
        }),
    }
}

/// Starts the session through the one way in (two-factor still applies unless
/// `two_factor.skip_for_social`).
pub async fn start_session(
    state: &AppState,
    user: User,
    method: Method<'_>,
    channel: Channel,
    client: &ClientInfo,
    trusted_device: Option<&str>,
) -> ApiResult<Outcome> {
    start::start(
        state,
        SignIn {
            user,
            method,
            channel,
            persistent: true,
            client,
            second_factor: second_factor(state, trusted_device),
        },
    )
    .await
}

/// The second-factor rule of a social sign-in: as for a password, unless
/// `two_factor.skip_for_social`.
pub fn second_factor<'a>(state: &AppState, trusted_device: Option<&'a str>) -> SecondFactor<'a> {
    if state.config.social.skip_two_factor {
        SecondFactor::Passed {
            trust_device: false,
        }
    } else {
        SecondFactor::NotShown { trusted_device }
    }
}

/// Apple sends the name only on the first authorization, as `user` = `{"name": {"firstName",
/// "lastName"}}`.
fn apple_user_name(raw: &str) -> Option<String> {
    let user: Value = serde_json::from_str(raw).ok()?;
    let name = &user["name"];
    let parts: Vec<&str> = [name["firstName"].as_str(), name["lastName"].as_str()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The client secret to present: configured, or Apple's generated JWT.
fn client_secret(state: &AppState, provider: &Provider) -> ApiResult<Option<String>> {
    use crate::settings::ExposeSecret;
    if let Some(secret) = &provider.settings.client_secret {
        return Ok(Some(secret.expose_secret().to_owned()));
    }
    if provider.settings.apple_key.is_some() {
        return apple::client_secret(provider, state.clock.now_secs())
            .map(Some)
            .map_err(ApiError::internal);
    }
    Ok(None)
}

enum Settled {
    Returning(User),
    Created(User),
    Linked,
}

/// Finds or creates the user for a provider profile, under the linking policy. `Err(code)` is a
/// refusal with better-auth's error code.
async fn settle(
    state: &AppState,
    provider: &Provider,
    link_user_id: Option<&str>,
    request_sign_up: bool,
    profile: &Profile,
    tokens: &TokenSet,
    client: &ClientInfo,
) -> ApiResult<Result<Settled, &'static str>> {
    let provider_id = provider.settings.id.as_str();
    let now = state.clock.now_ms();
    let existing = store::find_account(&state.db, provider_id, &profile.subject).await?;
    let email = profile
        .email
        .as_deref()
        .and_then(|raw| Email::parse(raw).ok());
    if let Some(link_user_id) = link_user_id {
        return match existing {
            Some(account) if account.user_id == link_user_id => {
                refresh(state, account, profile, tokens, now).await?;
                Ok(Ok(Settled::Linked))
            }
            Some(_) => Ok(Err("account_already_linked_to_different_user")),
            None => {
                let Some(user) = users::store::find_by_id(&state.db, link_user_id).await? else {
                    return Ok(Err("unable_to_link_account"));
                };
                if email.as_ref().map(Email::as_str) != Some(user.email.as_str()) {
                    return Ok(Err("email_does_not_match"));
                }
                link_account(state, &user.id, provider_id, profile, tokens, now).await?;
                audit::record(state, Event::AccountLinked, Some(&user.id), None, client).await;
                Ok(Ok(Settled::Linked))
            }
        };
    }
    if let Some(account) = existing {
        let user_id = account.user_id.clone();
        refresh(state, account, profile, tokens, now).await?;
        return match users::store::find_by_id(&state.db, &user_id).await? {
            Some(user) => Ok(Ok(Settled::Returning(user))),
            None => Ok(Err("unable_to_get_user_info")),
        };
    }
    let Some(email) = email else {
        return Ok(Err("email_not_found"));
    };
    if let Some((user, _)) = users::store::find_by_email(&state.db, email.as_str()).await? {
        let trusted = state
            .config
            .social
            .trusted_providers
            .iter()
            .any(|p| p == provider_id);
        if !(profile.email_verified && trusted) {
            return Ok(Err("account_not_linked"));
        }
        link_account(state, &user.id, provider_id, profile, tokens, now).await?;
        let mut user = user;
        if !user.email_verified {
            let mut conn = state.db.begin("social: verify linked email").await?;
            users::store::mark_email_verified(&mut conn, &user.id, &user.email, now).await?;
            conn.commit().await.context("social: verify linked email")?;
            user.email_verified = true;
        }
        audit::record(state, Event::AccountLinked, Some(&user.id), None, client).await;
        return Ok(Ok(Settled::Returning(user)));
    }
    if provider.settings.disable_sign_up && !request_sign_up {
        return Ok(Err("signup_disabled"));
    }
    let name = profile
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= 200 && !n.chars().any(char::is_control))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            email
                .as_str()
                .split('@')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
    let image = profile
        .image
        .as_deref()
        .filter(|i| i.len() <= 2048 && (i.starts_with("https://") || i.starts_with("http://")))
        .map(str::to_owned);
    let user = User {
        id: random_id(),
        name,
        email: email.as_str().to_owned(),
        // An unverified provider address never marks the user's address verified.
        email_verified: profile.email_verified,
        image,
        role: "user".to_owned(),
        two_factor_enabled: false,
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
        banned: false,
        ban_reason: None,
        ban_expires: None,
    };
    let mut conn = state.db.begin("social: create user").await?;
    let created = async {
        users::store::insert_without_password(&mut conn, &user).await?;
        insert_account(
            state,
            &user.id,
            provider_id,
            profile,
            tokens,
            now,
            &mut conn,
        )
        .await
    }
    .await;
    match created {
        Ok(()) => {}
        // A parallel sign-in created the user or the account first.
        Err(e) if e.is_unique_violation() => return Ok(Err("unable_to_create_user")),
        Err(e) => return Err(e.into()),
    }
    conn.commit().await.context("social: create user")?;
    Ok(Ok(Settled::Created(user)))
}

fn token_fields(
    state: &AppState,
    account_id: &str,
    tokens: &TokenSet,
    now: i64,
) -> (Option<String>, Option<i64>, Option<String>) {
    if !state.config.social.store_provider_tokens {
        return (None, None, None);
    }
    let sealer = &state.social.sealer;
    (
        tokens
            .access_token
            .as_deref()
            .map(|t| sealer.seal(t.as_bytes(), &format!("access:{account_id}"))),
        tokens.expires_in.map(|s| now + s.saturating_mul(1000)),
        tokens
            .refresh_token
            .as_deref()
            .map(|t| sealer.seal(t.as_bytes(), &format!("refresh:{account_id}"))),
    )
}

/// Stored scopes (comma-separated) as a list.
fn scope_list(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn scopes_of(tokens: &TokenSet) -> String {
    tokens
        .scope
        .as_deref()
        .unwrap_or("")
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

async fn insert_account(
    state: &AppState,
    user_id: &str,
    provider_id: &str,
    profile: &Profile,
    tokens: &TokenSet,
    now: i64,
    conn: &mut sqlx::AnyConnection,
) -> Result<(), crate::db::DbError> {
    let id = random_id();
    let (access, expires, refresh) = token_fields(state, &id, tokens, now);
    let account = store::Account {
        id,
        user_id: user_id.to_owned(),
        provider_id: provider_id.to_owned(),
        account_id: profile.subject.clone(),
        email: profile.email.clone(),
        scopes: scopes_of(tokens),
        profile: Some(profile.raw.to_string()),
        sealed_access_token: access,
        access_token_expires_at: expires,
        sealed_refresh_token: refresh,
        created_at: now,
        updated_at: now,
    };
    store::insert_account(conn, &account).await
}

/// Links a provider account to an existing user (its own transaction).
async fn link_account(
    state: &AppState,
    user_id: &str,
    provider_id: &str,
    profile: &Profile,
    tokens: &TokenSet,
    now: i64,
) -> ApiResult<()> {
    let mut conn = state.db.begin("social: link account").await?;
    insert_account(state, user_id, provider_id, profile, tokens, now, &mut conn).await?;
    conn.commit().await.context("social: link account")?;
    Ok(())
}

async fn refresh(
    state: &AppState,
    mut account: store::Account,
    profile: &Profile,
    tokens: &TokenSet,
    now: i64,
) -> ApiResult<()> {
    let (access, expires, refresh) = token_fields(state, &account.id, tokens, now);
    account.email = profile.email.clone();
    let scopes = scopes_of(tokens);
    if !scopes.is_empty() {
        account.scopes = scopes;
    }
    account.profile = Some(profile.raw.to_string());
    account.sealed_access_token = access;
    account.access_token_expires_at = expires;
    account.sealed_refresh_token = refresh;
    account.updated_at = now;
    store::refresh_account(&state.db, &account).await?;
    Ok(())
}

/// Signs in with an ID token a native app got from the provider (Google, Apple, any OpenID
/// Connect provider): verified against the provider's keys, `aud` the client id or a configured
/// extra audience, `nonce` when given. Answers the user and whether it is new.
pub async fn id_token_user(
    state: &AppState,
    provider_id: &str,
    token: &str,
    nonce: Option<&str>,
    client: &ClientInfo,
) -> ApiResult<(User, Method<'static>)> {
    let (provider, profile) = verified_id_token(state, provider_id, token, nonce).await?;
    let settled = settle(
        state,
        &provider,
        None,
        false,
        &profile,
        &TokenSet::default(),
        client,
    )
    .await?;
    match settled {
        Ok(Settled::Returning(user)) => Ok((user, Method::Social)),
        Ok(Settled::Created(user)) => Ok((user, Method::SocialSignUp)),
        Ok(Settled::Linked) => Err(ApiError::internal("social: a sign-in cannot link")),
        Err("account_not_linked") => Err(ErrorCode::AccountNotLinked.into()),
        Err("email_not_found") => Err(ErrorCode::UserEmailNotFound.into()),
        Err("signup_disabled") => Err(ErrorCode::SignUpDisabled.into()),
        Err(code) => Err(ApiError::internal(format!(
            "social: id token sign-in: {code}"
        ))),
    }
}

/// Links the provider account of a native app's ID token to the signed-in user (its email must
/// be the user's).
pub async fn link_id_token(
    state: &AppState,
    user: &User,
    provider_id: &str,
    token: &str,
    nonce: Option<&str>,
    client: &ClientInfo,
) -> ApiResult<()> {
    let (provider, profile) = verified_id_token(state, provider_id, token, nonce).await?;
    let settled = settle(
        state,
        &provider,
        Some(&user.id),
        false,
        &profile,
        &TokenSet::default(),
        client,
    )
    .await?;
    match settled {
        Ok(_) => Ok(()),
        Err("account_already_linked_to_different_user") => {
            Err(ErrorCode::SocialAccountAlreadyLinked.into())
        }
        Err("email_does_not_match") => Err(ErrorCode::EmailDoesNotMatch.into()),
        Err(code) => Err(ApiError::internal(format!("social: id token link: {code}"))),
    }
}

/// A native app's ID token, verified: the provider and the profile it names.
async fn verified_id_token(
    state: &AppState,
    provider_id: &str,
    token: &str,
    nonce: Option<&str>,
) -> ApiResult<(std::sync::Arc<Provider>, Profile)> {
    let provider = provider_or_404(state, provider_id)?;
    if !matches!(provider.settings.kind, settings::Kind::Oidc { .. }) {
        return Err(ErrorCode::IdTokenNotSupported.into());
    }
    let endpoints = state
        .social
        .endpoints(&provider)
        .await
        .map_err(|fault| unavailable(&provider, &fault))?;
    let mut audiences = vec![provider.settings.client_id.as_str()];
    audiences.extend(provider.settings.audiences.iter().map(String::as_str));
    let claims = protocol::verify_id_token(
        &state.social,
        &provider,
        token,
        &protocol::Expected {
            issuer: endpoints.issuer.as_deref().unwrap_or_default(),
            audiences: &audiences,
            nonce,
        },
        &state.clock,
    )
    .await
    .map_err(|why| match why {
        protocol::IdTokenError::Fault(Fault::Unavailable(_)) => {
            ApiError::from(ErrorCode::ProviderUnavailable)
        }
        why => {
            tracing::info!(provider = provider_id, ?why, "social: ID token refused");
            ApiError::from(ErrorCode::InvalidToken)
                .with_status(axum::http::StatusCode::UNAUTHORIZED)
        }
    })?;
    Ok((provider, Profile::from_id_claims(&claims)))
}

/// A provider account as `list-accounts` shows it (never tokens).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: String,
    /// `credential` for the password, else the provider id.
    pub provider_id: String,
    /// The provider's subject (for the password: the user id).
    pub account_id: String,
    pub user_id: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub scopes: Vec<String>,
}

/// The user's ways to sign in: the password (as better-auth's `credential` account) and each
/// provider account.
pub async fn list_accounts(state: &AppState, user: &User) -> ApiResult<Vec<AccountView>> {
    let mut views = Vec::new();
    if users::store::password_hash(&state.db, &user.id)
        .await?
        .is_some()
    {
        views.push(AccountView {
            id: user.id.clone(),
            provider_id: "credential".to_owned(),
            account_id: user.id.clone(),
            user_id: user.id.clone(),
            created_at: user.created_at,
            updated_at: user.updated_at,
            scopes: vec![],
        });
    }
    for account in store::accounts_of_user(&state.db, &user.id).await? {
        views.push(AccountView {
            scopes: scope_list(&account.scopes),
            id: account.id,
            provider_id: account.provider_id,
            account_id: account.account_id,
            user_id: account.user_id,
            created_at: Timestamp(account.created_at),
            updated_at: Timestamp(account.updated_at),
        });
    }
    Ok(views)
}

/// Removes one of the user's provider accounts, never the last way to sign in.
pub async fn unlink(
    state: &AppState,
    user: &User,
    account_id: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    let accounts = store::accounts_of_user(&state.db, &user.id).await?;
    if !accounts.iter().any(|a| a.id == account_id) {
        return Err(ErrorCode::AccountNotFound.into());
    }
    if !store::delete_account_keeping_one(&state.db, &user.id, account_id).await? {
        return Err(ErrorCode::FailedToUnlinkLastAccount.into());
    }
    audit::record(state, Event::AccountUnlinked, Some(&user.id), None, client).await;
    Ok(())
}

/// The provider's profile of one of the user's accounts, as stored at its last sign-in.
pub async fn account_info(state: &AppState, user: &User, account_id: &str) -> ApiResult<Value> {
    let accounts = store::accounts_of_user(&state.db, &user.id).await?;
    let account = accounts
        .into_iter()
        .find(|a| a.id == account_id)
        .ok_or_else(|| ApiError::from(ErrorCode::AccountNotFound))?;
    let data: Value = account
        .profile
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let text = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(serde_json::json!({
        "user": {
            "id": account.account_id,
            "name": text("name").or_else(|| text("login")),
            "email": account.email,
            "image": text("picture").or_else(|| text("avatar_url")),
            "emailVerified": protocol::truthy(data.get("email_verified")),
        },
        "data": data,
    }))
}

/// A provider access token handed to the app's backend.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenView {
    pub access_token: String,
    pub access_token_expires_at: Option<Timestamp>,
    pub scopes: Vec<String>,
}

/// Refreshed when it expires within this long.
const REFRESH_BEFORE_MS: i64 = 60_000;

/// The provider's access token of one of the user's accounts (`social.store_provider_tokens`),
/// refreshed with the stored refresh token when it is about to expire. The refresh token itself
/// never leaves the server.
pub async fn access_token(
    state: &AppState,
    user: &User,
    account_id: Option<&str>,
    provider_id: Option<&str>,
) -> ApiResult<AccessTokenView> {
    let failed = || ApiError::from(ErrorCode::FailedToGetAccessToken);
    let accounts = store::accounts_of_user(&state.db, &user.id).await?;
    let mut account = accounts
        .into_iter()
        .find(|a| {
            account_id.is_none_or(|id| a.id == id)
                && provider_id.is_none_or(|p| a.provider_id == p)
                && (account_id.is_some() || provider_id.is_some())
        })
        .ok_or_else(|| ApiError::from(ErrorCode::AccountNotFound))?;
    if !state.config.social.store_provider_tokens {
        return Err(failed());
    }
    let sealer = &state.social.sealer;
    let open = |sealed: &Option<String>, kind: &str| {
        sealed
            .as_deref()
            .and_then(|s| sealer.open(s, &format!("{kind}:{}", account.id)))
            .and_then(|bytes| String::from_utf8(bytes).ok())
    };
    let mut access = open(&account.sealed_access_token, "access").ok_or_else(failed)?;
    let now = state.clock.now_ms();
    let expiring = account
        .access_token_expires_at
        .is_some_and(|at| at - now < REFRESH_BEFORE_MS);
    if expiring {
        let refresh = open(&account.sealed_refresh_token, "refresh").ok_or_else(failed)?;
        let provider = state
            .social
            .provider(&account.provider_id)
            .ok_or_else(failed)?;
        let endpoints = state
            .social
            .endpoints(&provider)
            .await
            .map_err(|fault| unavailable(&provider, &fault))?;
        let secret = client_secret(state, &provider)?;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", provider.settings.client_id.as_str()),
        ];
        if let Some(secret) = secret.as_deref() {
            form.push(("client_secret", secret));
        }
        let answer = state
            .social
            .post_form(&endpoints.token, &form)
            .await
            .map_err(|fault| match fault {
                Fault::Refused(_) => failed(),
                fault => unavailable(&provider, &fault),
            })?;
        let tokens: TokenSet = serde_json::from_value(answer).map_err(|_| failed())?;
        let new_access = tokens.access_token.clone().ok_or_else(failed)?;
        let (sealed_access, expires, sealed_refresh) =
            token_fields(state, &account.id, &tokens, now);
        account.sealed_access_token = sealed_access;
        account.access_token_expires_at = expires;
        account.sealed_refresh_token = sealed_refresh;
        account.updated_at = now;
        store::refresh_account(&state.db, &account).await?;
        access = new_access;
    }
    Ok(AccessTokenView {
        access_token: access,
        access_token_expires_at: account.access_token_expires_at.map(Timestamp),
        scopes: scope_list(&account.scopes),
    })
}
