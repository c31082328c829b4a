//! The authoring guide's example tool plugin: one tool, `greet`.
//!
//! `greet {"name": "Ada"}` returns `{"greeting": "Hello, Ada!"}`; the word comes from the
//! `greeting` setting (`[config]` in plugin.toml, `--plugin-config hello-tool:greeting=Hi`).

use serde_json::{json, Value};
use shimmy_plugin_sdk::{config, export_tool, PluginError, Tool, ToolDefinition};

struct HelloTool;

impl Tool for HelloTool {
    fn describe() -> Vec<ToolDefinition> {
        vec![ToolDefinition::new(
            "greet",
            "Greets someone by name.",
            r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#,
        )]
    }

    fn invoke(name: String, arguments: String) -> Result<String, PluginError> {
        if name != "greet" {
            return Err(PluginError::not_found(format!("no tool named {name}")));
        }
        // The host validated `arguments` against the schema, but never trust input: no panics.
        let args: Value = serde_json::from_str(&arguments)
            .map_err(|e| PluginError::invalid_input(format!("arguments are not JSON: {e}")))?;
        let who = args
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| PluginError::invalid_input("`name` must be a string"))?;
        let greeting = config::get_or("greeting", "Hello");
        Ok(json!({ "greeting": format!("{greeting}, {who}!") }).to_string())
    }
}

export_tool!(HelloTool);
