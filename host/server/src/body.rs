//! The JSON body of a request, read into its protocol's request struct. Any `Content-Type` is
//! accepted (curl's `-d` sends a form type); a body that is empty, not JSON, not an object, too
//! large, of the wrong shape or with fields the protocol refuses is answered in the route
//! family's error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::Value;

use crate::error::{flavor_of, ApiError, ServerError};
use crate::state::SharedState;
use crate::wire::{from_json, json_kind, WireRequest};

/// A request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<T: WireRequest> FromRequest<SharedState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &SharedState) -> Result<Self, Self::Rejection> {
        let flavor = flavor_of(req.uri().path());
        let limit = state.config.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ServerError::PayloadTooLarge { limit }
            } else {
                ServerError::invalid("", rejection.body_text())
            };
            ApiError { error, flavor }
        })?;
        read(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError { error, flavor })
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
