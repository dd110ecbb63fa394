//! Session endpoints of the better-auth protocol.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{CurrentSession, MaybeSession};
use super::{Ending, SessionView, Via};
use crate::audit::{self, Event};
use crate::crypto::tokens::hash_secret;

use crate::api_errors;
use crate::error::ApiResult;
use crate::http::answers::{StatusAnswer, SuccessAnswer};
use crate::http::client::ClientInfo;
use crate::http::json::{JsonBody, OptionalJsonBody};
use crate::sessions;
use crate::state::AppState;
use crate::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_session))
        .routes(routes!(sign_out))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_sessions))
        .routes(routes!(revoke_other_sessions))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionAndUser {
    session: SessionView,
    user: User,
}

api_errors!(GetSessionErrors, ANY);

/// The current session and user, or `null` when the request has no live session.
#[utoipa::path(get, path = "/get-session", tag = "sessions",
    responses((status = 200, description = "The session, or null", body = Option<SessionAndUser>), GetSessionErrors))]
async fn get_session(State(state): State<AppState>, current: MaybeSession) -> Response {
    let Some(auth) = current.auth else {
        // A dead cookie is cleared so the browser stops sending it.
        return match current.presented {
            Some((_, Via::Cookie)) => (
                [(SET_COOKIE, state.session_cookie.clear())],
                Json(json!(null)),
            )
                .into_response(),
            _ => Json(json!(null)).into_response(),
        };
    };
    let body = Json(SessionAndUser {
        session: SessionView::of(&auth.session, true),
        user: auth.user.clone(),
    });
    if auth.extended && auth.via == Via::Cookie {
        if let Some((token, _)) = &current.presented {
            let cookie = super::cookie_for(&state, token, &auth.session);
            return ([(SET_COOKIE, cookie)], body).into_response();
        }
    }
    body.into_response()
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignOutScope {
    /// This session only (the default).
    #[default]
    Local,
    /// Every session of the user.
    Global,
    /// Every session of the user but this one.
    Others,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct SignOutBody {
    #[serde(default)]
    scope: SignOutScope,
}

api_errors!(SignOutErrors, POST_JSON);

/// Ends the session that made the request (with a session cookie, session token or access token);
/// `scope` widens it to every session (`global`) or every other one (`others`). Idempotent, like
/// better-auth's: without a live session it still answers success and clears the cookie.
#[utoipa::path(post, path = "/sign-out", tag = "sessions", request_body = Option<SignOutBody>,
    responses((status = 200, description = "Signed out (also when there was no live session)", body = SuccessAnswer), SignOutErrors))]
async fn sign_out(
    State(state): State<AppState>,
    client: ClientInfo,
    current: MaybeSession,
    OptionalJsonBody(body): OptionalJsonBody<SignOutBody>,
) -> ApiResult<Response> {
    match (&current.auth, &current.presented) {
        (Some(auth), _) => {
            let user_id = auth.user.id.as_str();
            let session_id = auth.session.id.as_str();
            let which = match body.scope {
                SignOutScope::Local => Ending::Id(session_id),
                SignOutScope::Global => Ending::AllOfUser(user_id),
                SignOutScope::Others => Ending::OthersOfUser {
                    user_id,
                    keep: session_id,
                },
            };
            sessions::end(&state, which).await?;
            audit::record(
                &state,
                Event::SignOut,
                Some(user_id),
                Some(session_id),
                &client,
            )
            .await;
        }
        (None, Some((token, Via::Cookie | Via::Bearer))) => {
            sessions::end(&state, Ending::TokenHash(&hash_secret(token))).await?;
        }
        (None, _) => {}
    }
    let keep_cookie = matches!(body.scope, SignOutScope::Others);
    let answer = Json(SuccessAnswer::OK);
    if keep_cookie {
        return Ok(answer.into_response());
    }
    Ok(([(SET_COOKIE, state.session_cookie.clear())], answer).into_response())
}

api_errors!(ListSessionsErrors, ANY; Unauthorized);

/// The user's live sessions, newest first. `current` marks the one making the request.
/// No session's secret token is ever returned: `token` repeats the session id.
#[utoipa::path(get, path = "/list-sessions", tag = "sessions",
    responses((status = 200, description = "The live sessions, newest first", body = Vec<SessionView>), ListSessionsErrors))]
async fn list_sessions(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> ApiResult<Json<Vec<SessionView>>> {
    let sessions = sessions::list(&state, &auth.user.id).await?;
    Ok(Json(
        sessions
            .iter()
            // An administrator's impersonation is not the user's to see or end, unless it is
            // the session asking (as better-auth's admin plugin filters them).
            .filter(|s| s.impersonated_by.is_none() || s.id == auth.session.id)
            .map(|s| SessionView::of(s, s.id == auth.session.id))
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevokeSessionBody {
    /// The session's id as list-sessions gives it (in `id` or `token`), or the session's token.
    token: String,
}

api_errors!(RevokeSessionErrors, POST_JSON; Unauthorized);

/// Ends one of the user's own sessions, named by its id (or its token).
#[utoipa::path(post, path = "/revoke-session", tag = "sessions", request_body = RevokeSessionBody,
    responses((status = 200, description = "The session is ended", body = StatusAnswer), RevokeSessionErrors))]
async fn revoke_session(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
    JsonBody(body): JsonBody<RevokeSessionBody>,
) -> ApiResult<Response> {
    let revoked = sessions::revoke_own(&state, &client, &auth, &body.token).await?;
    let answer = Json(StatusAnswer::OK);
    if revoked.contains(&auth.session.id) && auth.via == Via::Cookie {
        return Ok(([(SET_COOKIE, state.session_cookie.clear())], answer).into_response());
    }
    Ok(answer.into_response())
}

api_errors!(RevokeSessionsErrors, POST; Unauthorized);

/// Ends every session of the user, this one included.
#[utoipa::path(post, path = "/revoke-sessions", tag = "sessions",
    responses((status = 200, description = "Every session is ended", body = StatusAnswer), RevokeSessionsErrors))]
async fn revoke_sessions(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
) -> ApiResult<Response> {
    sessions::end(&state, Ending::AllOfUser(&auth.user.id)).await?;
    audit::record(
        &state,
        Event::SessionsRevoked,
        Some(&auth.user.id),
        None,
        &client,
    )
    .await;
    Ok((
        [(SET_COOKIE, state.session_cookie.clear())],
        Json(StatusAnswer::OK),
    )
        .into_response())
}

api_errors!(RevokeOtherSessionsErrors, POST; Unauthorized);

/// Ends every session of the user except this one.
#[utoipa::path(post, path = "/revoke-other-sessions", tag = "sessions",
    responses((status = 200, description = "Every other session is ended", body = StatusAnswer), RevokeOtherSessionsErrors))]
async fn revoke_other_sessions(
    State(state): State<AppState>,
    client: ClientInfo,
    CurrentSession(auth): CurrentSession,
) -> ApiResult<Json<StatusAnswer>> {
    sessions::revoke_others(&state, &client, &auth).await?;
    Ok(Json(StatusAnswer::OK))
}
