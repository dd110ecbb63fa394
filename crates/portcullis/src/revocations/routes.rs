//! The revocation feed over HTTP: a page per request, or a Server-Sent Events stream.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service_token;
use super::{store, Entry};
use crate::access_tokens::keys::publication_after_rotation;
use crate::api_errors;
use crate::db::millis;
use crate::error::ApiResult;
use crate::http::json::QueryParams;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(feed))
        .routes(routes!(stream))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Since {
    /// The `next` cursor of the previous answer. Without it: every revocation that can still
    /// concern a live access token.
    since: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    revocations: Vec<Entry>,
    /// Pass as `since` next time.
    next: i64,
}

api_errors!(FeedErrors, ANY; Unauthorized, ValidationError);

/// Revocations after `since`, oldest first (at most 1000; page with `next`).
#[utoipa::path(get, path = "/revocations", tag = "tokens", params(Since),
    responses((status = 200, description = "A page of the feed, oldest first", body = FeedPage), FeedErrors))]
async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<Since>,
) -> ApiResult<Json<FeedPage>> {
    service_token::check(&state, &headers)?;
    let (revocations, next) = backlog(&state, query.since).await?;
    Ok(Json(FeedPage { revocations, next }))
}

/// The entries a reader starting at `since` needs, and the cursor to continue from.
async fn backlog(state: &AppState, since: Option<i64>) -> ApiResult<(Vec<Entry>, i64)> {
    let entries = match since {
        Some(cursor) => store::after_cursor(&state.db, cursor).await?,
        None => {
            let window = publication_after_rotation(state.config.access_tokens.access_ttl);
            store::recorded_after(&state.db, state.clock.now_ms() - millis(window)).await?
        }
    };
    let next = match (entries.last(), since) {
        (Some(last), _) => last.cursor,
        (None, Some(cursor)) => cursor,
        (None, None) => store::last_cursor(&state.db).await?,
    };
    Ok((entries, next))
}

api_errors!(StreamErrors, ANY; Unauthorized, ValidationError);

/// The feed as Server-Sent Events (`event: revocation`, `id: <cursor>`, JSON data), starting
/// after `since`. The stream ends when the reader falls too far behind; reconnect with the last id.
#[utoipa::path(get, path = "/revocations/stream", tag = "tokens", params(Since),
    responses((status = 200, description = "text/event-stream of revocation entries"), StreamErrors))]
async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<Since>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    service_token::check(&state, &headers)?;
    // Subscribe before reading the backlog so nothing falls between the two.
    let live = state.revocations.subscribe();
    let stopping = state.stopping.subscribe();
    let (backlog, last) = backlog(&state, query.since).await?;
    let events = futures::stream::unfold(
        (backlog.into_iter(), live, stopping, last),
        |(mut backlog, mut live, mut stopping, mut last)| async move {
            if let Some(entry) = backlog.next() {
                let event = to_event(&entry);
                return Some((Ok(event), (backlog, live, stopping, last)));
            }
            loop {
                tokio::select! {
                    received = live.recv() => match received {
                        Ok(entry) if entry.cursor > last => {
                            last = entry.cursor;
                            return Some((Ok(to_event(&entry)), (backlog, live, stopping, last)));
                        }
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
                    },
                    // The server is shutting down: end the stream so shutdown can finish.
                    _ = stopping.changed() => return None,
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn to_event(entry: &Entry) -> Event {
    Event::default()
        .event("revocation")
        .id(entry.cursor.to_string())
        .json_data(entry)
        .expect("entries serialise")
}
