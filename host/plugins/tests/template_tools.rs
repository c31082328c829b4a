//! Tool definitions, assistant tool calls and `tool` messages round-trip through every
//! built-in template component: rendered into the prompt, and the template's own call format
//! parsed back out of model output.

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use shimmy_plugins::*;

const TEMPLATES: [&str; 7] = [
    "chatml", "llama3", "mistral", "phi3", "gemma", "deepseek", "jinja",
];

fn reg() -> Arc<PluginRegistry> {
    static R: OnceLock<Arc<PluginRegistry>> = OnceLock::new();
    shared(&R, || {
        init_log();
        let rt = runtime_in(&shared_cache(), 2000, Grants::none());
        registry(&rt, &TEMPLATES)
    })
}

fn tools() -> Vec<ToolDefinition> {
    vec![ToolDefinition {
        name: "get_weather".into(),
        description: "Weather of a city".into(),
        parameters_schema: r#"{"type": "object", "properties": {"city": {"type": "string"}}}"#
            .into(),
    }]
}

/// user, assistant calling `get_weather`, the tool's result.
fn request() -> RenderRequest {
    let messages = vec![
        ChatMessage::new("system", "You are a helpful assistant."),
        ChatMessage::new("user", "Weather in Paris?"),
        ChatMessage {
            role: "assistant".into(),
            tool_calls: vec![ToolCall {
                id: "call_7".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }],
            ..Default::default()
        },
        ChatMessage {
            role: "tool".into(),
            content: r#"{"temp_c": 21}"#.into(),
            tool_call_id: Some("call_7".into()),
            name: Some("get_weather".into()),
            ..Default::default()
        },
    ];
    let mut req = RenderRequest {
        messages,
        tools: tools(),
        add_generation_prompt: true,
        ..Default::default()
    };
    req.model.architecture = "llama".into();
    req.model.chat_template =
        Some(include_str!("../../../plugins/templates/jinja/fixtures/qwen2.5.jinja").into());
    req
}

#[tokio::test]
async fn every_template_renders_tools_calls_and_results() {
    let reg = reg();
    for name in TEMPLATES {
        let r = reg.render_template(name, request()).await.unwrap();
        let p = &r.prompt;
        assert!(p.contains("get_weather"), "{name}: {p}");
        assert!(
            p.contains("Weather of a city"),
            "{name}: tool description missing: {p}"
        );
        assert!(p.contains("Paris"), "{name}: call arguments missing: {p}");
        assert!(p.contains("21"), "{name}: tool result missing: {p}");
    }
    // Each family's own markers.
    let mut prompts = std::collections::HashMap::new();
    for name in TEMPLATES {
        prompts.insert(
            name,
            reg.render_template(name, request()).await.unwrap().prompt,
        );
    }
    let prompt = |name: &str| prompts[name].clone();
    assert!(prompt("llama3")
        .contains("<|start_header_id|>ipython<|end_header_id|>\n\n{\"temp_c\": 21}<|eot_id|>"));
    let m = prompt("mistral");
    assert!(m.contains("[TOOL_RESULTS] {\"content\": {\"temp_c\": 21}, \"call_id\": \"call_7\"}[/TOOL_RESULTS]"), "{m}");
    assert!(m.contains("[AVAILABLE_TOOLS] "), "{m}");
    assert!(prompt("chatml").contains("<tool_response>\n{\"temp_c\": 21}\n</tool_response>"));
    assert!(prompt("jinja").contains("<tool_response>\n{\"temp_c\": 21}\n</tool_response>"));
}

#[tokio::test]
async fn every_template_parses_its_call_format() {
    let reg = reg();
    let cases = [
        ("chatml", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>"),
        ("llama3", "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}"),
        ("llama3", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}"),
        ("mistral", "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}]"),
        ("mistral", "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Rome\"}"),
        ("phi3", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>"),
        ("gemma", "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n```"),
        ("deepseek", "<think>x</think><tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}</tool_call>"),
        ("jinja", "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}<|eom_id|>"),
        ("jinja", "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}]"),
    ];
    for (name, output) in cases {
        let p = reg.parse_output(name, output, &tools()).await.unwrap();
        assert_eq!(p.content, "", "{name}: {output}");
        assert_eq!(
            p.tool_calls,
            [ToolCall {
                id: "call_0".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Rome"}"#.into(),
            }],
            "{name}: {output}"
        );
        // Without offered tools nothing is extracted.
        let p = reg.parse_output(name, output, &[]).await.unwrap();
        assert!(p.tool_calls.is_empty(), "{name}: {output}");
    }
}
