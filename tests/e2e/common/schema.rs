//! JSON Schema checks of the end-to-end tests: answers forced through a schema's grammar must
//! validate against it.

use serde_json::{json, Value};

/// Fails the test with every validation error when `instance` does not match `schema`.
pub fn assert_valid(schema: &Value, instance: &Value) {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{instance} does not validate: {errors:?}"
    );
}

/// The arguments schema of the `get_weather` tool the client tests force a call of.
pub fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 12},
            "days": {"type": "integer", "minimum": 1, "maximum": 7}
        },
        "required": ["city", "days"]
    })
}
