//! `calculator`: one tool, `calculator`, that evaluates an arithmetic expression.
//!
//! Arguments `{"expression": "2 * (3 + 4) ^ 2"}`; result `{"expression": "...", "result": 98}`
//! (a whole number within ±2^53 is written without a fraction). Errors are `invalid-input` with
//! a message that says what is wrong and at which column (1-based, in characters), e.g.
//! `division by zero at column 3`. The grammar is in [`expr`].

pub mod expr;

use serde_json::{json, Value};
use shimmy_plugin_sdk::{export_tool, PluginError, Tool, ToolDefinition};

/// The tool's name.
pub const NAME: &str = "calculator";

/// The JSON schema of the arguments.
pub const SCHEMA: &str = r#"{"type":"object","properties":{"expression":{"type":"string","description":"An arithmetic expression, e.g. 2 * (3 + 4) ^ 2 or sqrt(2) / max(1, pi). Operators + - * / % ^ (power, right-associative), parentheses, unary minus; constants pi, e; functions sqrt abs sin cos tan asin acos atan ln log log10 log2 exp floor ceil round min max (angles in radians)."}},"required":["expression"],"additionalProperties":false}"#;

/// The plugin.
pub struct Calculator;

/// The tool definition.
pub fn definition() -> ToolDefinition {
    ToolDefinition::new(
        NAME,
        "Evaluates an arithmetic expression exactly as written and returns the number. Use it \
         for any arithmetic instead of computing in your head.",
        SCHEMA,
    )
}

/// Runs the tool on JSON `arguments` (pure).
pub fn run(arguments: &str) -> Result<String, PluginError> {
    let args: Value = serde_json::from_str(arguments).map_err(|e| {
        PluginError::invalid_input(format!("calculator: arguments are not JSON: {e}"))
    })?;
    let expression = args
        .get("expression")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            PluginError::invalid_input(
                "calculator: arguments must be an object with a string `expression`",
            )
        })?;
    let value = expr::evaluate(expression)
        .map_err(|e| PluginError::invalid_input(format!("calculator: {e}")))?;
    Ok(json!({"expression": expression, "result": number(value)}).to_string())
}

/// `v` as JSON: an integer when it is a whole number that f64 represents exactly.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_992.0 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

impl Tool for Calculator {
    fn describe() -> Vec<ToolDefinition> {
        vec![definition()]
    }

    fn invoke(name: String, arguments: String) -> Result<String, PluginError> {
        if name != NAME {
            return Err(PluginError::not_found(format!(
                "calculator: no tool named {name} (this plugin has `calculator`)"
            )));
        }
        run(&arguments)
    }
}

export_tool!(Calculator);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_formats() {
        assert_eq!(
            run(r#"{"expression": "2 * (3 + 4) ^ 2"}"#).unwrap(),
            r#"{"expression":"2 * (3 + 4) ^ 2","result":98}"#
        );
        assert_eq!(
            run(r#"{"expression": "1/4"}"#).unwrap(),
            r#"{"expression":"1/4","result":0.25}"#
        );
        let e = run(r#"{"expression": "1/0"}"#).unwrap_err();
        assert_eq!(e.kind(), "invalid-input");
        assert_eq!(e.message(), "calculator: division by zero at column 2");
        assert_eq!(run("{}").unwrap_err().kind(), "invalid-input");
        assert_eq!(run("nope").unwrap_err().kind(), "invalid-input");
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(schema["required"][0], "expression");
    }
}
