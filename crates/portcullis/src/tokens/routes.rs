//! Token-mode endpoints: the OAuth 2-shaped token endpoint (RFC 6749 §5), revocation (RFC 7009),
//! introspection (RFC 7662) and the published keys.

use axum::extract::{FromRequest, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::refresh::{self, RefreshToken, Refused};
use crate::access_tokens::jwt::{self as access, AccessClaims};
use crate::api_errors;
use crate::audit::{self, Event};
use crate::crypto::tokens::hash_secret;
use crate::db::duration_of;
use crate::error::{ApiError, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::JsonBody;
use crate::organizations;
use crate::rate_limit::{Class, Subject};
use crate::revocations::service_token;
use crate::sessions::extract::CurrentSession;
use crate::sessions::{self, Ending, Session};
use crate::sign_in::challenge::Refusal;
use crate::sign_in::credentials;
use crate::sign_in::start::{self, Method, Outcome, SecondFactor, SignIn};
use crate::sign_in::Channel;
use crate::social;
use crate::state::AppState;
use crate::two_factor::factors::{self, Factor};
use crate::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token_grant, session_token))
        .routes(routes!(revoke))
        .routes(routes!(introspect))
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuthError {
    error: &'static str,
    error_description: String,
    /// Portcullis's error code, where a client must tell this refusal apart (`BANNED_USER`).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip)]
    status: StatusCode,
    /// Seconds, for `Retry-After` (429).
    #[serde(skip)]
    retry_after: Option<u64>,
    /// The error this answer was made from, whose internal cause (if any) must reach the log.
    #[serde(skip)]
    #[schema(ignore)]
    source: Option<ApiError>,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
            code: None,
            status: StatusCode::BAD_REQUEST,
            retry_after: None,
            source: None,
        }
    }

    fn invalid_grant(description: &str) -> Self {
        Self::new("invalid_grant", description)
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        let banned = e.code == ErrorCode::BannedUser;
        let error = match e.status.as_u16() {
            500.. => "server_error",
            429 => "slow_down",
            401 => "invalid_grant",
            _ if banned => "invalid_grant",
            _ => "invalid_request",
        };
        // Throttling keeps its status and Retry-After, a ban its 403 and code (as every other way
        // in answers it); other client errors are 400 (RFC 6749).
        let keeps_status =
            e.status.is_server_error() || e.status == StatusCode::TOO_MANY_REQUESTS || banned;
        Self {
            error,
            error_description: e.message.to_string(),
            code: banned.then_some(e.code.as_str()),
            status: if keeps_status {
                e.status
            } else {
                StatusCode::BAD_REQUEST
            },
            retry_after: e.retry_after,
            source: Some(e),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(mut self) -> Response {
        let mut response = (self.status, Json(&self)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(source) = self.source.take() {
            source.carry_cause_into(&mut response);
        }
        response
    }
}

/// A body sent as JSON or as `application/x-www-form-urlencoded` (what RFC 6749 prescribes).
pub struct JsonOrForm<T>(pub T);

impl<S, T> FromRequest<S> for JsonOrForm<T>
where
    T: DeserializeOwned + 'static,
    S: Send + Sync,
{
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, OAuthError> {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            Form::<T>::from_request(req, state)
                .await
                .map(|Form(value)| Self(value))
                .map_err(|e| OAuthError::new("invalid_request", e.body_text()))
        } else {
            JsonBody::<T>::from_request(req, state)
                .await
                .map(|JsonBody(value)| Self(value))
                .map_err(|e| OAuthError::new("invalid_request", e.message))
        }
    }
}

/// The grants the token endpoint knows (any other is `unsupported_grant_type`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents the values `grant_type` takes
enum GrantType {
    Password,
    RefreshToken,
    MfaTotp,
    MfaBackupCode,
    IdToken,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// `password`, `refresh_token`, `id_token` (a social provider's ID token), or after
    /// `mfa_required`: `mfa_totp` or `mfa_backup_code`.
    #[schema(value_type = GrantType)]
    grant_type: String,
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: Option<String>,
    #[schema(max_length = 128)]
    password: Option<String>,
    /// For `refresh_token`; may instead come from the refresh cookie.
    refresh_token: Option<String>,
    /// For `mfa_totp` and `mfa_backup_code`: the `mfa_token` of the `mfa_required` answer.
    mfa_token: Option<String>,
    /// For `mfa_totp` (a TOTP code) and `mfa_backup_code` (a backup code).
    code: Option<String>,
    /// `cookie`: deliver the refresh token in an HttpOnly cookie scoped to this endpoint instead of
    /// the body (browser clients).
    refresh_token_delivery: Option<String>,
    /// For `id_token`: a configured social provider (`google`, `apple`, ...).
    #[schema(max_length = 32)]
    provider: Option<String>,
    /// For `id_token`: the provider's ID token, as a native app got it.
    #[schema(max_length = 8192)]
    id_token: Option<String>,
    /// For `id_token`: the nonce the app sent to the provider (checked when given).
    #[schema(max_length = 256)]
    nonce: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// Absent when delivered in the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    user: User,
}

/// Issues tokens: `grant_type=password` (email + password; starts a session) or
/// `grant_type=refresh_token` (rotates the refresh token). JSON or form bodies. For an account
/// with two-factor, the password grant answers 403 `mfa_required` with an `mfa_token`, and
/// `grant_type=mfa_totp` or `mfa_backup_code` (`mfa_token` + `code`) completes it.
#[utoipa::path(post, path = "/token", tag = "tokens", request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens issued", body = TokenAnswer),
        (status = 403, description = "mfa_required", body = MfaRequired),
        (status = 429, description = "slow_down, with Retry-After", body = OAuthError),
        (status = 400, description = "invalid_request, invalid_grant or unsupported_grant_type", body = OAuthError)))]
async fn token_grant(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    JsonOrForm(request): JsonOrForm<TokenRequest>,
) -> Result<Response, OAuthError> {
    match request.grant_type.as_str() {
        "password" => password_grant(&state, &client, request).await,
        "refresh_token" => refresh_grant(&state, &client, &headers, request).await,
        "mfa_totp" | "mfa_backup_code" => mfa_grant(&state, &client, request).await,
        "id_token" => id_token_grant(&state, &client, request).await,
        other => Err(OAuthError::new(
            "unsupported_grant_type",
            format!(
                "grant_type `{other}` is not supported; use password, refresh_token, id_token, mfa_totp or mfa_backup_code"
            ),
        )),
    }
}

async fn password_grant(
    state: &AppState,
    client: &ClientInfo,
    request: TokenRequest,
) -> Result<Response, OAuthError> {
    let (Some(email), Some(password)) = (&request.email, &request.password) else {
        return Err(OAuthError::new(
            "invalid_request",
            "email and password are required",
        ));
    };
    let user = credentials::check(state, email, password, client)
        .await
        .map_err(|e| {
            if e.code == ErrorCode::InvalidEmailOrPassword {
                OAuthError::invalid_grant("Invalid email or password")
            } else {
                e.into()
            }
        })?;
    let second_factor = SecondFactor::NotShown {
        trusted_device: None,
    };
    signed_in(
        state,
        client,
        user,
        Method::Password,
        second_factor,
        &request,
    )
    .await
}

/// `grant_type=id_token`: a native app's ID token from a social provider (verified as for
/// `/sign-in/social` with `idToken`), exchanged for this server's tokens.
async fn id_token_grant(
    state: &AppState,
    client: &ClientInfo,
    request: TokenRequest,
) -> Result<Response, OAuthError> {
    let (Some(provider), Some(id_token)) = (&request.provider, &request.id_token) else {
        return Err(OAuthError::new(
            "invalid_request",
            "provider and id_token are required",
        ));
    };
    let (user, method) =
        social::id_token_user(state, provider, id_token, request.nonce.as_deref(), client).await?;
    let second_factor = social::second_factor(state, None);
    signed_in(state, client, user, method, second_factor, &request).await
}

/// Starts a session for a user who proved who they are (or opens the second-factor challenge
/// that must complete it), and answers its first tokens.
async fn signed_in(
    state: &AppState,
    client: &ClientInfo,
    user: User,
    method: Method<'_>,
    second_factor: SecondFactor<'_>,
    request: &TokenRequest,
) -> Result<Response, OAuthError> {
    let sign_in = SignIn {
        user,
        method,
        channel: Channel::Token,
        persistent: true,
        client,
        second_factor,
    };
    let (session, user) = match start::start(state, sign_in).await? {
        Outcome::Started(started) => (started.session, started.user),
        Outcome::SecondFactorRequired(required) => {
            return Ok(MfaRequired::answer(required.challenge_token))
        }
    };
    let refresh_token = refresh::first(state, &session);
    answer(state, &session, user, refresh_token, wants_cookie(request)).await
}

/// The password grant's answer for an account with two-factor.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MfaRequired {
    /// `mfa_required`.
    error: &'static str,
    error_description: &'static str,
    /// Names this sign-in in the `mfa_totp` or `mfa_backup_code` grant that completes it.
    mfa_token: String,
    mfa_methods: [&'static str; 2],
}

impl MfaRequired {
    fn answer(mfa_token: String) -> Response {
        let body = Self {
            error: "mfa_required",
            error_description: "A second factor is required",
            mfa_token,
            mfa_methods: ["totp", "backup_code"],
        };
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    }
}

async fn mfa_grant(
    state: &AppState,
    client: &ClientInfo,
    request: TokenRequest,
) -> Result<Response, OAuthError> {
    let (Some(mfa_token), Some(code)) = (&request.mfa_token, &request.code) else {
        return Err(OAuthError::new(
            "invalid_request",
            "mfa_token and code are required",
        ));
    };
    state
        .limits
        .check(Class::TwoFactor, Subject::Ip(client.ip))
        .await?;
    let factor = if request.grant_type == "mfa_totp" {
        Factor::Totp(code)
    } else {
        Factor::BackupCode(code)
    };
    let completed = factors::complete_challenge(state, mfa_token, Channel::Token, factor, client);
    let user = match completed.await {
        Ok((user, _)) => user,
        Err(Refusal::NoChallenge) => {
            return Err(OAuthError::invalid_grant(
                "The mfa_token is invalid, expired, used, or out of attempts",
            ))
        }
        Err(Refusal::WrongCode { last }) => {
            return Err(OAuthError::invalid_grant(if last {
                "Invalid code; that was the last attempt, sign in again"
            } else {
                "Invalid code"
            }))
        }
        Err(Refusal::NotSetUp) => {
            return Err(OAuthError::invalid_grant(
                "Two-factor is no longer enabled; sign in again",
            ))
        }
        Err(Refusal::Error(e)) => return Err(e.into()),
    };
    let second_factor = SecondFactor::Passed {
        trust_device: false,
    };
    signed_in(
        state,
        client,
        user,
        Method::Password,
        second_factor,
        &request,
    )
    .await
}

async fn refresh_grant(
    state: &AppState,
    client: &ClientInfo,
    headers: &HeaderMap,
    request: TokenRequest,
) -> Result<Response, OAuthError> {
    let from_cookie = request.refresh_token.is_none();
    let presented = match &request.refresh_token {
        Some(token) => token.clone(),
        None => state
            .refresh_cookie
            .read(headers)
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is required"))?,
    };
    match refresh::rotate(state, &presented, client).await {
        Ok((session, user, successor)) => {
            answer(
                state,
                &session,
                user,
                successor,
                from_cookie || wants_cookie(&request),
            )
            .await
        }
        Err(Refused::Invalid) => Err(OAuthError::invalid_grant(
            "The refresh token is invalid, expired or revoked",
        )),
        Err(Refused::Reused) => Err(OAuthError::invalid_grant(
            "The refresh token was already used; the session has been revoked",
        )),
        Err(Refused::Internal(e)) => Err(e.into()),
    }
}

fn wants_cookie(request: &TokenRequest) -> bool {
    request.refresh_token_delivery.as_deref() == Some("cookie")
}

async fn answer(
    state: &AppState,
    session: &Session,
    user: User,
    refresh_token: String,
    in_cookie: bool,
) -> Result<Response, OAuthError> {
    let organization = organizations::token_claims(state, session).await?;
    let (access_token, claims) =
        access::issue(state, &session.id, session.ends_at(), &user, organization)
            .await
            .map_err(|e| {
                OAuthError::from(ApiError::caused_by(e.context("sign an access token")))
            })?;
    let body = TokenAnswer {
        access_token,
        token_type: "Bearer",
        expires_in: claims.exp - state.clock.now_ms() / 1000,
        refresh_token: (!in_cookie).then(|| refresh_token.clone()),
        user,
    };
    if !in_cookie {
        return Ok(Json(body).into_response());
    }
    let max_age = duration_of(session.absolute_expires_at - state.clock.now_ms());
    let cookie = state.refresh_cookie.set(&refresh_token, Some(max_age));
    Ok(([(SET_COOKIE, cookie)], Json(body)).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionTokenAnswer {
    /// An access token for the current session.
    token: String,
}

api_errors!(SessionTokenErrors, ANY; Unauthorized);

/// An access token for the current cookie or bearer session (better-auth's jwt plugin shape).
#[utoipa::path(get, path = "/token", tag = "tokens",
    responses((status = 200, description = "An access token for this session", body = SessionTokenAnswer), SessionTokenErrors))]
async fn session_token(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> Result<Json<SessionTokenAnswer>, ApiError> {
    let organization = organizations::token_claims(&state, &auth.session).await?;
    let (token, _) = access::issue(
        &state,
        &auth.session.id,
        auth.session.ends_at(),
        &auth.user,
        organization,
    )
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(SessionTokenAnswer { token }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenBody {
    token: String,
    /// `access_token`, `refresh_token` or `session_token`; only a hint.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// Revokes the session behind a refresh token, access token or session token (RFC 7009).
/// Always answers 200, whether or not the token meant anything.
#[utoipa::path(post, path = "/revoke", tag = "tokens", request_body = TokenBody,
    responses((status = 200, description = "Revoked, or nothing to revoke"), (status = 400, description = "invalid_request", body = OAuthError)))]
async fn revoke(
    State(state): State<AppState>,
    client: ClientInfo,
    JsonOrForm(body): JsonOrForm<TokenBody>,
) -> Result<Json<Value>, OAuthError> {
    let token = body.token.trim();
    let session_id = if let Some(refresh) = RefreshToken::decode(token, &state.refresh_key) {
        Some(refresh.session_id)
    } else if access::looks_like_jwt(token) {
        access::verify(&state, token).await.map(|claims| claims.sid)
    } else {
        None
    };
    let ended = match &session_id {
        Some(id) => sessions::end(&state, Ending::Id(id)).await?,
        None => sessions::end(&state, Ending::TokenHash(&hash_secret(token))).await?,
    };
    if let Some(id) = ended.first() {
        audit::record(&state, Event::SessionsRevoked, None, Some(id), &client).await;
    }
    Ok(Json(json!({})))
}

/// `{"active": false}`, or `active: true` with the token's claims (RFC 7662 §2.2).
#[derive(Serialize)]
pub struct Introspection {
    active: bool,
    #[serde(flatten)]
    claims: Option<AccessClaims>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
}

/// Written by hand: derived, the flattened claims would be required even when `active` is false.
impl utoipa::PartialSchema for Introspection {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        let number = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .description(Some(description))
        };
        ObjectBuilder::new()
            .property(
                "active",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some(
                        "Whether the token is an access token of ours, unexpired, its session live",
                    )),
            )
            .required("active")
            .property("token_type", text("`access_token` when active"))
            .property("iss", text("Issuer"))
            .property("sub", text("User id"))
            .property("aud", text("Audience"))
            .property("exp", number("Expiry, unix seconds"))
            .property("iat", number("Issued at, unix seconds"))
            .property("nbf", number("Not before, unix seconds"))
            .property("jti", text("Token id"))
            .property("sid", text("Session id"))
            .property("email", text("The user's email"))
            .property(
                "email_verified",
                ObjectBuilder::new().schema_type(Type::Boolean),
            )
            .property("role", text("The user's role"))
            .into()
    }
}

impl utoipa::ToSchema for Introspection {}

api_errors!(IntrospectErrors, POST; Unauthorized);

/// Whether an access token is active (RFC 7662): signed by us, unexpired, of the right type, and
/// its session not revoked. Anything else is `{"active": false}`.
#[utoipa::path(post, path = "/introspect", tag = "tokens", request_body = TokenBody,
    responses(
        (status = 200, description = "Whether the token is active, with its claims when it is", body = Introspection),
        (status = 400, description = "invalid_request (the body is neither JSON nor a form)", body = OAuthError),
        IntrospectErrors))]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<TokenBody>,
) -> Result<Json<Introspection>, Response> {
    service_token::check(&state, &headers).map_err(IntoResponse::into_response)?;
    let inactive = Introspection {
        active: false,
        claims: None,
        token_type: None,
    };
    let Some(claims) = access::verify(&state, body.token.trim()).await else {
        return Ok(Json(inactive));
    };
    let live = sessions::live_by_id(&state, &claims.sid)
        .await
        .map_err(IntoResponse::into_response)?
        .is_some_and(|(_, user)| user.id == claims.sub);
    if !live {
        return Ok(Json(inactive));
    }
    Ok(Json(Introspection {
        active: true,
        claims: Some(claims),
        token_type: Some("access_token"),
    }))
}
