//! A JSON body extractor whose every rejection is a `{message, code}` answer with a 4xx status.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(req.headers()) {
            return Err(ErrorCode::UnsupportedMediaType.into());
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(rejection) => return Err(describe_bytes(rejection)),
        };
        // serde reads a struct from a JSON array too (field by field, in order), so `[null,
        // null]` would pass for `{"name": null, "image": null}`: only an object is a body here.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(
                ApiError::from(ErrorCode::ValidationError).with_message("Expected a JSON object")
            );
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(describe(rejection)),
        }
    }
}

/// `application/json`, or any `application/*+json` type, with or without parameters.
fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > "application/".len()
            && essence[.."application/".len()].eq_ignore_ascii_case("application/")
            && essence.to_ascii_lowercase().ends_with("+json"))
}

fn describe_bytes(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::PayloadTooLarge.into()
    } else {
        ApiError::from(ErrorCode::InvalidBody).with_message(rejection.body_text())
    }
}

fn describe(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::from(ErrorCode::ValidationError)
            .with_message(strip_axum_prefix(&e.body_text())),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::from(ErrorCode::InvalidJson).with_message(strip_axum_prefix(&e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::from(ErrorCode::UnsupportedMediaType),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::from(ErrorCode::PayloadTooLarge)
        }
        other => ApiError::from(ErrorCode::InvalidBody).with_message(other.body_text()),
    }
}

/// axum prefixes serde's precise message with a generic sentence; keep the precise part.
fn strip_axum_prefix(text: &str) -> String {
    text.split_once(": ")
        .map_or(text, |(_, detail)| detail)
        .to_owned()
}

/// A JSON body that may be absent (no body at all means `T::default()`), for endpoints whose
/// every field is optional and whose clients sometimes send nothing.
pub struct OptionalJsonBody<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|len| len == "0")
            || (req
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .is_none()
                && req
                    .headers()
                    .get(axum::http::header::TRANSFER_ENCODING)
                    .is_none());
        if empty {
            return Ok(Self(T::default()));
        }
        JsonBody::<T>::from_request(req, state)
            .await
            .map(|JsonBody(value)| Self(value))
    }
}

/// Query-string parameters whose rejection is a `{message, code}` 400, like bodies'.
pub struct QueryParams<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e| {
                ApiError::from(ErrorCode::ValidationError)
                    .with_message(strip_axum_prefix(&e.body_text()))
            })
    }
}
