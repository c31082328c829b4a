//! A ChatML renderer: `<|im_start|>{role}\n{content}<|im_end|>\n` per message, and
//! `<|im_start|>assistant\n` as the generation prompt (Qwen 2/2.5/3, Hermes, many fine-tunes).
//!
//! Tools follow the Qwen 2.5 / Qwen 3 template (Hermes style): the tool list goes into the system
//! turn inside `<tools></tools>`, the assistant's calls are written as
//! `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`, and consecutive `tool` messages
//! are grouped into one `user` turn of `<tool_response>` blocks. Parse the model's calls back
//! with [`crate::tool_calls::extract_tool_calls`] and [`crate::tool_calls::ToolCallFormat::Hermes`].

use crate::prompt::{openai_tool, split_system};
use crate::{pyjson, spans};
use crate::{ChatMessage, PluginError, ToolDefinition};

/// Start of a turn.
pub const IM_START: &str = "<|im_start|>";
/// End of a turn (also the stop string).
pub const IM_END: &str = "<|im_end|>";
/// Qwen's end-of-text token, a second stop string.
pub const ENDOFTEXT: &str = "<|endoftext|>";

/// Options of [`render`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// System prompt used when the conversation has none (Qwen 2.5 uses
    /// "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."). `None`: no system
    /// turn unless the conversation or tools need one.
    pub default_system: Option<String>,
}

/// Renders `messages` (and `tools`, if any) as ChatML.
pub fn render(
    messages: &[ChatMessage],
    tools: &[ToolDefinition],
    add_generation_prompt: bool,
    options: &Options,
) -> Result<String, PluginError> {
    let mut out = String::new();
    let (system, rest) = split_system(messages);
    let system = system
        .map(str::to_string)
        .or_else(|| options.default_system.clone());

    if !tools.is_empty() {
        out.push_str(IM_START);
        out.push_str("system\n");
        if let Some(system) = &system {
            out.push_str(system);
            out.push_str("\n\n");
        }
        out.push_str(
            "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
             You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
        );
        for tool in tools {
            out.push('\n');
            out.push_str(&spans::print_json(&openai_tool(tool)?, pyjson::dumps));
        }
        out.push_str(
            "\n</tools>\n\nFor each function call, return a json object with function name and \
             arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
             {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>",
        );
        out.push_str(IM_END);
        out.push('\n');
    } else if let Some(system) = &system {
        turn(&mut out, "system", system);
    }

    for (i, m) in rest.iter().enumerate() {
        match m.role.as_str() {
            "assistant" => {
                out.push_str(IM_START);
                out.push_str("assistant\n");
                out.push_str(&m.content);
                for (j, call) in m.tool_calls.iter().enumerate() {
                    if j > 0 || !m.content.is_empty() {
                        out.push('\n');
                    }
                    out.push_str("<tool_call>\n{\"name\": \"");
                    out.push_str(&call.name);
                    out.push_str("\", \"arguments\": ");
                    match serde_json::from_str::<serde_json::Value>(&call.arguments) {
                        Ok(v) => out.push_str(&spans::print_json(&v, pyjson::dumps)),
                        Err(_) => out.push_str(&call.arguments),
                    }
                    out.push_str("}\n</tool_call>");
                }
                out.push_str(IM_END);
                out.push('\n');
            }
            "tool" => {
                let prev_is_tool = i > 0 && rest[i - 1].role == "tool";
                let next_is_tool = rest.get(i + 1).is_some_and(|n| n.role == "tool");
                if !prev_is_tool {
                    out.push_str(IM_START);
                    out.push_str("user");
                }
                out.push_str("\n<tool_response>\n");
                out.push_str(&m.content);
                out.push_str("\n</tool_response>");
                if !next_is_tool {
                    out.push_str(IM_END);
                    out.push('\n');
                }
            }
            role => turn(&mut out, role, &m.content),
        }
    }

    if add_generation_prompt {
        out.push_str(IM_START);
        out.push_str("assistant\n");
    }
    Ok(out)
}

fn turn(out: &mut String, role: &str, content: &str) {
    out.push_str(IM_START);
    out.push_str(role);
    out.push('\n');
    out.push_str(content);
    out.push_str(IM_END);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolCall;

    #[test]
    fn plain_conversation() {
        let msgs = [
            ChatMessage::system("You are terse."),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello."),
            ChatMessage::user("Bye"),
        ];
        assert_eq!(
            render(&msgs, &[], true, &Options::default()).unwrap(),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
             <|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn default_system() {
        let o = Options {
            default_system: Some("Be nice.".into()),
        };
        assert_eq!(
            render(&[ChatMessage::user("Hi")], &[], false, &o).unwrap(),
            "<|im_start|>system\nBe nice.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        );
    }

    #[test]
    fn tools_round_trip_like_qwen3() {
        let tools = [ToolDefinition::new(
            "get_weather",
            "Weather of a city",
            r#"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"#,
        )];
        let mut call = ChatMessage::assistant("");
        call.tool_calls = vec![ToolCall::new(
            "call_0",
            "get_weather",
            r#"{"city":"Paris"}"#,
        )];
        let msgs = [
            ChatMessage::system("You are helpful."),
            ChatMessage::user("Weather in Paris?"),
            call,
            ChatMessage::tool("call_0", r#"{"temp": 21}"#),
        ];
        let expected = concat!(
            "<|im_start|>system\nYou are helpful.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n",
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n",
            r#"{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}"#,
            "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n",
            "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n",
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n",
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n",
            "<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>\n",
            "<|im_start|>assistant\n",
        );
        assert_eq!(
            render(&msgs, &tools, true, &Options::default()).unwrap(),
            expected
        );
    }
}
