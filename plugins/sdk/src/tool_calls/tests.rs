//! Unit tests of tool-call extraction, from fixed model outputs.

use super::*;

fn tools(names: &[&str]) -> Vec<ToolDefinition> {
    names
        .iter()
        .map(|n| ToolDefinition::new(*n, "", "{}"))
        .collect()
}

fn call(i: usize, name: &str, args: &str) -> ToolCall {
    ToolCall::new(format!("call_{i}"), name, args)
}

// ---- Hermes --------------------------------------------------------------------------------

#[test]
fn hermes_two_calls_and_text() {
    let out = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Hermes);
    assert_eq!(text, "Let me check.");
    assert_eq!(
        calls,
        vec![
            call(0, "get_weather", r#"{"city":"Paris"}"#),
            call(1, "now", "{}")
        ]
    );
}

#[test]
fn hermes_unclosed_and_string_arguments() {
    let out = "<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}\n";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Hermes);
    assert_eq!(text, "");
    assert_eq!(calls, vec![call(0, "f", r#"{"x": 1}"#)]);
}

#[test]
fn hermes_garbage_stays_in_text() {
    let out = "a <tool_call>not json</tool_call> b";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Hermes);
    assert_eq!(text, out);
    assert!(calls.is_empty());
}

#[test]
fn no_calls() {
    assert_eq!(
        extract_tool_calls(" hi ", ToolCallFormat::Hermes),
        ("hi".to_string(), vec![])
    );
}

// ---- Llama 3 -------------------------------------------------------------------------------

#[test]
fn llama3_python_tag_single() {
    let out = "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eom_id|>";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Llama3);
    assert_eq!(text, "");
    assert_eq!(calls, vec![call(0, "get_weather", r#"{"city":"Paris"}"#)]);
}

#[test]
fn llama3_python_tag_several_with_semicolons_and_text() {
    let out = "Checking both.<|python_tag|>{\"name\": \"a\", \"parameters\": {\"s\": \"x;y\"}}; {\"name\": \"b\", \"arguments\": {}};\n<|eot_id|>";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Llama3);
    assert_eq!(text, "Checking both.");
    assert_eq!(
        calls,
        vec![call(0, "a", r#"{"s":"x;y"}"#), call(1, "b", "{}")]
    );
}

#[test]
fn llama3_bare_json_whole_output() {
    let out = "{\"name\": \"calculator\", \"parameters\": {\"expression\": \"2+2\"}}<|eot_id|>";
    let (text, calls) = extract_offered(out, ToolCallFormat::Llama3, &tools(&["calculator"]));
    assert_eq!(text, "");
    assert_eq!(
        calls,
        vec![call(0, "calculator", r#"{"expression":"2+2"}"#)]
    );
    // A JSON answer whose "name" is not an offered tool is content, not a call.
    let answer = "{\"name\": \"Bob\", \"parameters\": {\"age\": 3}}";
    let (text, calls) = extract_offered(answer, ToolCallFormat::Llama3, &tools(&["calculator"]));
    assert_eq!(text, answer);
    assert!(calls.is_empty());
}

#[test]
fn llama3_non_json_python_tag_stays_text() {
    let out = "<|python_tag|>brave_search.call(query=\"x\")<|eom_id|>";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Llama3);
    assert_eq!(text, out);
    assert!(calls.is_empty());
}

#[test]
fn llama3_plain_text() {
    let (text, calls) = extract_offered(
        "The answer is 4.<|eot_id|>",
        ToolCallFormat::Llama3,
        &tools(&["f"]),
    );
    assert_eq!(text, "The answer is 4.<|eot_id|>");
    assert!(calls.is_empty());
}

// ---- Mistral -------------------------------------------------------------------------------

#[test]
fn mistral_json_array() {
    let out = "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"now\", \"arguments\": {}, \"id\": \"abcdefghi\"}]</s>";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Mistral);
    assert_eq!(text, "");
    assert_eq!(
        calls,
        vec![
            call(0, "get_weather", r#"{"city":"Paris"}"#),
            call(1, "now", "{}")
        ]
    );
}

#[test]
fn mistral_name_args_form_repeated() {
    let out = "Sure.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]now[CALL_ID]a1b2c3d4e[ARGS]{}";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Mistral);
    assert_eq!(text, "Sure.");
    assert_eq!(
        calls,
        vec![
            call(0, "get_weather", r#"{"city":"Paris"}"#),
            call(1, "now", "{}")
        ]
    );
}

#[test]
fn mistral_garbage_stays_text_and_trailing_text_kept() {
    let out = "[TOOL_CALLS] not a call";
    assert_eq!(
        extract_tool_calls(out, ToolCallFormat::Mistral),
        (out.to_string(), vec![])
    );
    let out = "[TOOL_CALLS]f[ARGS]{\"a\": 1} and then some words";
    let (text, calls) = extract_tool_calls(out, ToolCallFormat::Mistral);
    assert_eq!(text, "and then some words");
    assert_eq!(calls, vec![call(0, "f", r#"{"a":1}"#)]);
}

// ---- JSON ----------------------------------------------------------------------------------

#[test]
fn json_single_array_and_fence() {
    let t = tools(&["f", "g"]);
    let (text, calls) = extract_offered(
        "{\"name\": \"f\", \"arguments\": {\"x\": 1}}",
        ToolCallFormat::Json,
        &t,
    );
    assert_eq!(
        (text.as_str(), calls),
        ("", vec![call(0, "f", r#"{"x":1}"#)])
    );
    let out = "```json\n[{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": {\"y\": [1]}}]\n```";
    let (text, calls) = extract_offered(out, ToolCallFormat::Json, &t);
    assert_eq!(text, "");
    assert_eq!(
        calls,
        vec![call(0, "f", "{}"), call(1, "g", r#"{"y":[1]}"#)]
    );
}

#[test]
fn json_tool_calls_object_openai_and_flat() {
    let out = r#"{"tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}, {"name": "g", "arguments": {"b": 2}}]}"#;
    let (text, calls) = extract_offered(out, ToolCallFormat::Json, &tools(&["f", "g"]));
    assert_eq!(text, "");
    assert_eq!(
        calls,
        vec![call(0, "f", r#"{"a":1}"#), call(1, "g", r#"{"b":2}"#)]
    );
}

#[test]
fn json_rejects_unknown_names_and_non_calls() {
    let t = tools(&["f"]);
    for out in [
        "{\"name\": \"h\", \"arguments\": {}}",
        "{\"answer\": 4}",
        "[]",
        "[1, 2]",
        "{\"name\": \"f\", \"arguments\": [1]}",
        "Some text {\"name\": \"f\"}",
    ] {
        let (text, calls) = extract_offered(out, ToolCallFormat::Json, &t);
        assert_eq!(text, out, "{out}");
        assert!(calls.is_empty(), "{out}");
    }
}

// ---- Auto and offered tools ----------------------------------------------------------------

#[test]
fn auto_finds_every_format() {
    let t = tools(&["f"]);
    let cases = [
        "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>",
        "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {\"a\": 1}}]",
        "[TOOL_CALLS]f[ARGS]{\"a\": 1}",
        "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": 1}}<|eom_id|>",
        "{\"name\": \"f\", \"parameters\": {\"a\": 1}}",
        "```json\n{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {\"a\": 1}}]}\n```",
    ];
    for out in cases {
        let (text, calls) = extract_offered(out, ToolCallFormat::Auto, &t);
        assert_eq!(text, "", "{out}");
        assert_eq!(calls, vec![call(0, "f", r#"{"a":1}"#)], "{out}");
    }
    let (text, calls) = extract_offered("Just text.", ToolCallFormat::Auto, &t);
    assert_eq!((text.as_str(), calls.len()), ("Just text.", 0));
}

#[test]
fn nothing_extracted_without_offered_tools() {
    for format in [
        ToolCallFormat::Hermes,
        ToolCallFormat::Llama3,
        ToolCallFormat::Mistral,
        ToolCallFormat::Json,
        ToolCallFormat::Auto,
    ] {
        let out = " <tool_call>{\"name\": \"f\"}</tool_call> ";
        let (text, calls) = extract_offered(out, format, &[]);
        assert_eq!(text, out.trim());
        assert!(calls.is_empty());
    }
}

#[test]
fn names_and_detection() {
    for f in [
        ToolCallFormat::Hermes,
        ToolCallFormat::Llama3,
        ToolCallFormat::Mistral,
        ToolCallFormat::Json,
        ToolCallFormat::Auto,
    ] {
        assert_eq!(ToolCallFormat::from_name(f.name()), Some(f));
    }
    assert_eq!(ToolCallFormat::from_name("nope"), None);
    assert_eq!(
        ToolCallFormat::detect("{{ '<tool_call>' }}"),
        ToolCallFormat::Hermes
    );
    assert_eq!(
        ToolCallFormat::detect("{% if m.role == 'ipython' %}"),
        ToolCallFormat::Llama3
    );
    assert_eq!(
        ToolCallFormat::detect("{{ '<|python_tag|>' }}"),
        ToolCallFormat::Llama3
    );
    assert_eq!(
        ToolCallFormat::detect("{{ '[TOOL_CALLS]' }}"),
        ToolCallFormat::Mistral
    );
    assert_eq!(ToolCallFormat::detect("{{ x }}"), ToolCallFormat::Auto);
}
