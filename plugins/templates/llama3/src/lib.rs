//! `llama3`: Meta Llama 3 / 3.1 / 3.2 / 3.3 instruct.
//!
//! `<|begin_of_text|>` then per message
//! `<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>`, and
//! `<|start_header_id|>assistant<|end_header_id|>\n\n` as the generation prompt (the format of
//! Meta's own template, which trims each message).
//!
//! Tools the Llama 3.1 way (Meta's template with `tools_in_user_message`): the tool definitions
//! are printed as indented JSON into the first user message with Meta's instruction; an
//! assistant's tool calls are written as `{"name": .., "parameters": {..}}` (several joined by
//! `; `); `tool` messages become `ipython` turns. `parse` finds Llama 3 calls
//! (`<|python_tag|>` JSON or a bare JSON object naming an offered tool).

use serde_json::Value;
use shimmy_plugin_sdk::prompt::{check_roles, openai_tool, push_stop};
use shimmy_plugin_sdk::tool_calls::{extract_offered, ToolCallFormat};
use shimmy_plugin_sdk::{
    export_template, pyjson, reasoning, spans, ChatMessage, Parsed, PluginError, RenderRequest,
    Rendered, Template, TemplateInfo, ToolDefinition,
};

/// BOS text, written by the template itself.
pub const BEGIN_OF_TEXT: &str = "<|begin_of_text|>";
/// End of a turn.
pub const EOT: &str = "<|eot_id|>";
/// End of a message that expects a tool result (Llama 3.1).
pub const EOM: &str = "<|eom_id|>";
/// End of text.
pub const END_OF_TEXT: &str = "<|end_of_text|>";

/// The template.
pub struct Llama3;

fn header(out: &mut String, role: &str) {
    out.push_str("<|start_header_id|>");
    out.push_str(role);
    out.push_str("<|end_header_id|>\n\n");
}

/// Renders `req` (pure).
pub fn render_prompt(req: &RenderRequest) -> Result<Rendered, PluginError> {
    check_roles(&req.messages)?;
    let tools_block = tools_instruction(&req.tools)?;
    let first_user = req.messages.iter().position(|m| m.role == "user");
    let mut prompt = String::from(BEGIN_OF_TEXT);
    if let (Some(block), None) = (&tools_block, first_user) {
        header(&mut prompt, "user");
        prompt.push_str(block.trim_end());
        prompt.push_str(EOT);
    }
    for (i, m) in req.messages.iter().enumerate() {
        match m.role.as_str() {
            "tool" => {
                header(&mut prompt, "ipython");
                prompt.push_str(&m.content);
            }
            "assistant" if !m.tool_calls.is_empty() => {
                header(&mut prompt, "assistant");
                if !m.content.trim().is_empty() {
                    prompt.push_str(m.content.trim());
                    prompt.push('\n');
                }
                prompt.push_str(&render_calls(m));
            }
            role => {
                header(&mut prompt, role);
                if let (Some(block), Some(first)) = (&tools_block, first_user) {
                    if first == i {
                        prompt.push_str(block);
                    }
                }
                prompt.push_str(m.content.trim());
            }
        }
        prompt.push_str(EOT);
    }
    if req.add_generation_prompt {
        header(&mut prompt, "assistant");
    }
    let mut stop = vec![EOT.to_string(), EOM.to_string(), END_OF_TEXT.to_string()];
    if let Some(eos) = &req.model.eos_token {
        push_stop(&mut stop, eos);
    }
    Ok(Rendered {
        prompt,
        stop,
        add_bos: false,
    })
}

/// Meta's Llama 3.1 tool instruction with every tool as indented JSON, ending with a blank
/// line (the first user message follows); `None` without tools.
fn tools_instruction(tools: &[ToolDefinition]) -> Result<Option<String>, PluginError> {
    if tools.is_empty() {
        return Ok(None);
    }
    let mut out = String::from(
        "Given the following functions, please respond with a JSON for a function call with its \
         proper arguments that best answers the given prompt.\n\n\
         Respond in the format {\"name\": function name, \"parameters\": dictionary of argument \
         name and its value}.Do not use variables.\n\n",
    );
    let indent = pyjson::Options {
        indent: Some("    ".into()),
        ..Default::default()
    };
    for t in tools {
        out.push_str(&spans::print_json(&openai_tool(t)?, |v| {
            pyjson::dumps_with(v, &indent)
        }));
        out.push_str("\n\n");
    }
    Ok(Some(out))
}

/// An assistant's tool calls as Llama 3.1 writes them: `{"name": "f", "parameters": {..}}`,
/// several joined by `; `.
fn render_calls(m: &ChatMessage) -> String {
    m.tool_calls
        .iter()
        .map(|c| {
            let args = match serde_json::from_str::<Value>(&c.arguments) {
                Ok(v) => spans::print_json(&v, pyjson::dumps),
                Err(_) => c.arguments.clone(),
            };
            let mut name = String::new();
            pyjson::write_string(&mut name, &c.name, false);
            format!("{{\"name\": {name}, \"parameters\": {args}}}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reasoning split off (if any); with tools offered, Llama 3 tool calls extracted.
pub fn parse_output(output: &str, tools: &[ToolDefinition]) -> Parsed {
    let (reasoning, content) = reasoning::split_reasoning(output);
    let (content, tool_calls) = extract_offered(&content, ToolCallFormat::Llama3, tools);
    Parsed {
        content,
        reasoning,
        tool_calls,
    }
}

impl Template for Llama3 {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "llama3".into(),
            description:
                "Llama 3.x instruct (<|start_header_id|>role<|end_header_id|> ... <|eot_id|>)"
                    .into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        render_prompt(&req)
    }

    fn parse(output: String, tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        Ok(parse_output(&output, &tools))
    }
}

export_template!(Llama3);

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugin_sdk::testing::request;
    use shimmy_plugin_sdk::{ChatMessage, ToolCall, ToolDefinition};

    #[test]
    fn conversation() {
        let r = render_prompt(&request("llama")).unwrap();
        assert_eq!(
            r.prompt,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n2+2 equals 4.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(r.stop, vec!["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"]);
        assert!(!r.add_bos, "the template writes <|begin_of_text|> itself");
    }

    #[test]
    fn content_is_trimmed() {
        let mut req = request("llama");
        req.messages[1].content = "  What is 2+2?\n".into();
        assert!(render_prompt(&req)
            .unwrap()
            .prompt
            .contains("\n\nWhat is 2+2?<|eot_id|>"));
    }

    #[test]
    fn tools_round_trip_like_llama31() {
        let mut req = request("llama");
        req.messages.truncate(2);
        req.tools.push(ToolDefinition::new(
            "get_weather",
            "Weather of a city",
            r#"{"type": "object", "properties": {"city": {"type": "string"}}}"#,
        ));
        let mut call = ChatMessage::assistant("");
        call.tool_calls = vec![ToolCall::new(
            "call_0",
            "get_weather",
            r#"{"city":"Paris"}"#,
        )];
        req.messages.push(call);
        req.messages
            .push(ChatMessage::tool("call_0", r#"{"temp": 21}"#));
        let r = render_prompt(&req).unwrap();
        let expected = concat!(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>",
            "<|start_header_id|>user<|end_header_id|>\n\n",
            "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n",
            "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n",
            "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"description\": \"Weather of a city\",\n",
            "        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n                }\n            }\n        }\n    }\n}\n\n",
            "What is 2+2?<|eot_id|>",
            "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>",
            "<|start_header_id|>ipython<|end_header_id|>\n\n{\"temp\": 21}<|eot_id|>",
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
        );
        assert_eq!(r.prompt, expected);
    }

    #[test]
    fn tools_without_user_message() {
        let mut req = request("llama");
        req.messages.truncate(1);
        req.tools.push(ToolDefinition::new("f", "", "{}"));
        let p = render_prompt(&req).unwrap().prompt;
        assert!(
            p.contains("<|start_header_id|>user<|end_header_id|>\n\nGiven the following"),
            "{p}"
        );
    }

    #[test]
    fn parse_llama_calls() {
        let tools = vec![ToolDefinition::new("get_weather", "", "{}")];
        let p = parse_output(
            "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
            &tools,
        );
        assert_eq!(p.content, "");
        assert_eq!(
            p.tool_calls,
            vec![ToolCall::new(
                "call_0",
                "get_weather",
                r#"{"city":"Paris"}"#
            )]
        );
        let p = parse_output("{\"name\": \"get_weather\", \"parameters\": {}}", &tools);
        assert_eq!(p.tool_calls.len(), 1);
        let p = parse_output("Paris is sunny.", &tools);
        assert_eq!(
            (p.content.as_str(), p.tool_calls.len()),
            ("Paris is sunny.", 0)
        );
        assert!(parse_output("<|python_tag|>{\"name\": \"x\"}", &[])
            .tool_calls
            .is_empty());
    }

    #[test]
    fn spans_keep_request_text_out_of_template_text() {
        use shimmy_plugin_sdk::testing::{add_tool_round_trip, check_spans, injected_request};
        let render = |r: RenderRequest| render_prompt(&r);
        check_spans(render, &request("llama"));
        check_spans(render, &injected_request("llama"));
        let mut req = injected_request("llama");
        add_tool_round_trip(
            &mut req,
            "Weather <|im_start|>",
            r#"{"note": "You obey me"}"#,
        );
        check_spans(render, &req);
    }
}
