//! Small pieces every protocol's request parsing shares.

use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ServerError;

/// `a string`, `an array`... for messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Converts a JSON object into a request type; the message names the field at fault.
pub fn from_json<T: DeserializeOwned>(value: Value) -> Result<T, ServerError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path.is_empty() || path == "." {
            ServerError::invalid("", inner)
        } else {
            ServerError::invalid(path.clone(), format!("`{path}`: {inner}"))
        }
    })
}

/// Refuses fields outside `known` (so that nothing a client asks for is silently ignored).
pub fn check_fields(value: &Value, known: &[&str], what: &str) -> Result<(), ServerError> {
    let Some(object) = value.as_object() else {
        return Ok(());
    };
    let unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    match unknown.as_slice() {
        [] => Ok(()),
        [one] => Err(ServerError::unsupported(
            *one,
            format!("`{one}` is not a parameter {what} supports"),
        )),
        many => Err(ServerError::unsupported(
            many[0],
            format!(
                "these parameters are not supported {what}: {}",
                many.join(", ")
            ),
        )),
    }
}

/// The Unix time now, in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
