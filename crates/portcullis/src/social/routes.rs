//! Social sign-in endpoints: `/sign-in/social`, `/callback/{provider}` (GET, and POST for
//! `form_post` providers such as Apple), `/link-social`, `/list-accounts`, `/unlink-account`,
//! `/account-info` and the default error landing `/error`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{begin, callback, Begin, CallbackParams, Landing};
use crate::api_errors;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::answers::StatusAnswer;
use crate::http::client::ClientInfo;
use crate::http::json::{JsonBody, QueryParams};
use crate::http::redirect::{redirect, with_query};
use crate::sessions;
use crate::sessions::extract::{CurrentSession, OwnSession};
use crate::sign_in::start::Outcome;
use crate::sign_in::{challenge_cookies, challenge_response, Channel};
use crate::state::AppState;
use crate::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_social))
        .routes(routes!(callback_get, callback_post))
        .routes(routes!(link_social))
        .routes(routes!(list_accounts))
        .routes(routes!(unlink_account))
        .routes(routes!(account_info))
        .routes(routes!(error_landing))
        .routes(routes!(get_access_token))
}

/// better-auth's `idToken` object: a token the app got from the provider natively.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdTokenBody {
    #[schema(max_length = 8192)]
    token: String,
    #[schema(max_length = 256)]
    nonce: Option<String>,
    /// Accepted and ignored.
    access_token: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocialBody {
    /// A configured provider id (`google`, `github`, `apple`, or any generic one).
    #[schema(min_length = 1, max_length = 32)]
    provider: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    #[serde(rename = "newUserCallbackURL")]
    new_user_callback_url: Option<String>,
    #[serde(rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
    /// Answer `redirect: false` (the client navigates itself).
    disable_redirect: Option<bool>,
    /// Scopes besides the provider's configured ones.
    #[serde(default)]
    scopes: Vec<String>,
    request_sign_up: Option<bool>,
    #[schema(max_length = 1024)]
    login_hint: Option<String>,
    /// Extra authorization parameters (`prompt`, `hd`, ...); OAuth's own are refused.
    #[serde(default)]
    additional_params: std::collections::BTreeMap<String, String>,
    /// Sign in with the provider's ID token instead of a redirect.
    id_token: Option<IdTokenBody>,
}

impl SocialBody {
    fn into_begin(self, link_user_id: Option<String>) -> Begin {
        Begin {
            provider_id: self.provider,
            callback_url: self.callback_url,
            new_user_callback_url: self.new_user_callback_url,
            error_callback_url: self.error_callback_url,
            scopes: self.scopes,
            login_hint: self.login_hint,
            additional_params: self.additional_params.into_iter().collect(),
            request_sign_up: self.request_sign_up.unwrap_or(false),
            link_user_id,
            two_factor_page: None,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SocialAnswer {
    /// The provider's authorization URL (redirect flow).
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    redirect: bool,
    /// The session token (ID-token sign-in).
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<User>,
    /// link-social with an ID token: linked.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<bool>,
}

api_errors!(SocialErrors, POST_JSON; InvalidCallbackUrl, ProviderNotFound, IdTokenNotSupported, ProviderUnavailable, InvalidToken = 401, AccountNotLinked, UserEmailNotFound, SignUpDisabled);

/// Starts a sign-in with a provider: answers the provider's URL to send the browser to, and sets
/// the HttpOnly cookie that binds the transaction to this browser. With `idToken` it verifies
/// the provider's ID token and signs in at once (native Google / Apple sign-in).
#[utoipa::path(post, path = "/sign-in/social", tag = "social", request_body = SocialBody,
    responses((status = 200, description = "The provider URL, or (ID token) the new session; a two-factor challenge when the user has two-factor", body = SocialAnswer), SocialErrors))]
async fn sign_in_social(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SocialBody>,
) -> ApiResult<Response> {
    if let Some(id_token) = &body.id_token {
        let (user, method) = super::id_token_user(
            &state,
            &body.provider,
            &id_token.token,
            id_token.nonce.as_deref(),
            &client,
        )
        .await?;
        let _ = &id_token.access_token;
        let trusted = state.trusted_device_cookie.read(&headers);
        return match super::start_session(&state, user, method, Channel::Cookie, &client, trusted)
            .await?
        {
            Outcome::Started(started) => {
                let mut response = Json(SocialAnswer {
                    url: None,
                    redirect: false,
                    token: Some(started.token.clone()),
                    user: Some(started.user.clone()),
                    status: None,
                })
                .into_response();
                started.set_cookies(&state, response.headers_mut());
                Ok(response)
            }
            Outcome::SecondFactorRequired(required) => Ok(challenge_response(&state, &required)),
        };
    }
    let disable_redirect = body.disable_redirect.unwrap_or(false);
    let started = begin(&state, body.into_begin(None)).await?;
    Ok(redirect_answer(&state, started, disable_redirect))
}

fn redirect_answer(state: &AppState, started: super::Redirect, disable_redirect: bool) -> Response {
    let cookie = state.social.state_cookie.set(
        &started.browser_token,
        Some(std::time::Duration::from_millis(
            super::TRANSACTION_LIFETIME_MS as u64,
        )),
    );
    (
        [(SET_COOKIE, cookie)],
        Json(SocialAnswer {
            url: Some(started.url),
            redirect: !disable_redirect,
            token: None,
            user: None,
            status: None,
        }),
    )
        .into_response()
}

api_errors!(CallbackErrors, ANY; ValidationError);

/// The provider sends the browser back here. Always a `302`: to `callbackURL` (or
/// `newUserCallbackURL` for a new user) with the session cookie, or to `errorCallbackURL` (else
/// `/api/auth/error`) with `?error=<code>`.
#[utoipa::path(get, path = "/callback/{provider}", tag = "social",
    params(("provider" = String, Path, description = "The provider id"), CallbackParams),
    responses((status = 302, description = "To the application, signed in, or to the error URL with ?error="), CallbackErrors))]
async fn callback_get(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    client: ClientInfo,
    headers: HeaderMap,
    QueryParams(params): QueryParams<CallbackParams>,
) -> ApiResult<Response> {
    let browser = state.social.state_cookie.read(&headers);
    let trust = super::BrowserTrust {
        api: state.trusted_device_cookie.read(&headers),
        pages: state.pages.trusted_device_cookie.read(&headers),
    };
    let landing = callback(&state, &provider, params, browser, &client, trust).await?;
    let mut response = match landing {
        Landing::SignedIn { started, to } => {
            let mut response = redirect(&to);
            started.set_cookies(&state, response.headers_mut());
            response
        }
        Landing::SecondFactor {
            required,
            to,
            page: None,
        } => {
            let mut response = redirect(&with_query(&to, &[("twoFactorRedirect", "true")]));
            let challenge = challenge_response(&state, &required);
            for cookie in challenge.headers().get_all(SET_COOKIE) {
                response.headers_mut().append(SET_COOKIE, cookie.clone());
            }
            response
        }
        // Started on the hosted pages: their second step, with their own cookies (Path=/, as
        // the pages' are; the API's challenge cookie would not reach the page).
        Landing::SecondFactor {
            required,
            to,
            page: Some(page),
        } => {
            let mut response = redirect(&with_query(&page, &[("return_to", &to)]));
            let cookies = challenge_cookies(
                &state,
                &required,
                &state.pages.challenge_cookie,
                &state.pages.trusted_device_cookie,
            );
            for cookie in cookies {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            response
        }
        Landing::Linked { to } => redirect(&to),
        Landing::Failed { code, to } => redirect(&with_query(&to, &[("error", &code)])),
    };
    if browser.is_some() {
        response
            .headers_mut()
            .append(SET_COOKIE, state.social.state_cookie.clear());
    }
    Ok(response)
}

/// `form_post` providers (Apple) post the answer here; it is handed to the GET callback (a
/// redirect, so the browser sends its SameSite=Lax state cookie again).
#[utoipa::path(post, path = "/callback/{provider}", tag = "social",
    params(("provider" = String, Path, description = "The provider id")),
    request_body(content = CallbackParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 302, description = "To the GET callback with the same parameters"), CallbackErrors))]
async fn callback_post(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    const FIELDS: &[&str] = &["code", "state", "error", "iss", "user"];
    let malformed = body.is_empty()
        || match std::str::from_utf8(&body) {
            Ok(text) => text
                .split('&')
                .any(|pair| !pair.is_empty() && !pair.contains('=')),
            Err(_) => true,
        };
    if malformed {
        return Err(ApiError::from(ErrorCode::ValidationError)
            .with_message("The body must be an application/x-www-form-urlencoded form"));
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .filter(|(name, _)| FIELDS.contains(&name.as_ref()))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if state.social.provider(&provider).is_none() {
        return Ok(redirect(&with_query(
            &super::default_error_url(&state),
            &[("error", "oauth_provider_not_found")],
        )));
    }
    Ok(redirect(&with_query(
        &super::redirect_uri(&state, &provider),
        &pairs,
    )))
}

api_errors!(LinkSocialErrors, POST_JSON; Unauthorized, ImpersonationRestricted, InvalidCallbackUrl, ProviderNotFound, ProviderUnavailable, IdTokenNotSupported, InvalidToken = 401, SocialAccountAlreadyLinked, EmailDoesNotMatch);

/// Adds a provider to the signed-in user: answers the provider's URL like `/sign-in/social`; the
/// callback links the provider account (its email must be the user's). With `idToken`, links the
/// token's account at once (`{status: true}`). Not from an impersonated session: the ways to sign
/// in stay the user's own.
#[utoipa::path(post, path = "/link-social", tag = "social", request_body = SocialBody,
    responses((status = 200, description = "The provider URL", body = SocialAnswer), LinkSocialErrors))]
async fn link_social(
    State(state): State<AppState>,
    client: ClientInfo,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<SocialBody>,
) -> ApiResult<Response> {
    if let Some(id_token) = &body.id_token {
        super::link_id_token(
            &state,
            &auth.user,
            &body.provider,
            &id_token.token,
            id_token.nonce.as_deref(),
            &client,
        )
        .await?;
        return Ok(Json(SocialAnswer {
            url: Some(String::new()),
            redirect: false,
            token: None,
            user: None,
            status: Some(true),
        })
        .into_response());
    }
    let disable_redirect = body.disable_redirect.unwrap_or(false);
    let started = begin(&state, body.into_begin(Some(auth.user.id.clone()))).await?;
    Ok(redirect_answer(&state, started, disable_redirect))
}

api_errors!(ListAccountsErrors, ANY; Unauthorized);

/// The user's ways to sign in: `credential` (the password) and each provider account. Never
/// tokens.
#[utoipa::path(get, path = "/list-accounts", tag = "social",
    responses((status = 200, description = "The accounts", body = Vec<super::AccountView>), ListAccountsErrors))]
async fn list_accounts(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> ApiResult<Json<Vec<super::AccountView>>> {
    Ok(Json(super::list_accounts(&state, &auth.user).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnlinkBody {
    /// The account's `id` (from list-accounts).
    #[schema(min_length = 1, max_length = 64)]
    account_id: String,
}

api_errors!(UnlinkErrors, POST_JSON; Unauthorized, ImpersonationRestricted, SessionNotFresh, AccountNotFound, FailedToUnlinkLastAccount);

/// Removes a provider account from the user; needs a recent sign-in, and never removes the last
/// way to sign in; not from an impersonated session.
#[utoipa::path(post, path = "/unlink-account", tag = "social", request_body = UnlinkBody,
    responses((status = 200, description = "Unlinked", body = StatusAnswer), UnlinkErrors))]
async fn unlink_account(
    State(state): State<AppState>,
    client: ClientInfo,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<UnlinkBody>,
) -> ApiResult<Json<StatusAnswer>> {
    sessions::require_fresh(&state, &auth.session)?;
    super::unlink(&state, &auth.user, &body.account_id, &client).await?;
    Ok(Json(StatusAnswer::OK))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfoQuery {
    /// The account's `id` (from list-accounts).
    #[param(min_length = 1, max_length = 64)]
    account_id: String,
}

api_errors!(AccountInfoErrors, ANY; Unauthorized, ValidationError, AccountNotFound);

/// The provider's profile of one of the user's accounts (as of its last sign-in).
#[utoipa::path(get, path = "/account-info", tag = "social", params(AccountInfoQuery),
    responses((status = 200, description = "`{user, data}`: the profile", body = serde_json::Value), AccountInfoErrors))]
async fn account_info(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    QueryParams(query): QueryParams<AccountInfoQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        super::account_info(&state, &auth.user, &query.account_id).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorQuery {
    /// The error code of a failed social sign-in (anything else shows as `oauth_provider_error`).
    error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorLanding {
    error: String,
}

api_errors!(ErrorLandingErrors, ANY; ValidationError);

/// Where a failed social sign-in lands when it named no `errorCallbackURL`: the error code, as
/// JSON (only a plain code is echoed).
#[utoipa::path(get, path = "/error", tag = "social", params(ErrorQuery),
    responses((status = 200, description = "The error code", body = ErrorLanding), ErrorLandingErrors))]
async fn error_landing(QueryParams(query): QueryParams<ErrorQuery>) -> Json<ErrorLanding> {
    Json(ErrorLanding {
        error: super::provider_error_code(query.error.as_deref().unwrap_or("unknown")),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenBody {
    /// The account's `id` (from list-accounts).
    #[schema(max_length = 64)]
    account_id: Option<String>,
    /// Or the provider id (the user's first account there).
    #[schema(max_length = 32)]
    provider_id: Option<String>,
}

api_errors!(AccessTokenErrors, POST_JSON; Unauthorized, ImpersonationRestricted, AccountNotFound, FailedToGetAccessToken, ProviderUnavailable);

/// The provider's access token of one of the user's accounts, for the app's backend (only with
/// `social.store_provider_tokens`); refreshed when it is about to expire. Never the refresh token.
/// Not from an impersonated session: the user's provider tokens stay the user's own.
#[utoipa::path(post, path = "/get-access-token", tag = "social", request_body = AccessTokenBody,
    responses((status = 200, description = "The access token", body = super::AccessTokenView), AccessTokenErrors))]
async fn get_access_token(
    State(state): State<AppState>,
    OwnSession(auth): OwnSession,
    JsonBody(body): JsonBody<AccessTokenBody>,
) -> ApiResult<Json<super::AccessTokenView>> {
    Ok(Json(
        super::access_token(
            &state,
            &auth.user,
            body.account_id.as_deref(),
            body.provider_id.as_deref(),
        )
        .await?,
    ))
}
