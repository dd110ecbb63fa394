//! Password sign-in: `POST /api/auth/sign-in/email`.

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::start::{self, Outcome};
use super::{challenge_response, credentials};
use crate::api_errors;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::client::ClientInfo;
use crate::http::json::JsonBody;
use crate::http::redirect::check_callback;
use crate::state::AppState;
use crate::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInBody {
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
    #[schema(max_length = 128)]
    password: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    remember_me: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInAnswer {
    redirect: bool,
    token: String,
    url: Option<String>,
    user: User,
}

api_errors!(SignInErrors, POST_JSON; InvalidCallbackUrl, InvalidEmail, PasswordTooLong, InvalidEmailOrPassword, EmailNotVerified);

/// Signs in with email and password, starting a new session; for an account with two-factor (on
/// an untrusted browser) it answers a challenge instead (see docs/two-factor.md).
/// An unknown email and a wrong password get the same answer, after the same work.
#[utoipa::path(post, path = "/sign-in/email", tag = "accounts", request_body = SignInBody,
    responses((status = 200, description = "Signed in (or a two-factor challenge, see docs/two-factor.md)", body = SignInAnswer), SignInErrors))]
async fn sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignInBody>,
) -> ApiResult<Response> {
    if let Some(callback) = &body.callback_url {
        check_callback(&state, callback, ErrorCode::InvalidCallbackUrl)?;
    }
    let user = credentials::check(&state, &body.email, &body.password, &client).await?;
    let persistent = body.remember_me != Some(false);
    let trusted_device = state.trusted_device_cookie.read(&headers);
    let outcome = start::after_password(&state, user, persistent, &client, trusted_device).await?;
    let started = match outcome {
        Outcome::Started(started) => started,
        Outcome::SecondFactorRequired(required) => {
            return Ok(challenge_response(&state, &required))
        }
    };
    let mut response = Json(SignInAnswer {
        redirect: body.callback_url.is_some(),
        token: started.token.clone(),
        url: body.callback_url.clone(),
        user: started.user.clone(),
    })
    .into_response();
    started.set_cookies(&state, response.headers_mut());
    if let Some(url) = body.callback_url {
        let location = HeaderValue::try_from(url).map_err(ApiError::internal)?;
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}
