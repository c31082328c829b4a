//! Tool output as JSON.

use serde_json::Value;

/// A tool's (or a workflow's) output as JSON; output that is not JSON is kept as a string.
pub fn parse_result(output: &str) -> Value {
    serde_json::from_str(output).unwrap_or_else(|_| Value::String(output.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn json_output_is_parsed_and_text_is_kept() {
        assert_eq!(super::parse_result(r#"{"a": 1}"#), json!({"a": 1}));
        assert_eq!(super::parse_result("plain words"), json!("plain words"));
    }
}
