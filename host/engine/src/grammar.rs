//! Constrained-output grammars (GBNF, root rule `root`) for `response_format: json_object`
//! and Ollama's `format: "json"`.

/// Any JSON object, with bounded runs of whitespace so that a model cannot pad forever.
pub const JSON_GRAMMAR: &str = r#"root   ::= ws object
object ::= "{" ws ( member ( "," ws member )* )? "}" ws
member ::= string ":" ws value
array  ::= "[" ws ( value ( "," ws value )* )? "]" ws
value  ::= object | array | string | number | ( "true" | "false" | "null" ) ws
string ::= "\"" char* "\"" ws
char   ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" hex hex hex hex )
hex    ::= [0-9a-fA-F]
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )? ws
ws     ::= [ \t\n]{0,16}
"#;

use serde_json::{json, Value};
use shimmy_core::backend::Backend;
use shimmy_core::call_grammar::{forced_call_grammar, CallSyntax, ForcedTool};
use shimmy_plugins::ToolDefinition;

use crate::error::EngineError;
use crate::limits::RequestLimits;

/// How the model may use the tools it is offered (OpenAI `tool_choice`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// No tool calls: the tools are not even shown to the model.
    None,
    /// The model must call one (or more) of the tools.
    Required,
    /// The model must call this function.
    Function(String),
}

impl ToolChoice {
    /// Whether the output is constrained to tool calls.
    pub fn is_forced(&self) -> bool {
        matches!(self, ToolChoice::Required | ToolChoice::Function(_))
    }
}

/// Most calls in one answer when a forced `tool_choice` allows parallel calls.
pub const MAX_PARALLEL_CALLS: usize = 8;

/// The JSON schema of the output when `choice` forces a call: one call object
/// `{"name": ..., "arguments": {...}}` (the arguments valid against the tool's schema), or with
/// `parallel` an array of 1 to [`MAX_PARALLEL_CALLS`] of them. `None` when nothing is forced.
pub fn forced_call_schema(
    tools: &[ToolDefinition],
    choice: &ToolChoice,
    parallel: bool,
) -> Result<Option<Value>, EngineError> {
    let chosen: Vec<&ToolDefinition> = match choice {
        ToolChoice::Auto | ToolChoice::None => return Ok(None),
        ToolChoice::Required => tools.iter().collect(),
        ToolChoice::Function(name) => tools.iter().filter(|t| &t.name == name).collect(),
    };
    if chosen.is_empty() {
        return Err(EngineError::invalid(
            "tool_choice",
            match choice {
                ToolChoice::Function(name) => format!(
                    "`tool_choice` names the function \"{name}\" but `tools` has no such function"
                ),
                _ => "`tool_choice` \"required\" needs at least one tool in `tools`".to_string(),
            },
        ));
    }
    let mut calls = Vec::with_capacity(chosen.len());
    for (i, tool) in chosen.iter().enumerate() {
        let arguments = argument_schema(tool, i)?;
        calls.push(json!({
            "type": "object",
            "properties": {
                "name": { "const": tool.name },
                "arguments": arguments,
            },
            "required": ["name", "arguments"],
            "additionalProperties": false,
        }));
    }
    let call = if calls.len() == 1 {
        calls.pop().unwrap_or_default()
    } else {
        json!({ "anyOf": calls })
    };
    Ok(Some(if parallel {
        json!({ "type": "array", "items": call, "minItems": 1, "maxItems": MAX_PARALLEL_CALLS })
    } else {
        call
    }))
}

/// What constrains a job's output, as the job asked for it: turned into one GBNF grammar by
/// [`build`], off the async executor (it may take llama.cpp a while).
#[derive(Debug, Clone)]
pub struct GrammarRequest {
    /// The schema of a forced tool call ([`forced_call_schema`]), if `tool_choice` forces one.
    pub forced: Option<Value>,
    /// The family syntax forced calls are written in (`None`: `{"name", "arguments"}` JSON).
    pub syntax: Option<CallSyntax>,
    /// The chat's tools.
    pub tools: Vec<ToolDefinition>,
    /// How the model may use them.
    pub tool_choice: ToolChoice,
    /// Whether a forced choice allows several calls.
    pub parallel: bool,
    /// A JSON schema for the output.
    pub json_schema: Option<Value>,
    /// The request field the schema came from.
    pub json_schema_param: &'static str,
    /// A GBNF grammar given as it is.
    pub grammar: Option<String>,
}

/// The grammar `request` asks for (`None`: unconstrained). Each source is checked against
/// `limits` before llama.cpp sees it (schema or grammar size), and the grammar is checked for
/// breadth ([`RequestLimits::check_breadth`]) before it is handed on. `cancelled` is asked
/// between steps: once the client has gone, the work stops with an error nobody reads.
pub fn build(
    backend: &dyn Backend,
    limits: &RequestLimits,
    request: &GrammarRequest,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<String>, EngineError> {
    let gone = || EngineError::Internal("the client went away".into());
    let (param, grammar) = match (&request.forced, &request.json_schema, &request.grammar) {
        (Some(schema), None, None) => {
            let size: usize = request
                .tools
                .iter()
                .map(|t| t.parameters_schema.len())
                .sum();
            limits.check_grammar_size("tools", "the parameters of the tools", size)?;
            let grammar = match request.syntax {
                Some(syntax) => family_call_grammar(
                    backend,
                    syntax,
                    &request.tools,
                    &request.tool_choice,
                    request.parallel,
                    &|| cancelled(),
                )?,
                None => schema_grammar(backend, schema, "tools")?,
            };
            ("tools", grammar)
        }
        (Some(_), ..) => {
            return Err(EngineError::invalid(
                "tool_choice",
                "a forced `tool_choice` cannot be combined with `response_format` or `grammar`",
            ))
        }
        (None, Some(schema), _) => {
            let param = request.json_schema_param;
            limits.check_grammar_size(param, "the JSON schema", schema.to_string().len())?;
            (param, schema_grammar(backend, schema, param)?)
        }
        (None, None, Some(grammar)) => {
            limits.check_grammar_size("grammar", "the grammar", grammar.len())?;
            ("grammar", grammar.clone())
        }
        (None, None, None) => return Ok(None),
    };
    if cancelled() {
        return Err(gone());
    }
    // What the converter made of a schema may be larger than the schema.
    let made = grammar.len();
    if made > limits.max_grammar_bytes.saturating_mul(4) {
        return Err(EngineError::invalid(
            param,
            format!(
                "`{param}`: the grammar made of it is {made} bytes, over {} (4 x \
                 --max-grammar-bytes); use a smaller schema",
                limits.max_grammar_bytes.saturating_mul(4)
            ),
        ));
    }
    limits.check_breadth(param, &grammar)?;
    Ok(Some(grammar))
}

/// The grammar of a forced call (see [`forced_call_schema`] for which tools) written in the
/// model family's `syntax` ([`shimmy_core::call_grammar`]), the arguments constrained by each
/// tool's schema. `cancelled` is asked before each schema is converted.
pub fn family_call_grammar(
    backend: &dyn Backend,
    syntax: CallSyntax,
    tools: &[ToolDefinition],
    choice: &ToolChoice,
    parallel: bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<String, EngineError> {
    let chosen: Vec<(usize, &ToolDefinition)> = tools
        .iter()
        .enumerate()
        .filter(|(_, t)| match choice {
            ToolChoice::Function(name) => &t.name == name,
            _ => true,
        })
        .collect();
    let schemas = chosen
        .iter()
        .map(|(i, t)| argument_schema(t, *i))
        .collect::<Result<Vec<_>, _>>()?;
    let forced: Vec<ForcedTool<'_>> = chosen
        .iter()
        .zip(&schemas)
        .map(|((_, t), schema)| ForcedTool {
            name: &t.name,
            schema,
        })
        .collect();
    forced_call_grammar(syntax, &forced, parallel, MAX_PARALLEL_CALLS, |schema| {
        if cancelled() {
            return Err(EngineError::Internal("the client went away".into()));
        }
        schema_grammar(backend, schema, "tools")
    })
}

/// A tool's parameter schema; an empty or type-less one becomes "any object".
fn argument_schema(tool: &ToolDefinition, index: usize) -> Result<Value, EngineError> {
    let text = tool.parameters_schema.trim();
    let schema: Value = if text.is_empty() {
        json!({})
    } else {
        serde_json::from_str(text).map_err(|e| {
            EngineError::invalid(
                format!("tools[{index}].function.parameters"),
                format!("the parameters of tool \"{}\" are not JSON: {e}", tool.name),
            )
        })?
    };
    let typeless = schema.as_object().is_some_and(|o| {
        !o.contains_key("type")
            && !o.contains_key("anyOf")
            && !o.contains_key("oneOf")
            && !o.contains_key("$ref")
    });
    if typeless && schema.get("properties").is_none() {
        return Ok(json!({ "type": "object" }));
    }
    if typeless {
        let mut s = schema;
        s["type"] = json!("object");
        return Ok(s);
    }
    Ok(schema)
}

/// A GBNF grammar accepting only JSON valid against `schema`. The schema is checked first
/// (a schema that is not a JSON schema is the client's error, named by `param`), then the
/// engine converts it.
pub fn schema_grammar(
    backend: &dyn Backend,
    schema: &Value,
    param: &str,
) -> Result<String, EngineError> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err(EngineError::invalid(
            param,
            format!("`{param}` must be a JSON schema object"),
        ));
    }
    if let Err(e) = jsonschema::meta::validate(schema) {
        return Err(EngineError::invalid(
            param,
            format!("`{param}` is not a valid JSON schema: {e}"),
        ));
    }
    let empty = schema.as_object().is_some_and(|o| o.is_empty());
    if empty {
        return Ok(JSON_GRAMMAR.to_string());
    }
    backend
        .json_schema_grammar(&schema.to_string())
        .map_err(|e| EngineError::unsupported(param, format!("`{param}`: {e}")))
}

/// Reads the output of a forced tool call (see [`forced_call_schema`]) back into
/// `(name, arguments)` pairs; `None` when it is not complete JSON of that shape (e.g. the
/// generation hit `max_tokens`).
pub fn parse_forced_calls(output: &str) -> Option<Vec<(String, String)>> {
    let value: Value = serde_json::from_str(output.trim()).ok()?;
    let items = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    items
        .into_iter()
        .map(|item| {
            let name = item.get("name")?.as_str()?.to_string();
            let arguments = item.get("arguments")?.to_string();
            Some((name, arguments))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, schema: &str) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: String::new(),
            parameters_schema: schema.into(),
        }
    }

    #[test]
    fn forced_schemas() {
        let tools = [
            tool(
                "get_weather",
                r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#,
            ),
            tool("now", ""),
        ];
        assert_eq!(
            forced_call_schema(&tools, &ToolChoice::Auto, false).unwrap(),
            None
        );
        let one = forced_call_schema(&tools, &ToolChoice::Function("now".into()), false).unwrap();
        assert_eq!(
            one.unwrap()["properties"]["arguments"],
            json!({"type": "object"})
        );
        let any = forced_call_schema(&tools, &ToolChoice::Required, true)
            .unwrap()
            .unwrap();
        assert_eq!(any["type"], "array");
        assert_eq!(any["items"]["anyOf"].as_array().unwrap().len(), 2);
        let e = forced_call_schema(&tools, &ToolChoice::Function("x".into()), false).unwrap_err();
        assert!(e.to_string().contains("\"x\""), "{e}");
        let e = forced_call_schema(&[], &ToolChoice::Required, false).unwrap_err();
        assert!(e.to_string().contains("at least one tool"), "{e}");
    }

    #[test]
    fn the_json_grammar_is_narrow() {
        let b = crate::grammar_breadth::breadth(JSON_GRAMMAR);
        assert!((2..20).contains(&b), "{b}");
    }

    #[test]
    fn forced_output_parses() {
        assert_eq!(
            parse_forced_calls(r#"{"name": "f", "arguments": {"a": 1}}"#),
            Some(vec![("f".to_string(), r#"{"a":1}"#.to_string())])
        );
        assert_eq!(
            parse_forced_calls(r#" [{"name":"f","arguments":{}},{"name":"g","arguments":{}}]"#)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(parse_forced_calls(r#"{"name": "f", "argu"#), None);
    }
}
