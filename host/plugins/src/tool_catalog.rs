//! Every tool of every loaded tool plugin, by tool name: listing, validation of a call's
//! arguments against the tool's JSON schema, and invocation.
//!
//! The catalog is built once from a [`PluginRegistry`] (each tool plugin's `describe`). Tool
//! names are global: when two plugins offer the same name, the first one loaded wins and the
//! other is reported in [`ToolCatalog::conflicts`]. Arguments are checked before the plugin
//! sees them, so a plugin only ever receives a JSON object valid against its own schema.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{PluginError, Result};
use crate::manifest::PluginKind;
use crate::registry::PluginRegistry;
use shimmy_core::chat::ToolDefinition;

/// One tool and the plugin that provides it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolEntry {
    /// The tool plugin that implements it.
    pub plugin: String,
    /// Name, description and argument schema.
    pub definition: ToolDefinition,
}

/// Every tool the host offers.
pub struct ToolCatalog {
    entries: Vec<ToolEntry>,
    validators: HashMap<String, std::result::Result<jsonschema::Validator, String>>,
    conflicts: Vec<String>,
    failures: Vec<(String, String)>,
}

impl ToolCatalog {
    /// Asks every tool plugin of `registry` for its tools. A plugin whose `describe` fails is
    /// left out (see [`ToolCatalog::failures`]); the others still count.
    pub async fn load(registry: &PluginRegistry) -> ToolCatalog {
        let mut catalog = ToolCatalog {
            entries: Vec::new(),
            validators: HashMap::new(),
            conflicts: Vec::new(),
            failures: Vec::new(),
        };
        for plugin in registry.names(PluginKind::Tool) {
            match registry.describe_tools(&plugin).await {
                Ok(tools) => {
                    for definition in tools {
                        catalog.add(plugin.clone(), definition);
                    }
                }
                Err(e) => {
                    tracing::warn!("tool plugin {plugin} left out: {e}");
                    catalog.failures.push((plugin, e.to_string()));
                }
            }
        }
        catalog
    }

    /// A catalog of the given tools (for tests and hosts without plugins).
    pub fn from_entries(entries: impl IntoIterator<Item = ToolEntry>) -> ToolCatalog {
        let mut catalog = ToolCatalog {
            entries: Vec::new(),
            validators: HashMap::new(),
            conflicts: Vec::new(),
            failures: Vec::new(),
        };
        for e in entries {
            catalog.add(e.plugin, e.definition);
        }
        catalog
    }

    fn add(&mut self, plugin: String, definition: ToolDefinition) {
        if let Some(first) = self.get(&definition.name) {
            let message = format!(
                "tool \"{}\" of plugin \"{plugin}\" is hidden by the tool of the same name of plugin \"{}\"",
                definition.name, first.plugin
            );
            tracing::warn!("{message}");
            self.conflicts.push(message);
            return;
        }
        let validator = compile_schema(&definition.parameters_schema);
        if let Err(e) = &validator {
            tracing::warn!(
                "tool \"{}\" of plugin \"{plugin}\" has an unusable schema: {e}",
                definition.name
            );
        }
        self.validators.insert(definition.name.clone(), validator);
        self.entries.push(ToolEntry { plugin, definition });
    }

    /// Every tool, in plugin load order.
    pub fn list(&self) -> &[ToolEntry] {
        &self.entries
    }

    /// The definitions only (what a model is offered).
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.entries.iter().map(|e| e.definition.clone()).collect()
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.entries.iter().find(|e| e.definition.name == name)
    }

    /// Tools hidden by a tool of the same name, one message each.
    pub fn conflicts(&self) -> &[String] {
        &self.conflicts
    }

    /// Tool plugins whose `describe` failed: (plugin, error).
    pub fn failures(&self) -> &[(String, String)] {
        &self.failures
    }

    /// The tool `name`, or [`PluginError::UnknownTool`] listing the tools there are.
    pub fn require(&self, name: &str) -> Result<&ToolEntry> {
        self.get(name).ok_or_else(|| PluginError::UnknownTool {
            name: name.to_string(),
            available: if self.entries.is_empty() {
                "none".to_string()
            } else {
                self.entries
                    .iter()
                    .map(|e| e.definition.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// Parses `arguments` and checks them against the tool's schema. The error names the
    /// first failing field as a JSON pointer (`/expression`, or `/` for the whole object).
    pub fn validate(&self, name: &str, arguments: &str) -> Result<Value> {
        self.require(name)?;
        let invalid = |field: &str, reason: String| PluginError::InvalidArguments {
            tool: name.to_string(),
            field: field.to_string(),
            reason,
        };
        let text = if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| invalid("/", format!("the arguments are not valid JSON ({e})")))?;
        if !value.is_object() {
            let mut shown = value.to_string();
            if shown.len() > 40 {
                shown = format!("{}…", shown.chars().take(40).collect::<String>());
            }
            return Err(invalid(
                "/",
                format!("the arguments must be a JSON object, not `{shown}`"),
            ));
        }
        match self.validators.get(name) {
            Some(Ok(validator)) => {
                // Every problem (a few at most), so one round trip fixes the call.
                let errors: Vec<(String, String)> = validator
                    .iter_errors(&value)
                    .take(4)
                    .map(|e| (e.instance_path().to_string(), e.to_string()))
                    .collect();
                if let Some((path, _)) = errors.first() {
                    let field = if path.is_empty() { "/" } else { path.as_str() };
                    let reasons: Vec<&str> = errors.iter().map(|(_, m)| m.as_str()).collect();
                    return Err(invalid(field, reasons.join("; ")));
                }
            }
            Some(Err(reason)) => {
                return Err(PluginError::InvalidToolSchema {
                    tool: name.to_string(),
                    reason: reason.clone(),
                })
            }
            None => {}
        }
        Ok(value)
    }

    /// Validates `arguments` and runs the tool; returns its JSON result (as the plugin wrote it).
    pub async fn invoke(
        &self,
        registry: &PluginRegistry,
        name: &str,
        arguments: &str,
    ) -> Result<String> {
        let value = self.validate(name, arguments)?;
        let plugin = self.require(name)?.plugin.clone();
        registry
            .invoke_tool(&plugin, name, &value.to_string())
            .await
    }
}

/// Compiles a tool's argument schema; `""` means "any object".
fn compile_schema(schema: &str) -> std::result::Result<jsonschema::Validator, String> {
    let value: Value = if schema.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(schema).map_err(|e| format!("the schema is not valid JSON ({e})"))?
    };
    jsonschema::validator_for(&value)
        .map_err(|e| format!("the schema is not a valid JSON schema ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn catalog() -> ToolCatalog {
        let def = |name: &str, schema: &str| ToolDefinition {
            name: name.into(),
            description: String::new(),
            parameters_schema: schema.into(),
        };
        ToolCatalog::from_entries([
            ToolEntry {
                plugin: "calc".into(),
                definition: def(
                    "calculator",
                    r#"{"type":"object","properties":{"expression":{"type":"string"}},"required":["expression"]}"#,
                ),
            },
            ToolEntry {
                plugin: "other".into(),
                definition: def("calculator", "{}"),
            },
            ToolEntry {
                plugin: "x".into(),
                definition: def("broken", r#"{"type": 12}"#),
            },
            ToolEntry {
                plugin: "x".into(),
                definition: def("free", ""),
            },
        ])
    }

    #[test]
    fn first_tool_of_a_name_wins() {
        let c = catalog();
        assert_eq!(c.list().len(), 3);
        assert_eq!(c.get("calculator").unwrap().plugin, "calc");
        assert_eq!(c.conflicts().len(), 1);
    }

    #[test]
    fn arguments_are_validated_with_the_failing_field() {
        let c = catalog();
        assert_eq!(
            c.validate("calculator", r#"{"expression":"1+2"}"#).unwrap()["expression"],
            "1+2"
        );
        let e = c.validate("calculator", r#"{"expression":3}"#).unwrap_err();
        assert!(
            matches!(&e, PluginError::InvalidArguments { field, .. } if field == "/expression"),
            "{e:?}"
        );
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = c.validate("calculator", "{}").unwrap_err();
        assert!(e.to_string().contains("expression"), "{e}");
        let e = c.validate("calculator", "[1]").unwrap_err();
        assert!(e.to_string().contains("JSON object"), "{e}");
        let e = c.validate("calculator", "{nope").unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        assert!(c.validate("free", "").is_ok());
    }

    #[test]
    fn unknown_tool_and_bad_schema() {
        let c = catalog();
        let e = c.validate("nope", "{}").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("calculator, broken, free"), "{e}");
        let e = c.validate("broken", "{}").unwrap_err();
        assert!(matches!(e, PluginError::InvalidToolSchema { .. }), "{e:?}");
    }
}
