//! The `jinja` component (the real `.wasm` the binary embeds, in wasmtime) renders every
//! template of llama.cpp's `models/templates/` (copied into
//! `plugins/templates/jinja/fixtures/llama.cpp/`) with every conversation of
//! `fixtures/conversations.json` byte for byte as transformers does (`fixtures/expected/`,
//! written by `fixtures/generate.py`), or refuses where transformers refuses; the known
//! exceptions and their reasons are `fixtures/known-differences.json`. The request goes
//! through the host's own types (serde_json with `preserve_order`), so the key order of the
//! tools' schemas is checked end to end.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use shimmy_plugins::*;

/// The clock of the fixtures (2024-07-26 12:00:00 UTC), given to the plugin as its `now`.
const FIXED_NOW: &str = "1721995200";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/templates/jinja/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An OpenAI-shaped message as a client sends it, in the contract's shape.
fn message(m: &Value) -> ChatMessage {
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    let tool_calls = m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| ToolCall {
            id: c["id"].as_str().unwrap_or_default().to_string(),
            name: c["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            arguments: c["function"]["arguments"].to_string(),
        })
        .collect();
    ChatMessage {
        role: text("role").unwrap_or_default(),
        content: text("content").unwrap_or_default(),
        tool_calls,
        tool_call_id: text("tool_call_id"),
        name: text("name"),
        reasoning_content: text("reasoning_content"),
    }
}

fn tool(t: &Value) -> ToolDefinition {
    let f = &t["function"];
    ToolDefinition {
        name: f["name"].as_str().unwrap_or_default().to_string(),
        description: f["description"].as_str().unwrap_or_default().to_string(),
        parameters_schema: f["parameters"].to_string(),
    }
}

#[test]
fn every_llama_cpp_template_renders_as_transformers_does() {
    init_log();
    let rt = PluginRuntime::new(RuntimeConfig {
        timeout_ms: 10_000,
        cache_dir: Some(shared_cache()),
        settings: Settings::parse([format!("jinja:now={FIXED_NOW}")]).unwrap(),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let plugins = registry(&rt, &["jinja"]);
    let reg = plugins.blocking().unwrap();

    let dir = fixtures();
    let spec = read_json(&dir.join("conversations.json"));
    let known: BTreeMap<String, Value> = read_json(&dir.join("known-differences.json"))["cases"]
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    let tools: Vec<ToolDefinition> = spec["tools"].as_array().unwrap().iter().map(tool).collect();
    let mut expected: Vec<PathBuf> = std::fs::read_dir(dir.join("expected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    expected.sort();
    assert!(expected.len() >= 71, "{} expected files", expected.len());

    let (mut identical, mut refused, mut total) = (0, 0, 0);
    let mut problems = Vec::new();
    for path in &expected {
        let want = read_json(path);
        let file = want["template"].as_str().unwrap();
        let source = std::fs::read_to_string(dir.join(file)).unwrap();
        let token = |k: &str| {
            want[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        for (conv, render) in want["renders"].as_object().unwrap() {
            let c = &spec["conversations"][conv];
            let request = RenderRequest {
                messages: c["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(message)
                    .collect(),
                tools: if c["tools"] == true {
                    tools.clone()
                } else {
                    Vec::new()
                },
                add_generation_prompt: true,
                model: ModelContext {
                    architecture: "test".into(),
                    chat_template: Some(source.clone()),
                    bos_token: token("bos_token"),
                    eos_token: token("eos_token"),
                },
            };
            total += 1;
            let key = format!("{}/{conv}", file.trim_start_matches("llama.cpp/"));
            let got = reg.render_template("jinja", request);
            let same = match (render.get("prompt").and_then(Value::as_str), &got) {
                (Some(p), Ok(r)) => r.prompt == p,
                (None, Err(e)) => {
                    let raised = render["raised"] == true;
                    let message = render["error"].as_str().unwrap_or_default();
                    // The template's own raise_exception message comes back unchanged.
                    let ok = !raised || e.to_string().contains(message);
                    refused += usize::from(ok);
                    ok
                }
                _ => false,
            };
            identical += usize::from(same && got.is_ok());
            if same == known.contains_key(&key) {
                problems.push(match got {
                    Ok(r) if !same => format!("{key}: renders differently: {:?}", r.prompt),
                    Err(e) if !same => format!("{key}: {e}"),
                    _ => format!(
                        "{key}: listed in known-differences.json but renders as transformers does"
                    ),
                });
            }
        }
    }
    eprintln!(
        "{identical} of {total} renders identical, {refused} refused by both, {} known differences",
        known.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The component reads each family's tool calls and reasoning out of fixed outputs (what the
/// models write), with no format set: the markup tells the format.
#[test]
fn jinja_parses_every_family_format_from_fixed_outputs() {
    init_log();
    let rt = runtime_in(&shared_cache(), 10_000, Grants::none());
    let plugins = registry(&rt, &["jinja"]);
    let reg = plugins.blocking().unwrap();
    let tools = vec![ToolDefinition {
        name: "get_weather".into(),
        description: String::new(),
        parameters_schema: r#"{"type": "object", "properties": {"city": {"type": "string"}}}"#
            .into(),
    }];
    let cases = [
        ("hermes", "<think>Plan.</think>Checking.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"),
        ("qwen3-coder", "<think>Plan.</think>Checking.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"),
        ("llama3", "Checking.<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"),
        ("mistral", "[THINK]Plan.[/THINK]Checking.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}"),
        ("harmony", "<|channel|>analysis<|message|>Plan.<|end|><|start|>assistant<|channel|>commentary<|message|>Checking.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{\"city\": \"Paris\"}"),
        ("deepseek", "<think>Plan.</think>Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
        ("kimi-k2", "<think>Plan.</think>Checking.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"city\": \"Paris\"}<|tool_call_end|><|tool_calls_section_end|>"),
        ("glm", "<think>Plan.</think>Checking.<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>"),
        ("functionary-v3.1", "Checking.<function=get_weather>{\"city\": \"Paris\"}</function>"),
        ("command-r7b", "<|START_THINKING|>Plan.<|END_THINKING|><|START_RESPONSE|>Checking.<|END_RESPONSE|><|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}]<|END_ACTION|>"),
        ("granite", "<think>Plan.</think><response>Checking.</response><|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]"),
        ("minimax-m2", "<think>Plan.</think>Checking.\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n</invoke>\n</minimax:tool_call>"),
        ("minimax-m3", "<mm:think>Plan.</mm:think>Checking.]<]minimax[>[<tool_call>\n]<]minimax[>[<invoke name=\"get_weather\">]<]minimax[>[<city>Paris]<]minimax[>[</city>]<]minimax[>[</invoke>\n]<]minimax[>[</tool_call>"),
        ("deepseek-dsml", "<think>Plan.</think>Checking.\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>"),
        ("apriel", "Plan.\n[BEGIN FINAL RESPONSE]\nChecking.\n<tool_calls>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]</tool_calls>\n<|end|>"),
    ];
    for (format, output) in cases {
        let p = reg.parse_output("jinja", output, &tools).unwrap();
        assert_eq!(p.content, "Checking.", "{format}: {p:?}");
        if format != "llama3" && format != "functionary-v3.1" {
            assert_eq!(p.reasoning.as_deref(), Some("Plan."), "{format}: {p:?}");
        }
        assert_eq!(p.tool_calls.len(), 1, "{format}: {p:?}");
        assert_eq!(p.tool_calls[0].name, "get_weather", "{format}");
        assert_eq!(p.tool_calls[0].arguments, r#"{"city":"Paris"}"#, "{format}");
        // Without tools offered nothing is a call.
        assert!(
            reg.parse_output("jinja", output, &[])
                .unwrap()
                .tool_calls
                .is_empty(),
            "{format}"
        );
    }
}
