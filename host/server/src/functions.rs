//! Function tools and function calls as OpenAI sends them (Ollama sends the same shapes, and
//! also the bare `{"name", "parameters"}` / `{"name", "arguments"}` forms), converted into
//! the chat vocabulary; `tool_choice` as both send it.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;
use shimmy_engine::grammar::ToolChoice;
use shimmy_plugins::{ToolCall, ToolDefinition};

use crate::error::ServerError;
use crate::wire::{json_kind, text, Text};

/// A tool offered to the model: `{"type": "function", "function": {...}}`, or the function
/// object itself.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct ToolWire {
    #[serde(rename = "type")]
    kind: Option<Text>,
    function: Option<FunctionWire>,
    name: Option<Text>,
    description: Option<Text>,
    parameters: Option<Value>,
}

/// The function of a [`ToolWire`].
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct FunctionWire {
    name: Option<Text>,
    description: Option<Text>,
    parameters: Option<Value>,
}

/// `tools` as tool definitions (`tools[i]...` names the field at fault).
pub fn tools(tools: Vec<ToolWire>) -> Result<Vec<ToolDefinition>, ServerError> {
    tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| {
            let at = format!("tools[{i}]");
            let kind = text(tool.kind).unwrap_or_else(|| "function".into());
            if kind != "function" {
                return Err(ServerError::unsupported(
                    at.clone(),
                    format!("`{at}.type` \"{kind}\" is not supported; only function tools are"),
                ));
            }
            let (name, description, parameters) = match tool.function {
                Some(f) => (f.name, f.description, f.parameters),
                None => (tool.name, tool.description, tool.parameters),
            };
            let parameters = parameters.filter(|p| !p.is_null());
            if let Some(p) = parameters.as_ref().filter(|p| !p.is_object()) {
                return Err(ServerError::invalid(
                    format!("{at}.function.parameters"),
                    format!(
                        "`{at}.function.parameters` must be a JSON schema object, not {}",
                        json_kind(p)
                    ),
                ));
            }
            let Some(Text(name)) = name else {
                return Err(ServerError::invalid(
                    format!("{at}.function.name"),
                    format!("`{at}.function.name` must be a string"),
                ));
            };
            Ok(ToolDefinition {
                name,
                description: text(description).unwrap_or_default(),
                parameters_schema: parameters.map_or_else(|| "{}".to_string(), |p| p.to_string()),
            })
        })
        .collect()
}

/// `tool_choice`: `"auto"`, `"none"`, `"required"`, `{"type": "function", "function":
/// {"name": ...}}` (or Ollama-style `{"name": ...}`).
#[derive(Debug)]
pub struct ToolChoiceWire(pub ToolChoice);

impl<'de> Deserialize<'de> for ToolChoiceWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = || {
            de::Error::custom(
                "must be \"auto\", \"none\", \"required\" or \
                 {\"type\": \"function\", \"function\": {\"name\": ...}}",
            )
        };
        match Value::deserialize(d)? {
            Value::Null => Ok(ToolChoiceWire(ToolChoice::Auto)),
            Value::String(s) => match s.as_str() {
                "auto" => Ok(ToolChoiceWire(ToolChoice::Auto)),
                "none" => Ok(ToolChoiceWire(ToolChoice::None)),
                "required" | "any" => Ok(ToolChoiceWire(ToolChoice::Required)),
                _ => Err(bad()),
            },
            Value::Object(o) => {
                let name = o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .or_else(|| o.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(bad)?;
                Ok(ToolChoiceWire(ToolChoice::Function(name.to_string())))
            }
            _ => Err(bad()),
        }
    }
}

/// A tool call in an assistant message: `{"id", "type", "function": {"name", "arguments"}}`,
/// or (Ollama) `{"name", "arguments"}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct CallWire {
    id: Option<Text>,
    function: Option<CallFunctionWire>,
    name: Option<Text>,
    arguments: Option<Value>,
}

/// The function of a [`CallWire`].
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct CallFunctionWire {
    name: Option<Text>,
    arguments: Option<Value>,
}

/// Whether a call must carry its `function` object (OpenAI) or may be bare (Ollama).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallShape {
    /// `{"function": {...}}` only; the call's `id` is kept.
    OpenAi,
    /// `{"function": {...}}` or `{"name", "arguments"}`; ids are not part of Ollama's shape.
    Ollama,
}

impl CallWire {
    /// The call at `at` (`messages[1].tool_calls[0]`); arguments given as an object are kept
    /// as JSON text.
    pub fn into_call(self, at: &str, shape: CallShape) -> Result<ToolCall, ServerError> {
        let (name, arguments) = match (self.function, shape) {
            (Some(f), _) => (f.name, f.arguments),
            (None, CallShape::Ollama) => (self.name, self.arguments),
            (None, CallShape::OpenAi) => {
                return Err(ServerError::invalid(
                    format!("{at}.function"),
                    format!("`{at}.function` is required"),
                ))
            }
        };
        let Some(Text(name)) = name else {
            return Err(ServerError::invalid(
                format!("{at}.function.name"),
                format!("`{at}.function.name` must be a string"),
            ));
        };
        let arguments = match arguments {
            None | Some(Value::Null) => "{}".to_string(),
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
        };
        let id = match shape {
            CallShape::OpenAi => text(self.id).unwrap_or_default(),
            CallShape::Ollama => String::new(),
        };
        Ok(ToolCall {
            id,
            name,
            arguments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::from_json;
    use serde_json::json;

    #[test]
    fn both_tool_shapes_become_definitions() {
        let wire: Vec<ToolWire> = from_json(json!([
            {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
            {"name": "b", "description": "bee"}
        ]))
        .unwrap();
        let defs = tools(wire).unwrap();
        assert_eq!(defs[0].parameters_schema, r#"{"type":"object"}"#);
        assert_eq!(
            (defs[1].name.as_str(), defs[1].description.as_str()),
            ("b", "bee")
        );
        let bad: Vec<ToolWire> =
            from_json(json!([{"function": {"name": "f", "parameters": "x"}}])).unwrap();
        assert_eq!(
            tools(bad).unwrap_err().param(),
            Some("tools[0].function.parameters")
        );
    }

    #[test]
    fn calls_need_a_function_for_openai_only() {
        let bare: CallWire = from_json(json!({"name": "f", "arguments": {"x": 1}})).unwrap();
        let call = bare.into_call("c", CallShape::Ollama).unwrap();
        assert_eq!(
            (call.name.as_str(), call.arguments.as_str()),
            ("f", r#"{"x":1}"#)
        );
        let bare: CallWire = from_json(json!({"name": "f"})).unwrap();
        assert_eq!(
            bare.into_call("c", CallShape::OpenAi).unwrap_err().param(),
            Some("c.function")
        );
    }
}
