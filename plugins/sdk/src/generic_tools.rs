//! Tool support for templates whose models have no tool format of their own (Phi-3, Gemma,
//! DeepSeek's plain chat format): the conversation is *lowered* to plain messages in the
//! Hermes style, which instruction-tuned models follow well, and calls are parsed back with
//! [`ToolCallFormat::Auto`].
//!
//! [`lower`] turns a request with tools into one without:
//!
//! * the tool list and the Hermes instruction (`<tools>...</tools>`, answer with
//!   `<tool_call>{"name": ..., "arguments": ...}</tool_call>`) are appended to the system
//!   message (one is added first when there is none);
//! * an assistant message's tool calls are appended to its content as `<tool_call>` blocks;
//! * each run of consecutive `tool` messages becomes one `user` message of
//!   `<tool_response>...</tool_response>` blocks (so user/assistant alternation still holds).

use crate::prompt::openai_tool;
use crate::tool_calls::{extract_offered, ToolCallFormat};
use crate::{
    pyjson, reasoning, spans, ChatMessage, Parsed, PluginError, RenderRequest, ToolDefinition,
};

/// The system text that offers `tools` (empty when there are none).
pub fn tools_instruction(tools: &[ToolDefinition]) -> Result<String, PluginError> {
    if tools.is_empty() {
        return Ok(String::new());
    }
    let mut out = String::from(
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
         You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
    );
    for t in tools {
        out.push('\n');
        out.push_str(&spans::print_json(&openai_tool(t)?, pyjson::dumps));
    }
    out.push_str(
        "\n</tools>\n\nFor each function call, return a json object with function name and \
         arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
         {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>",
    );
    Ok(out)
}

/// An assistant message's content followed by its calls as `<tool_call>` blocks.
pub fn content_with_calls(m: &ChatMessage) -> String {
    let mut out = m.content.clone();
    for call in &m.tool_calls {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("<tool_call>\n{\"name\": ");
        pyjson::write_string(&mut out, &call.name, false);
        out.push_str(", \"arguments\": ");
        match serde_json::from_str::<serde_json::Value>(&call.arguments) {
            Ok(v) => out.push_str(&spans::print_json(&v, pyjson::dumps)),
            Err(_) => out.push_str(&call.arguments),
        }
        out.push_str("}\n</tool_call>");
    }
    out
}

/// `req` without tools, tool calls or `tool` messages, expressed as plain messages (see the
/// module documentation). A request that uses no tools is returned unchanged.
pub fn lower(req: &RenderRequest) -> Result<RenderRequest, PluginError> {
    let uses_tools = !req.tools.is_empty()
        || req
            .messages
            .iter()
            .any(|m| m.role == "tool" || !m.tool_calls.is_empty());
    if !uses_tools {
        return Ok(req.clone());
    }
    let mut messages: Vec<ChatMessage> = Vec::new();
    let instruction = tools_instruction(&req.tools)?;
    let mut rest = req.messages.as_slice();
    if !instruction.is_empty() {
        match rest.first() {
            Some(first) if first.role == "system" => {
                messages.push(ChatMessage::system(format!(
                    "{}\n\n{instruction}",
                    first.content
                )));
                rest = &rest[1..];
            }
            _ => messages.push(ChatMessage::system(instruction)),
        }
    }
    for m in rest {
        match m.role.as_str() {
            "tool" => {
                let block = format!("<tool_response>\n{}\n</tool_response>", m.content);
                match messages.last_mut() {
                    Some(prev)
                        if prev.role == "user" && prev.content.ends_with("</tool_response>") =>
                    {
                        prev.content.push('\n');
                        prev.content.push_str(&block);
                    }
                    _ => messages.push(ChatMessage::user(block)),
                }
            }
            "assistant" if !m.tool_calls.is_empty() => {
                messages.push(ChatMessage::assistant(content_with_calls(m)));
            }
            _ => messages.push(ChatMessage::new(m.role.clone(), m.content.clone())),
        }
    }
    Ok(RenderRequest {
        messages,
        tools: Vec::new(),
        add_generation_prompt: req.add_generation_prompt,
        model: req.model.clone(),
    })
}

/// The default parse ([`reasoning::parse_default`]) and, when tools were offered, calls in any
/// format ([`ToolCallFormat::Auto`]).
pub fn parse(output: &str, tools: &[ToolDefinition]) -> Parsed {
    let mut p = reasoning::parse_default(output);
    let (content, calls) = extract_offered(&p.content, ToolCallFormat::Auto, tools);
    p.content = content;
    p.tool_calls = calls;
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ModelContext, ToolCall};

    #[test]
    fn lowers_tools_calls_and_results() {
        let mut call = ChatMessage::assistant("");
        call.tool_calls = vec![ToolCall::new("call_0", "f", r#"{"a":1}"#)];
        let mut req = RenderRequest::new(
            vec![
                ChatMessage::system("S"),
                ChatMessage::user("U"),
                call,
                ChatMessage::tool("call_0", "r1"),
                ChatMessage::tool("call_1", "r2"),
            ],
            ModelContext::new("x"),
        );
        req.tools = vec![ToolDefinition::new("f", "does f", "{}")];
        let low = lower(&req).unwrap();
        assert!(low.tools.is_empty());
        let roles: Vec<&str> = low.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert!(low.messages[0].content.starts_with("S\n\n# Tools"));
        assert!(low.messages[0]
            .content
            .contains(r#"{"type": "function", "function": {"name": "f""#));
        assert_eq!(
            low.messages[2].content,
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>"
        );
        assert_eq!(
            low.messages[3].content,
            "<tool_response>\nr1\n</tool_response>\n<tool_response>\nr2\n</tool_response>"
        );
        // Nothing to do without tools.
        let plain = RenderRequest::new(vec![ChatMessage::user("U")], ModelContext::new("x"));
        assert_eq!(lower(&plain).unwrap(), plain);
    }

    #[test]
    fn parses_any_format() {
        let tools = [ToolDefinition::new("f", "", "{}")];
        let p = parse(
            "<think>hm</think><tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>",
            &tools,
        );
        assert_eq!(p.reasoning.as_deref(), Some("hm"));
        assert_eq!(p.tool_calls, vec![ToolCall::new("call_0", "f", "{}")]);
        assert!(parse("<tool_call>{\"name\": \"f\"}</tool_call>", &[])
            .tool_calls
            .is_empty());
    }
}
