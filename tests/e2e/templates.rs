//! Real chat templates end to end, through the binary over HTTP with real llama.cpp:
//!
//! * a sample of llama.cpp's templates (`plugins/templates/jinja/fixtures/llama.cpp/`) rendered
//!   by `POST /api/template/render` gives the bytes transformers renders
//!   (`fixtures/expected/`), tools included (their key order kept through the server);
//! * models shaped like gpt-oss, Qwen3-Coder, Llama 3.1 and DeepSeek V3.1 (the family's real
//!   tokenizer from a `ggml-vocab-*.gguf` file, its template, random weights): the control
//!   tokens of the rendered prompt are single token ids, chat and streaming work, and a forced
//!   tool call is written in the family's own syntax (the grammar ends in an end-of-generation
//!   token of the family, so generation stops there) and parsed back into a call, whose result
//!   then renders into the next prompt.
//!
//! The vocabulary files come from `.ci/install-deps` (`$SHIMMY_VOCAB_DIR`).

mod common;

use std::path::{Path, PathBuf};

use common::{s, Sandbox, ServerProc};
use serde_json::{json, Value};
use shimmy_testkit::{write_model, ModelSpec, VocabFamily, WeightType};

/// The clock of the fixtures, given to the `jinja` plugin.
const NOW: &str = "jinja:now=1721995200";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/templates/jinja/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn template(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("llama.cpp").join(format!("{name}.jinja"))).unwrap()
}

fn post(server: &ServerProc, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = server.post_text(path, body);
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
    (status, v)
}

/// A small dense model around `template` (built-in vocabulary), named `name`.
fn small_model(dir: &Path, name: &str, template: String) -> PathBuf {
    let path = dir.join(format!("{name}.gguf"));
    write_model(
        &ModelSpec::dense()
            .with_name(name)
            .with_chat_template(Some(template)),
        &path,
    )
    .expect("write model");
    path
}

/// Templates that print neither `bos_token` nor `eos_token` (the test models' special tokens
/// are not the fixtures'), of families with tools (Nemotron 3 Nano also prints an earlier
/// turn's `reasoning_content`).
const SAMPLE: [&str; 6] = [
    "Qwen3-Coder",
    "openai-gpt-oss-120b",
    "GLM-4.6",
    "moonshotai-Kimi-K2",
    "Qwen-Qwen3-0.6B",
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16",
];

#[test]
fn render_route_gives_what_transformers_renders() {
    let sb = Sandbox::new();
    let mut args: Vec<String> = Vec::new();
    for name in SAMPLE {
        let path = small_model(sb.path(), &name.to_lowercase(), template(name));
        args.extend(["--model".into(), s(&path).to_string()]);
    }
    args.extend([
        "--plugin-config".into(),
        NOW.into(),
        "--ctx-size".into(),
        "512".into(),
    ]);
    let server = sb.serve(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let spec = read_json(&fixtures().join("conversations.json"));
    let mut checked = 0;
    for name in SAMPLE {
        let expected = read_json(&fixtures().join("expected").join(format!("{name}.json")));
        for (conv, want) in expected["renders"].as_object().unwrap() {
            let c = &spec["conversations"][conv];
            let mut body = json!({"model": name.to_lowercase(), "messages": c["messages"]});
            if c["tools"] == true {
                body["tools"] = spec["tools"].clone();
            }
            let (status, v) = post(&server, "/api/template/render", &body);
            match want.get("prompt").and_then(Value::as_str) {
                Some(prompt) => {
                    assert_eq!(status, 200, "{name}/{conv}: {v}");
                    assert_eq!(v["template"], "jinja", "{name}/{conv}");
                    assert_eq!(v["prompt"].as_str().unwrap(), prompt, "{name}/{conv}");
                }
                None => assert!(
                    status >= 400,
                    "{name}/{conv}: transformers refuses, got {v}"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, SAMPLE.len() * 4);
}

/// A model of `family` (its tokenizer, `template_name`'s template, random weights).
fn family_model(dir: &Path, family: VocabFamily, template_name: &str) -> PathBuf {
    let tokenizer = family.tokenizer().unwrap_or_else(|e| {
        panic!("{e}: run .ci/install-deps (it extracts the ggml-vocab files of llama.cpp)")
    });
    let name = format!("{family:?}").to_lowercase();
    let path = dir.join(format!("{name}.gguf"));
    let spec = ModelSpec {
        n_layer: 2,
        n_embd: 64,
        n_ff: 128,
        n_head: 2,
        n_head_kv: 1,
        ..ModelSpec::dense()
    }
    .with_weight_type(WeightType::F16)
    .with_name(name)
    .with_chat_template(Some(template(template_name)))
    .with_tokenizer(tokenizer);
    write_model(&spec, &path).expect("write family model");
    path
}

/// A family under test: its tokenizer, template, the control tokens its prompt must hold as
/// single ids, stop strings the render must give, and one it must not.
struct Family {
    vocab: VocabFamily,
    template: &'static str,
    controls: Vec<&'static str>,
    stops: Vec<&'static str>,
    not_stop: Option<&'static str>,
}

fn families() -> Vec<Family> {
    vec![
        Family {
            vocab: VocabFamily::GptOss,
            template: "openai-gpt-oss-120b",
            controls: vec!["<|start|>", "<|message|>", "<|end|>"],
            stops: vec!["<|return|>", "<|call|>"],
            not_stop: Some("<|end|>"),
        },
        Family {
            vocab: VocabFamily::Qwen3,
            template: "Qwen3-Coder",
            controls: vec!["<|im_start|>", "<|im_end|>"],
            stops: vec!["<|im_end|>"],
            not_stop: None,
        },
        Family {
            vocab: VocabFamily::Llama31,
            template: "meta-llama-Llama-3.1-8B-Instruct",
            controls: vec![
                "<|begin_of_text|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eot_id|>",
            ],
            stops: vec!["<|eot_id|>", "<|eom_id|>"],
            not_stop: None,
        },
        Family {
            vocab: VocabFamily::DeepSeekV3,
            template: "deepseek-ai-DeepSeek-V3.1",
            controls: vec!["<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"],
            stops: vec!["<｜end▁of▁sentence｜>"],
            not_stop: None,
        },
    ]
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 10}}, "required": ["city"]}}})
}

#[test]
fn families_tokenize_chat_stream_and_call_tools_in_their_own_syntax() {
    let sb = Sandbox::new();
    let mut args: Vec<String> = Vec::new();
    for f in families() {
        let path = family_model(sb.path(), f.vocab, f.template);
        args.extend(["--model".into(), s(&path).to_string()]);
    }
    args.extend(
        [
            "--plugin-config",
            NOW,
            "--ctx-size",
            "1024",
            "--parallel",
            "1",
            "--max-loaded-models",
            "4",
        ]
        .map(String::from),
    );
    let server = sb.serve(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for Family {
        vocab: family,
        controls,
        stops,
        not_stop,
        ..
    } in families()
    {
        let model = format!("{family:?}").to_lowercase();
        let vocab = family.tokenizer().unwrap().load().unwrap();
        let user = json!([{"role": "user", "content": "What is the weather in Paris?"}]);

        // Control tokens of the rendered prompt are single ids; the family's stops are given.
        let (status, r) = post(
            &server,
            "/api/template/render",
            &json!({"model": model, "messages": user, "tools": [weather_tool()]}),
        );
        assert_eq!(status, 200, "{family:?}: {r}");
        let prompt = r["prompt"].as_str().unwrap();
        let stop: Vec<&str> = r["stop"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for s in &stops {
            assert!(stop.contains(s), "{family:?}: stop {stop:?} lacks {s}");
        }
        if let Some(s) = not_stop {
            assert!(
                !stop.contains(&s),
                "{family:?}: {s} must not stop generation: {stop:?}"
            );
        }
        let (status, t) = post(
            &server,
            "/tokenize",
            &json!({"model": model, "content": prompt, "parse_special": true}),
        );
        assert_eq!(status, 200, "{family:?}: {t}");
        let ids: Vec<u64> = t["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        for c in &controls {
            let id = u64::from(
                vocab
                    .id_of(c)
                    .unwrap_or_else(|| panic!("{family:?}: {c} not in the vocabulary")),
            );
            let in_text = prompt.matches(c).count();
            assert!(in_text > 0, "{family:?}: the prompt has no {c}: {prompt}");
            assert_eq!(
                ids.iter().filter(|&&i| i == id).count(),
                in_text,
                "{family:?}: {c} (id {id}) is not one token each time in {prompt:?}"
            );
        }

        // Chat and streaming (random weights: any text, cut by max_tokens).
        let chat = json!({"model": model, "messages": user, "max_tokens": 6, "temperature": 0});
        let (status, v) = post(&server, "/v1/chat/completions", &chat);
        assert_eq!(status, 200, "{family:?}: {v}");
        assert!(
            v["choices"][0]["message"]["content"].is_string()
                || v["choices"][0]["message"]["reasoning_content"].is_string(),
            "{family:?}: {v}"
        );
        let mut streamed = chat.clone();
        streamed["stream"] = json!(true);
        let (status, text) = server.post_text("/v1/chat/completions", &streamed);
        assert_eq!(status, 200, "{family:?}: {text}");
        assert!(
            text.trim_end().ends_with("data: [DONE]"),
            "{family:?}: {text}"
        );
        assert!(text.contains("\"finish_reason\":\""), "{family:?}: {text}");

        // A forced call: the family's syntax, ended by its end-of-generation token.
        let forced = json!({"model": model, "messages": user, "tools": [weather_tool()],
            "tool_choice": "required", "max_tokens": 120, "temperature": 0.7, "seed": 3});
        let (status, v) = post(&server, "/v1/chat/completions", &forced);
        assert_eq!(status, 200, "{family:?}: {v}");
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{family:?}: {v}");
        assert!(
            v["usage"]["completion_tokens"].as_u64().unwrap() < 120,
            "{family:?}: generation must end when the call is complete: {v}"
        );
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "get_weather", "{family:?}: {v}");
        let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{family:?}: arguments are not JSON ({e}): {v}"));
        assert!(args["city"].is_string(), "{family:?}: {v}");

        // The round trip: the call and its result render into the next prompt.
        let messages = json!([
            user[0],
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "{\"temperature\": 21}"}
        ]);
        let (status, r) = post(
            &server,
            "/api/template/render",
            &json!({"model": model, "messages": messages, "tools": [weather_tool()]}),
        );
        assert_eq!(status, 200, "{family:?}: {r}");
        let prompt = r["prompt"].as_str().unwrap();
        assert!(
            prompt.contains("temperature") && prompt.contains("21"),
            "{family:?}: {prompt}"
        );
        let (status, v) = post(
            &server,
            "/v1/chat/completions",
            &json!({"model": model, "messages": messages, "tools": [weather_tool()], "max_tokens": 4}),
        );
        assert_eq!(status, 200, "{family:?}: {v}");
    }
}

#[test]
fn template_render_command_takes_tools() {
    let sb = Sandbox::new();
    let model = small_model(sb.path(), "qwen3-coder", template("Qwen3-Coder"));
    let spec = read_json(&fixtures().join("conversations.json"));
    let chat = sb.path().join("chat.json");
    let tools = sb.path().join("tools.json");
    std::fs::write(
        &chat,
        spec["conversations"]["tools"]["messages"].to_string(),
    )
    .unwrap();
    std::fs::write(&tools, json!({"tools": spec["tools"]}).to_string()).unwrap();
    let run = sb
        .run(&[
            "--plugin-config",
            NOW,
            "template",
            "render",
            "--model",
            s(&model),
            "--messages",
            s(&chat),
            "--tools",
            s(&tools),
        ])
        .ok();
    let expected = read_json(&fixtures().join("expected/Qwen3-Coder.json"));
    assert_eq!(
        run.stdout,
        expected["renders"]["tools"]["prompt"].as_str().unwrap()
    );
    // A tools file that is not a list of tools is named in the error.
    std::fs::write(&tools, "{\"tools\": 3}").unwrap();
    let run = sb
        .run(&[
            "template",
            "render",
            "--model",
            s(&model),
            "--messages",
            s(&chat),
            "--tools",
            s(&tools),
        ])
        .fails();
    assert!(
        run.stderr.contains("tools.json") && run.stderr.contains("\"tools\" list"),
        "{}",
        run.stderr
    );
}

/// MiniMax M2/M3, DeepSeek V3.2/V4 (DSML) and Apriel 1.6 models (random weights, their
/// templates, the test kit's small vocabulary, so markup takes many tokens): a forced call is sampled under the grammar of the family's own markup and read
/// back by the template's parser; Apriel's reasoning, which its generation prompt opens,
/// streams as reasoning.
#[test]
fn forced_calls_in_minimax_dsml_and_apriel_markup_parse_back() {
    let sb = Sandbox::new();
    let templates = [
        ("minimax-m2", "MiniMax-M2"),
        ("minimax-m3", "MiniMax-M3"),
        ("dsml", "deepseek-ai-DeepSeek-V3.2"),
        ("dsml-v4", "deepseek-ai-DeepSeek-V4"),
        ("apriel", "Apriel-1.6-15b-Thinker-fixed"),
    ];
    let mut args: Vec<String> = Vec::new();
    for (name, file) in templates {
        let path = small_model(sb.path(), name, template(file));
        args.extend(["--model".into(), s(&path).to_string()]);
    }
    args.extend(
        [
            "--plugin-config",
            NOW,
            "--parallel",
            "1",
            "--max-loaded-models",
            "5",
        ]
        .map(String::from),
    );
    let server = sb.serve(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let user = json!([{"role": "user", "content": "What is the weather in Paris?"}]);
    for (model, _) in templates {
        let forced = json!({"model": model, "messages": user, "tools": [weather_tool()],
            "tool_choice": "required", "max_tokens": 400, "temperature": 0.7, "seed": 3});
        let (status, v) = post(&server, "/v1/chat/completions", &forced);
        assert_eq!(status, 200, "{model}: {v}");
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model}: {v}");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "get_weather", "{model}: {v}");
        let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{model}: arguments are not JSON ({e}): {v}"));
        assert!(args["city"].is_string(), "{model}: {v}");
    }

    // Apriel 1.6: the prompt ends in "Here are my reasoning steps:", so what the model
    // writes (no `[BEGIN FINAL RESPONSE]` in a few random tokens) is reasoning.
    let chat = json!({"model": "apriel", "messages": user, "max_tokens": 6, "temperature": 0,
        "stream": true});
    let (status, text) = server.post_text("/v1/chat/completions", &chat);
    assert_eq!(status, 200, "{text}");
    let deltas: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .map(|c| c["choices"][0]["delta"].clone())
        .collect();
    assert!(
        deltas.iter().any(|d| d["reasoning_content"]
            .as_str()
            .is_some_and(|r| !r.is_empty())),
        "{text}"
    );
    assert!(
        deltas
            .iter()
            .all(|d| d["content"].as_str().is_none_or(str::is_empty)),
        "reasoning streamed as content: {text}"
    );
}
