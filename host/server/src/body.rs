//! The JSON body of a request, read into its protocol's request struct. The `Content-Type`
//! must be JSON (`application/json`, `*/*+json`; see [`check_content_type`] for the two
//! exceptions curl needs); a body that is empty, not JSON, not an object, too large, of the
//! wrong shape or with fields the protocol refuses is answered in the route family's error
//! shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::{flavor_of, ApiError, ServerError};
use crate::state::SharedState;
use crate::wire::{from_json, json_kind, WireRequest};

/// A request body of type `T`.
pub struct JsonBody<T>(pub T);

/// Bodies larger than this are parsed on a blocking thread: a 16 MiB body takes the parser
/// long enough to hold up the other requests on an async worker.
const PARSE_INLINE_BYTES: usize = 64 * 1024;

impl<T: WireRequest + Send + 'static> FromRequest<SharedState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &SharedState) -> Result<Self, Self::Rejection> {
        let flavor = flavor_of(req.uri().path());
        check_content_type(req.headers()).map_err(|error| ApiError { error, flavor })?;
        let limit = state.config.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ServerError::PayloadTooLarge { limit }
            } else {
                ServerError::invalid("", rejection.body_text())
            };
            ApiError { error, flavor }
        })?;
        let parsed = if bytes.len() <= PARSE_INLINE_BYTES {
            read(&bytes)
        } else {
            tokio::task::spawn_blocking(move || read(&bytes))
                .await
                .unwrap_or_else(|e| Err(e.into()))
        };
        parsed
            .map(JsonBody)
            .map_err(|error| ApiError { error, flavor })
    }
}

/// Refuses (415) a body that is not declared as JSON. A web page can send `text/plain`, a
/// form type or no type at all to any server without a CORS preflight, so those are what
/// a hostile page would use. Two exceptions serve clients that are not browsers (a browser
/// always sends `Origin` with a POST): `curl -d` sends `application/x-www-form-urlencoded`,
/// and some clients send no type; both are accepted when the request has no `Origin`.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ServerError> {
    let from_browser = headers.contains_key(header::ORIGIN);
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return if from_browser {
            Err(ServerError::UnsupportedMediaType {
                content_type: "none".into(),
            })
        } else {
            Ok(())
        };
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    let json = essence == "application/json"
        || essence
            .split_once('/')
            .is_some_and(|(_, sub)| sub.ends_with("+json"));
    if json || (essence == "application/x-www-form-urlencoded" && !from_browser) {
        Ok(())
    } else {
        Err(ServerError::UnsupportedMediaType {
            content_type: text.chars().take(100).collect(),
        })
    }
}

/// Reads a body into `T` and applies its protocol's policy for unknown fields.
pub fn read<T: WireRequest>(bytes: &[u8]) -> Result<T, ServerError> {
    let request: T = from_json(parse_json(bytes)?)?;
    request.unknown().check(T::UNKNOWN_FIELDS, T::READER)?;
    Ok(request)
}

/// Parses a JSON body; the message says where it broke.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ServerError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ServerError::invalid(
            "",
            "the request body is empty; send a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ServerError::invalid("", format!("the request body is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(ServerError::invalid(
            "",
            format!(
                "the request body must be a JSON object, not {}",
                json_kind(&value)
            ),
        ));
    }
    Ok(value)
}
