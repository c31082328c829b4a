//! Byte-for-byte tests against real chat templates (fixtures/).
//!
//! Every expected prompt below is what Python's Jinja2 3.1 renders for the same template and
//! input when set up like transformers' `apply_chat_template`:
//! `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
//! extensions=[loopcontrols])`, `tojson = json.dumps(x, ensure_ascii=False, indent=indent,
//! separators=separators, sort_keys=sort_keys)`, `raise_exception` raising `TemplateError`,
//! `strftime_now` at 2024-07-26 12:00:00 UTC (Unix 1721995200).

use super::*;
use shimmy_plugin_sdk::testing::conversation;
use shimmy_plugin_sdk::{ChatMessage, ModelContext, ToolCall};

const QWEN25: &str = include_str!("../fixtures/qwen2.5.jinja");
const LLAMA3: &str = include_str!("../fixtures/llama3.jinja");
const LLAMA31_TOOLS: &str = include_str!("../fixtures/llama3.1-tools.jinja");
const MISTRAL: &str = include_str!("../fixtures/mistral.jinja");
const NOW: i64 = 1_721_995_200;

fn model(template: &str, bos: Option<&str>, eos: Option<&str>) -> ModelContext {
    ModelContext {
        architecture: "test".into(),
        chat_template: Some(template.into()),
        bos_token: bos.map(Into::into),
        eos_token: eos.map(Into::into),
    }
}

fn tools() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition::new(
            "get_weather",
            "Current weather of a city",
            r#"{"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}"#,
        ),
        ToolDefinition::new(
            "now",
            "Current time",
            r#"{"type":"object","properties":{}}"#,
        ),
    ]
}

fn tool_conversation() -> Vec<ChatMessage> {
    let mut call = ChatMessage::assistant("");
    call.tool_calls = vec![ToolCall::new(
        "call_0",
        "get_weather",
        r#"{"city":"Paris","unit":"celsius"}"#,
    )];
    let mut result = ChatMessage::tool("call_0", r#"{"temperature": 21, "sky": "clear"}"#);
    result.name = Some("get_weather".into());
    vec![
        ChatMessage::system("You are a helpful assistant."),
        ChatMessage::user("Weather in Paris?"),
        call,
        result,
    ]
}

fn render(
    messages: Vec<ChatMessage>,
    tools: Vec<ToolDefinition>,
    agp: bool,
    model: ModelContext,
) -> Result<Rendered, PluginError> {
    render_with_time(
        &RenderRequest {
            messages,
            tools,
            add_generation_prompt: agp,
            model,
        },
        NOW,
    )
}

#[test]
fn qwen25_conversation() {
    let r = render(
        conversation(),
        vec![],
        true,
        model(QWEN25, None, Some("<|im_end|>")),
    )
    .unwrap();
    assert_eq!(r.prompt, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n2+2 equals 4.<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n");
    assert_eq!(r.stop, vec!["<|im_end|>"]);
    assert!(r.add_bos, "no BOS text known: the host decides");
}

#[test]
fn qwen25_default_system_without_generation_prompt() {
    let r = render(
        conversation()[1..3].to_vec(),
        vec![],
        false,
        model(QWEN25, None, Some("<|im_end|>")),
    )
    .unwrap();
    assert_eq!(r.prompt, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n2+2 equals 4.<|im_end|>\n");
}

#[test]
fn qwen25_tools_tool_call_and_response() {
    let r = render(
        tool_conversation(),
        tools(),
        true,
        model(QWEN25, None, Some("<|im_end|>")),
    )
    .unwrap();
    assert_eq!(r.prompt, "<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather of a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name, e.g. Paris\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"city\"]}}}\n{\"type\": \"function\", \"function\": {\"name\": \"now\", \"description\": \"Current time\", \"parameters\": {\"type\": \"object\", \"properties\": {}}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temperature\": 21, \"sky\": \"clear\"}\n</tool_response><|im_end|>\n<|im_start|>assistant\n");
}

#[test]
fn llama3_conversation() {
    let r = render(
        conversation(),
        vec![],
        true,
        model(LLAMA3, Some("<|begin_of_text|>"), Some("<|eot_id|>")),
    )
    .unwrap();
    assert_eq!(r.prompt, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n2+2 equals 4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    assert_eq!(r.stop, vec!["<|eot_id|>"]);
    assert!(!r.add_bos, "the prompt starts with <|begin_of_text|>");
}

#[test]
fn llama31_tools_strftime_tojson_indent() {
    let r = render(
        tool_conversation(),
        tools(),
        true,
        model(LLAMA31_TOOLS, Some("<|begin_of_text|>"), Some("<|eot_id|>")),
    )
    .unwrap();
    assert_eq!(r.prompt, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou have access to the following functions. To call a function, please respond with JSON for a function call.Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"description\": \"Current weather of a city\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\",\n                    \"description\": \"City name, e.g. Paris\"\n                },\n                \"unit\": {\n                    \"type\": \"string\",\n                    \"enum\": [\n                        \"celsius\",\n                        \"fahrenheit\"\n                    ]\n                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n        }\n    }\n}\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"now\",\n        \"description\": \"Current time\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {}\n        }\n    }\n}\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n{\"temperature\": 21, \"sky\": \"clear\"}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    assert!(!r.add_bos);
}

#[test]
fn llama31_without_tools() {
    let r = render(
        conversation(),
        vec![],
        true,
        model(LLAMA31_TOOLS, Some("<|begin_of_text|>"), Some("<|eot_id|>")),
    )
    .unwrap();
    assert_eq!(r.prompt, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n2+2 equals 4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

#[test]
fn llama31_raise_exception_is_invalid_input() {
    let msgs = vec![ChatMessage::user("hi"), ChatMessage::system("late")];
    let err = render(
        msgs,
        vec![],
        true,
        model(LLAMA31_TOOLS, Some("<|begin_of_text|>"), None),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PluginError::InvalidInput("Unknown role: system".into())
    );
}

#[test]
fn mistral_conversation() {
    let r = render(
        conversation()[1..].to_vec(),
        vec![],
        true,
        model(MISTRAL, Some("<s>"), Some("</s>")),
    )
    .unwrap();
    assert_eq!(
        r.prompt,
        "<s>[INST] What is 2+2? [/INST]2+2 equals 4.</s>[INST] And 3+3? [/INST]"
    );
    assert_eq!(r.stop, vec!["</s>"]);
    assert!(!r.add_bos);
}

#[test]
fn mistral_raise_exception_is_invalid_input() {
    let err = render(
        conversation(),
        vec![],
        true,
        model(MISTRAL, Some("<s>"), Some("</s>")),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PluginError::InvalidInput(
            "Conversation roles must alternate user/assistant/user/assistant/...".into()
        )
    );
}

#[test]
fn missing_template_is_not_found() {
    let mut m = ModelContext::new("llama");
    m.chat_template = None;
    assert_eq!(
        render(conversation(), vec![], true, m).unwrap_err().kind(),
        "not-found"
    );
}

#[test]
fn syntax_error_is_failed_with_location() {
    let err = render(
        conversation(),
        vec![],
        true,
        model("{% for m in messages %}{{ m.role }", None, None),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "failed");
    assert!(
        err.message().contains("chat template: parsing failed"),
        "{err:?}"
    );
    assert!(err.message().contains("line 1"), "{err:?}");
}

#[test]
fn python_string_methods_and_filters() {
    // Expected output checked with Jinja2 as above (booleans print as Python's `True`).
    let t = "{{ messages[0].content.strip().upper() }}|{{ messages[0].content.startswith('  hi') }}|\
             {{ 'a,b,c'.split(',') | join('+') }}|{{ messages[0].content | trim | length }}|\
             {{ {'b': 1, 'a': 'é'} | tojson(ensure_ascii=True, sort_keys=True) }}|{{ [1, 2] | tojson(separators=(',', ':')) }}|\
             {{ strftime_now('%Y-%m-%d %H:%M') }}|{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}|\
             {{ messages[0].get('name', 'anon') }}";
    let r = render(
        vec![ChatMessage::user("  hi there ")],
        vec![],
        false,
        model(t, None, None),
    )
    .unwrap();
    assert_eq!(
        r.prompt,
        "HI THERE|True|a+b+c|8|{\"a\": \"\\u00e9\", \"b\": 1}|[1,2]|2024-07-26 12:00|13|anon"
    );
}

#[test]
fn stop_strings_from_template_markers() {
    let t = "{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}";
    let r = render(
        conversation(),
        vec![],
        true,
        model(t, Some("<bos>"), Some("<eos>")),
    )
    .unwrap();
    assert_eq!(r.stop, vec!["<eos>", "<end_of_turn>"]);
    assert!(r.add_bos, "the template does not write <bos>");
}

#[test]
fn strftime_formats() {
    assert_eq!(
        strftime("%d %b %Y|%A %j %I%p %e %F %T %D %u %w %B %y", 1_721_995_200),
        "26 Jul 2024|Friday 208 12PM 26 2024-07-26 12:00:00 07/26/24 5 5 July 24"
    );
    assert_eq!(
        strftime("%d %b %Y|%A %j %I%p %e %F %T %D %u %w %B %y", 951_868_799),
        "29 Feb 2000|Tuesday 060 11PM 29 2000-02-29 23:59:59 02/29/00 2 2 February 00"
    );
    assert_eq!(
        strftime("%d %b %Y|%A %j %I%p %e %F %T %D %u %w %B %y %Q %%", -86_399),
        "31 Dec 1969|Wednesday 365 12AM 31 1969-12-31 00:00:01 12/31/69 3 3 December 69 %Q %"
    );
}

#[test]
fn parse_with_and_without_tools() {
    let out =
        "<think>plan</think>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>";
    let p = parse_output(out, &tools());
    assert_eq!(p.reasoning.as_deref(), Some("plan"));
    assert_eq!(p.tool_calls, vec![ToolCall::new("call_0", "now", "{}")]);
    assert!(parse_output(out, &[]).tool_calls.is_empty());
}

#[test]
fn parse_other_formats_auto_and_fixed() {
    let out = "<|python_tag|>{\"name\": \"now\", \"parameters\": {}}<|eom_id|>";
    assert_eq!(
        parse_output(out, &tools()).tool_calls,
        vec![ToolCall::new("call_0", "now", "{}")]
    );
    let out = "[TOOL_CALLS] [{\"name\": \"now\", \"arguments\": {}}]";
    assert_eq!(parse_output(out, &tools()).tool_calls.len(), 1);
    // With a fixed format, other formats stay text.
    let p = parse_output_with(out, &tools(), ToolCallFormat::Hermes);
    assert!(p.tool_calls.is_empty());
    assert_eq!(p.content, out);
    assert_eq!(
        ToolCallFormat::detect(LLAMA31_TOOLS),
        ToolCallFormat::Llama3
    );
}

fn render_text(template: &str) -> Result<String, PluginError> {
    render(
        conversation(),
        vec![],
        false,
        model(template, Some("<s>"), Some("</s>")),
    )
    .map(|r| r.prompt)
}

#[test]
fn tools_are_python_none_without_tools() {
    assert_eq!(
        render_text("{{ tools is defined }} {{ tools is none }} {{ tools is iterable }} {{ tools }} {{ tools | tojson }} {{ documents is none }}").unwrap(),
        "True True False None null True"
    );
    // As in Jinja2, iterating None fails, and the sequence filters take it as nothing.
    assert!(render_text("{% for t in tools %}{% endfor %}").is_err());
    assert_eq!(
        render_text("{{ tools | selectattr('type') | list | length }}").unwrap(),
        "0"
    );
    assert_eq!(
        render_text("{{ undefined_thing is iterable }}").unwrap(),
        "True"
    );
}

#[test]
fn sequence_filters_give_generators_like_jinja2() {
    assert_eq!(
        render_text("{% if [] | select %}yes{% endif %}").unwrap(),
        "yes"
    );
    assert_eq!(
        render_text("{{ [1, 2] | map('string') | join(',') }}").unwrap(),
        "1,2"
    );
    let err = render_text("{{ [1, 2] | map('string') | tojson }}").unwrap_err();
    assert!(
        err.message().contains("generator is not JSON serializable"),
        "{err:?}"
    );
    let err = render_text("{{ nothing | tojson }}").unwrap_err();
    assert!(
        err.message().contains("Undefined is not JSON serializable"),
        "{err:?}"
    );
}

#[test]
fn generation_blocks_render_their_body_and_trim_like_jinja2() {
    let t = "{% for m in messages %}\n  {% generation %}\n{{ m.role }}\n  {%- endgeneration %}\n{% endfor %}";
    // What Jinja2 renders for it (checked with transformers' environment).
    assert_eq!(render_text(t).unwrap(), "systemuserassistantuser");
    assert_eq!(
        environment::rewrite_generation_tags("{%- generation -%}x{%+ endgeneration %}"),
        "{%- if true -%}x{%+ endif %}"
    );
}

#[test]
fn settings_are_checked() {
    assert_eq!(clock(Some("1721995200".into())).unwrap(), NOW);
    assert_eq!(
        clock(Some("soon".into())).unwrap_err().kind(),
        "invalid-input"
    );
    assert_eq!(configured_format(None).unwrap(), ToolCallFormat::Auto);
    assert_eq!(
        configured_format(Some("qwen3-coder".into())).unwrap(),
        ToolCallFormat::Qwen3Coder
    );
    let err = configured_format(Some("xml".into())).unwrap_err();
    assert!(
        err.message().contains("harmony") && err.message().contains("\"xml\""),
        "{err:?}"
    );
}

#[test]
fn harmony_templates_stop_on_return_and_call_not_end() {
    let gpt_oss = include_str!("../fixtures/llama.cpp/openai-gpt-oss-120b.jinja");
    let stop = stop_strings(gpt_oss, ToolCallFormat::detect(gpt_oss), "<|return|>");
    assert!(
        stop.contains(&"<|call|>".to_string()) && stop.contains(&"<|return|>".to_string()),
        "{stop:?}"
    );
    assert!(!stop.contains(&"<|end|>".to_string()), "{stop:?}");
    let phi = "{{ '<|user|>' + m + '<|end|>' }}";
    assert_eq!(
        stop_strings(phi, ToolCallFormat::detect(phi), ""),
        vec!["<|end|>"]
    );
}

/// The test kit's template (ChatML turns, no tools): what SmolLM2-style templates do.
const TOOLLESS_CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

#[test]
fn request_settings_set_the_thinking_switch_and_the_effort() {
    let qwen3 = include_str!("../fixtures/llama.cpp/Qwen-Qwen3-0.6B.jinja");
    let req = RenderRequest {
        messages: vec![ChatMessage::user("Hi")],
        tools: vec![],
        add_generation_prompt: true,
        model: model(qwen3, None, Some("<|im_end|>")),
    };
    let on = render_with_time(&req, NOW).unwrap().prompt;
    let off = RenderOptions {
        now: NOW,
        enable_thinking: Some(false),
        ..RenderOptions::default()
    };
    let off = render_with(&req, &off).unwrap().prompt;
    assert!(!on.contains("</think>"), "{on}");
    assert!(off.ends_with("<think>\n\n</think>\n\n"), "{off}");

    let gpt_oss = include_str!("../fixtures/llama.cpp/openai-gpt-oss-120b.jinja");
    let req = RenderRequest {
        model: model(gpt_oss, None, None),
        ..req
    };
    let high = RenderOptions {
        now: NOW,
        reasoning_effort: Some("high".into()),
        ..RenderOptions::default()
    };
    assert!(render_with_time(&req, NOW)
        .unwrap()
        .prompt
        .contains("Reasoning: medium"));
    assert!(render_with(&req, &high)
        .unwrap()
        .prompt
        .contains("Reasoning: high"));
}

#[test]
fn hermes_tool_prompt_offers_tools_a_template_drops() {
    let req = RenderRequest {
        messages: tool_conversation(),
        tools: tools(),
        add_generation_prompt: true,
        model: model(TOOLLESS_CHATML, None, Some("<|im_end|>")),
    };
    let dropped = render_with_time(&req, NOW).unwrap().prompt;
    assert!(
        !dropped.contains("get_weather\", \"description"),
        "{dropped}"
    );
    let options = RenderOptions {
        now: NOW,
        hermes_tools: true,
        ..RenderOptions::default()
    };
    let offered = render_with(&req, &options).unwrap().prompt;
    assert!(
        offered.starts_with("<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n"),
        "{offered}"
    );
    assert!(
        offered
            .contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""),
        "{offered}"
    );
    assert!(offered.contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call><|im_end|>"), "{offered}");
    assert!(offered.contains("<|im_start|>user\n<tool_response>\n{\"temperature\": 21, \"sky\": \"clear\"}\n</tool_response><|im_end|>"), "{offered}");
    // What the model answers in that markup is read back as a call.
    let parsed = parse_output(
        "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>",
        &tools(),
    );
    assert_eq!(parsed.tool_calls.len(), 1);
    assert_eq!(parsed.tool_calls[0].name, "now");
}

#[test]
fn bad_request_settings_are_named() {
    let get = |key: &str| (key == "enable-thinking").then(|| "maybe".to_string());
    let e = RenderOptions::from_settings(get).unwrap_err();
    assert!(e.to_string().contains("enable-thinking"), "{e}");
    let get = |key: &str| (key == "tool-prompt").then(|| "xml".to_string());
    assert!(RenderOptions::from_settings(get).is_err());
    let get = |key: &str| match key {
        "now" => Some("5".to_string()),
        "enable-thinking" => Some("true".to_string()),
        "tool-prompt" => Some("hermes".to_string()),
        _ => None,
    };
    let o = RenderOptions::from_settings(get).unwrap();
    assert_eq!(
        (o.now, o.enable_thinking, o.hermes_tools),
        (5, Some(true), true)
    );
}

/// jinja2's `Markup` with auto-escaping off (`markup.rs`): `|safe` / `|e` + plain text escapes
/// the text markupsafe's way and stays a `Markup` (also through `trim`, `upper`, `indent`, `*`
/// and Python string methods, markupsafe's way); prints, `~`, `{% set %}` blocks, macros,
/// `{% filter %}` blocks, `join` and `replace` escape nothing; transformers' `tojson` is plain.
/// Each expected text is what Jinja2 3.1.6 renders (set up as above).
#[test]
fn markup_from_safe_escapes_what_it_is_added_to() {
    let cases = [
        (r#"{{ "a"|safe + '<"x">&\'' }}"#, "a&lt;&#34;x&#34;&gt;&amp;&#39;"),
        (r#"{{ '<"x">' }}"#, r#"<"x">"#),
        (r#"{{ "a"|safe ~ '<x>' }}"#, "a<x>"),
        // (`''|safe` puts the template in markup mode.)
        (
            r#"{% set s %}<{{ '"q"' }}>{% endset %}{{ s + '<' }}{{ ''|safe }}"#,
            r#"<"q"><"#,
        ),
        ("{% macro m() %}<b>{% endmacro %}{{ m() + '<' }}{{ ''|safe }}", "<b><"),
        (
            "{% macro m() %}{{ caller() + '<' }}{% endmacro %}{% call m() %}<i>{% endcall %}{{ ''|safe }}",
            "<i><",
        ),
        (
            "{% for x in [1, [2]] recursive %}{% if x is iterable %}{{ loop(x) + '<' }}\
             {% else %}<{{ x }}>{% endif %}{% endfor %}{{ ''|safe }}",
            "<1><2><",
        ),
        (r#"{% filter tojson %}<"a">{% endfilter %}{{ ''|safe }}"#, r#""<\"a\">""#),
        (r#"{{ ("a"|safe + '<') ~ '>' }}"#, "a&lt;>"),
        ("{{ '<'|e }}{{ ('<'|e) + '<' }}", "&lt;&lt;&lt;"),
        (r#"{{ "x"|safe + {"k": "v"}|tojson }}"#, "x{&#34;k&#34;: &#34;v&#34;}"),
        (
            r#"{% if ("a"|safe + "b") is escaped %}E{% endif %}{% if ("a"|safe ~ "b") is not escaped %}P{% endif %}"#,
            "EP",
        ),
        (r#"{{ ("a"|safe + "<")|length }}"#, "5"),
        (r#"{{ ("a"|safe * 2) + "<" }}"#, "aa&lt;"),
        (r#"{% filter upper %}{{ "a"|safe + "<" }}{% endfilter %}"#, "A&LT;"),
        (r#"{{ ["<", "a"|safe]|join("|"|safe) }}"#, "<|a"),
        (r#"{{ ("a<"|safe)|replace("<", ">") }}"#, "a>"),
        (r#"{{ ("a"|safe|trim) + "<" }}"#, "a&lt;"),
        (r#"{{ ("a"|safe|title) + "<" }}"#, "A<"),
        (r#"{{ ("a"|safe|upper) + "<" }}"#, "A&lt;"),
        (r#"{{ ("a\nb"|safe|indent(2)) + "<" }}"#, "a\n  b&lt;"),
        (r#"{{ ("a<"|safe).strip() + "<" }}"#, "a<&lt;"),
        (r#"{{ ("<a>"|safe).replace("a", "&") }}"#, "<&amp;>"),
        (r#"{{ ("a,b"|safe).split(",")[0] + "<" }}"#, "a&lt;"),
        (r#"{{ ("a\nb"|safe).splitlines()[1] + "<" }}"#, "b&lt;"),
        (r#"{{ (", "|safe).join(["<", "b"|safe, 1]) }}"#, "&lt;, b, 1"),
        (r#"{{ ("x"|safe).upper() + "'" }}"#, "X&#39;"),
        (r#"{% if ("<x"|safe).startswith("<") %}S{% endif %}"#, "S"),
    ];
    for (template, want) in cases {
        let r = render(vec![], vec![], false, model(template, None, None))
            .unwrap_or_else(|e| panic!("{template}: {e:?}"));
        assert_eq!(r.prompt, want, "{template}");
    }
}
