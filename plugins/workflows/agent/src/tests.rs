//! The loop against a scripted host.

use super::*;

struct Script {
    turns: Vec<Turn>,
    seen: Vec<Vec<ChatMessage>>,
    invoked: Vec<(String, String)>,
}

impl Host for Script {
    fn list_tools(&mut self) -> Vec<ToolDefinition> {
        vec![
            ToolDefinition::new("calculator", "", "{}"),
            ToolDefinition::new("other", "", "{}"),
        ]
    }
    fn chat(
        &mut self,
        messages: &[ChatMessage],
        _tools: &[ToolDefinition],
        _input: &AgentInput,
    ) -> Result<Turn, PluginError> {
        self.seen.push(messages.to_vec());
        if self.turns.is_empty() {
            return Err(PluginError::failed("script ended"));
        }
        Ok(self.turns.remove(0))
    }
    fn invoke(&mut self, name: &str, arguments: &str) -> Result<String, PluginError> {
        self.invoked.push((name.into(), arguments.into()));
        match name {
            "calculator" => Ok(r#"{"result":391}"#.into()),
            _ => Err(PluginError::invalid_input("bad args")),
        }
    }
}

fn calls(calls: &[(&str, &str)]) -> Turn {
    Turn {
        tool_calls: calls
            .iter()
            .enumerate()
            .map(|(i, (n, a))| ToolCall::new(format!("call_{i}"), *n, *a))
            .collect(),
        finish_reason: "tool_calls".into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        ..Turn::default()
    }
}

fn answer(text: &str) -> Turn {
    Turn {
        content: text.into(),
        finish_reason: "stop".into(),
        prompt_tokens: 20,
        completion_tokens: 2,
        ..Turn::default()
    }
}

#[test]
fn tool_call_then_answer() {
    let mut host = Script {
        turns: vec![
            calls(&[("calculator", r#"{"expression":"17*23"}"#), ("other", "{}")]),
            answer("391"),
        ],
        seen: vec![],
        invoked: vec![],
    };
    let input = AgentInput::parse(r#"{"prompt": "17*23?", "system": "Be brief."}"#).unwrap();
    let out = run_agent(&mut host, &input).unwrap();
    assert_eq!(out["answer"], "391");
    assert_eq!(out["usage"]["total_tokens"], 37);
    let kinds: Vec<&str> = out["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["llm", "tool", "tool", "llm"]);
    assert_eq!(out["steps"][1]["result"]["result"], 391);
    assert_eq!(out["steps"][2]["error"]["kind"], "invalid-input");
    assert_eq!(host.invoked.len(), 2);
    // The second model call saw the assistant's calls and both tool results.
    let second = &host.seen[1];
    assert_eq!(second.len(), 5);
    assert_eq!(second[0].role, "system");
    assert_eq!(second[2].tool_calls.len(), 2);
    assert_eq!(second[3].role, "tool");
    assert_eq!(second[3].tool_call_id.as_deref(), Some("call_0"));
    assert_eq!(second[3].content, r#"{"result":391}"#);
    assert_eq!(
        second[4].content,
        r#"{"error":"bad args","kind":"invalid-input"}"#
    );
}

#[test]
fn unoffered_tool_is_not_run_and_max_steps_is_a_limit() {
    let mut host = Script {
        turns: vec![calls(&[("other", "{}")]), calls(&[("calculator", "{}")])],
        seen: vec![],
        invoked: vec![],
    };
    let input =
        AgentInput::parse(r#"{"prompt": "x", "tools": ["calculator"], "max_steps": 2}"#).unwrap();
    let e = run_agent(&mut host, &input).unwrap_err();
    assert_eq!(e.kind(), "limit-exceeded");
    assert!(e.message().contains("max_steps = 2"), "{}", e.message());
    assert_eq!(host.invoked, [("calculator".to_string(), "{}".to_string())]);
}

#[test]
fn input_errors() {
    for (input, needle) in [
        ("[]", "JSON object"),
        ("{}", "\"prompt\""),
        (r#"{"prompt": "a", "messages": []}"#, "not both"),
        (r#"{"prompt": "a", "max_steps": 0}"#, "max_steps"),
        (r#"{"prompt": "a", "tools": "x"}"#, "tools"),
        (r#"{"messages": [{"content": "x"}]}"#, "role"),
    ] {
        let e = AgentInput::parse(input).unwrap_err();
        assert_eq!(e.kind(), "invalid-input");
        assert!(e.message().contains(needle), "{input}: {}", e.message());
    }
    let mut host = Script {
        turns: vec![],
        seen: vec![],
        invoked: vec![],
    };
    let input = AgentInput::parse(r#"{"prompt": "a", "tools": ["nope"]}"#).unwrap();
    let e = run_agent(&mut host, &input).unwrap_err();
    assert!(
        e.message().contains("unknown tool \"nope\""),
        "{}",
        e.message()
    );
}

#[test]
fn messages_input_round_trips_tool_calls() {
    let input = AgentInput::parse(
        r#"{"messages": [{"role": "user", "content": "q"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "abc", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "content": "1", "tool_call_id": "abc"}]}"#,
    )
    .unwrap();
    assert_eq!(input.messages[1].tool_calls[0].id, "abc");
    assert_eq!(input.messages[2].tool_call_id.as_deref(), Some("abc"));
}
