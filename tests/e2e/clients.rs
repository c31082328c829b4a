//! What real clients send, on the real binary: the bodies of the Vercel AI SDK's Ollama
//! provider, Open WebUI and LangChain as they send them, the official `openai` and `ollama`
//! Python SDKs (tests/e2e/python/clients.py), and a real instruct model (SmolLM2-135M-Instruct,
//! whose own chat template drops tools) for the Hermes tool-prompt fallback.

mod common;

use common::{http, models, run_python, s, smollm2, Sandbox, ServerProc};
use serde_json::{json, Value};
use shimmy_testkit::{write_model, ModelSpec, CHATML_TEMPLATE};

/// POSTs `body`; the status and the JSON answer. A long timeout: on a busy 2-core machine
/// a real model's answer can take a while.
fn post(server: &ServerProc, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = post_text(server, path, body);
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
    (status, v)
}

fn post_text(server: &ServerProc, path: &str, body: &Value) -> (u16, String) {
    let r = http(300)
        .post(format!("{}{path}", server.base))
        .json(body)
        .send()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    (r.status().as_u16(), r.text().expect("body"))
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sse(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// A ChatML template with Qwen3's thinking switch: thinking off writes an empty think block.
fn thinking_template() -> String {
    CHATML_TEMPLATE.replace(
        "{{ '<|im_start|>assistant\\n' }}",
        "{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}",
    )
}

/// `serve` with the dense test model and `thinker` (the same with [`thinking_template`]),
/// context 512.
fn serve_two(sb: &Sandbox) -> ServerProc {
    let thinker = sb.path().join("thinker.gguf");
    write_model(
        &ModelSpec::dense().with_chat_template(Some(thinking_template())),
        &thinker,
    )
    .expect("write thinker");
    sb.serve(&[
        "--model",
        s(&models().dense),
        "--model",
        s(&thinker),
        "--ctx-size",
        "512",
        "--parallel",
        "2",
    ])
}

fn weather_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 12}},
                "required": ["city"]
            },
            "strict": false
        }
    })
}

#[test]
fn ollama_routes_take_what_real_clients_send() {
    let sb = Sandbox::new();
    let server = serve_two(&sb);
    let user = json!([{"role": "user", "content": "What is the weather in Paris?"}]);

    // The Vercel AI SDK's Ollama provider: `max_output_tokens`, top-level sampling, `think`,
    // tools with `strict` and a named `tool_choice`, forced by the same grammar as on /v1.
    let (status, v) = post(
        &server,
        "/api/chat",
        &json!({
            "model": "dense", "messages": user, "temperature": 0.7, "top_p": 0.9,
            "max_output_tokens": 200, "think": false, "stream": false,
            "tools": [weather_tool()], "tool_choice": {"type": "function", "name": "get_weather"},
        }),
    );
    assert_eq!(status, 200, "{v}");
    let call = &v["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "get_weather", "{v}");
    assert!(call["arguments"]["city"].is_string(), "{v}");
    assert_eq!(v["message"]["content"], "", "{v}");

    // Open WebUI's connect sequence, then a chat with the options it fills in.
    assert!(server.get_json("/api/version")["version"].is_string());
    let tags = server.get_json("/api/tags");
    assert_eq!(tags["models"].as_array().unwrap().len(), 2, "{tags}");
    let caps = |model: &str| {
        let (status, v) = post(&server, "/api/show", &json!({"model": model}));
        assert_eq!(status, 200, "{v}");
        v["capabilities"].clone()
    };
    // Both templates drop tools: the Hermes fallback offers them, so tools work.
    assert_eq!(caps("dense"), json!(["completion", "tools"]));
    assert_eq!(caps("thinker"), json!(["completion", "tools", "thinking"]));
    let (status, text) = post_text(
        &server,
        "/api/chat",
        &json!({
            "model": "dense", "messages": [{"role": "user", "content": "Hi"}], "stream": true,
            "options": {"temperature": 0.8, "num_ctx": 2048, "use_mmap": true, "num_thread": 2,
                        "repeat_last_n": 64, "mirostat": 0, "num_predict": 5, "num_gpu": 0,
                        "low_vram": false, "vocab_only": false, "some_future_option": 1},
            "keep_alive": "5m", "format": "", "metadata": {"chat_id": "abc"}, "session_id": "s1",
        }),
    );
    assert_eq!(status, 200, "{text}");
    let lines = ndjson(&text);
    assert_eq!(lines.last().unwrap()["done"], true, "{text}");
    assert_eq!(lines.last().unwrap()["eval_count"], 5, "{text}");

    // LangChain's ChatOllama with bound tools (ollama-python's body: no `tool_choice`).
    let (status, v) = post(
        &server,
        "/api/chat",
        &json!({
            "model": "dense", "messages": user, "stream": false,
            "options": {"num_predict": 5, "temperature": 0.0}, "tools": [weather_tool()],
            "think": null, "keep_alive": null,
        }),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["done_reason"], "length", "{v}");

    // truncate: a prompt longer than the context is cut to half of it (first 4 tokens kept)
    // unless `truncate: false`, which refuses it.
    let long = "alpha beta gamma delta ".repeat(150);
    let body = |extra: Value| {
        let mut b = json!({"model": "dense", "prompt": long, "stream": false,
                           "options": {"num_predict": 2}});
        for (k, x) in extra.as_object().unwrap() {
            b[k] = x.clone();
        }
        b
    };
    let (_, t) = post(
        &server,
        "/tokenize",
        &json!({"model": "dense", "content": long}),
    );
    assert!(t["tokens"].as_array().unwrap().len() > 512, "{t}");
    let (status, v) = post(&server, "/api/generate", &body(json!({})));
    assert_eq!(status, 200, "{v}");
    // Cut to 4 + (512 - 4) / 2 tokens, of which a few may come from the prompt cache.
    let evaluated = v["prompt_eval_count"].as_u64().unwrap();
    assert!((240..=258).contains(&evaluated), "{v}");
    let (status, v) = post(&server, "/api/generate", &body(json!({"truncate": false})));
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("512"), "{v}");

    // shift: a full context drops half of what follows the first tokens and generation goes
    // on up to num_predict; `shift: false` stops at the full context.
    let prompt = "one two three four ".repeat(115);
    let (_, t) = post(
        &server,
        "/tokenize",
        &json!({"model": "dense", "content": prompt, "add_special": true}),
    );
    let prompt_tokens = t["tokens"].as_array().unwrap().len();
    assert!((420..500).contains(&prompt_tokens), "{prompt_tokens}");
    let run = |shift: bool| {
        let (status, v) = post(
            &server,
            "/api/generate",
            &json!({"model": "dense", "prompt": prompt, "raw": true, "stream": false,
                    "shift": shift, "options": {"num_predict": 100, "temperature": 0}}),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["done_reason"], "length", "{v}");
        v["eval_count"].as_u64().unwrap() as usize
    };
    assert_eq!(run(true), 100);
    assert_eq!(run(false), 512 - prompt_tokens);

    // The official clients: context round trip, think, capabilities.
    let out = run_python("clients.py", &server.base, &["dense", "thinker"]);
    let r: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert_eq!(r["capabilities"]["thinker"], caps("thinker"), "{r}");
    let [first, second] = [&r["context"][0], &r["context"][1]].map(|c| c.as_u64().unwrap());
    assert!(second > first, "{r}");
    // The continued prompt reuses the cached tokens of the first answer's context.
    assert!(
        r["second_prompt_eval"].as_u64().unwrap() <= second - first,
        "{r}"
    );
    // `<think>\n\n</think>\n\n` costs tokens when reasoning_effort is "none".
    assert!(r["thinking_tokens"].as_i64().unwrap() > 0, "{r}");
    for (param, mention) in [
        ("n", "n` = 2"),
        ("logit_bias", "logit_bias"),
        ("modalities", "audio"),
        ("reasoning_effort", "extreme"),
    ] {
        let m = r["refused"][param].as_str().unwrap_or_default();
        assert!(m.contains(mention), "{param}: {m:?}");
    }
}

#[test]
fn openai_routes_take_every_documented_field_and_cut_calls_cleanly() {
    let sb = Sandbox::new();
    let server = serve_two(&sb);
    // LangChain's ChatOpenAI with bound tools and the fields newer SDKs send.
    let (status, v) = post(
        &server,
        "/v1/chat/completions",
        &json!({
            "messages": [{"content": "What is the weather in Paris?", "role": "user"}],
            "model": "dense", "stream": false, "n": 1, "temperature": 0.0,
            "max_completion_tokens": 200, "tools": [weather_tool()],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": false, "reasoning_effort": "minimal", "verbosity": "low",
            "prompt_cache_key": "k", "store": false, "stream_options": null,
            "some_framework_field": {"x": 1},
        }),
    );
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    assert_eq!(
        choice["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );

    // A reply cut at max_tokens inside the call markup: `length`, no call, no markup.
    let cut = json!({
        "model": "dense", "max_tokens": 4, "tools": [weather_tool()], "tool_choice": "required",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    });
    let (status, v) = post(&server, "/v1/chat/completions", &cut);
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "length", "{v}");
    assert!(choice["message"]["tool_calls"].is_null(), "{v}");
    let content = choice["message"]["content"].as_str().unwrap_or_default();
    assert!(!content.contains('<') && !content.contains('{'), "{v}");
    let mut streamed = cut.clone();
    streamed["stream"] = json!(true);
    let (status, text) = post_text(&server, "/v1/chat/completions", &streamed);
    assert_eq!(status, 200, "{text}");
    let chunks = sse(&text);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!content.contains('<'), "{text}");
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["delta"]["tool_calls"].is_null()));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
    // Same on Ollama's route (its `done_reason`).
    let (status, v) = post(
        &server,
        "/api/chat",
        &json!({"model": "dense", "stream": false, "tools": [weather_tool()],
                "tool_choice": "required", "options": {"num_predict": 4},
                "messages": [{"role": "user", "content": "Weather in Paris?"}]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["done_reason"], "length", "{v}");
    assert!(v["message"]["tool_calls"].is_null(), "{v}");
    assert!(
        !v["message"]["content"].as_str().unwrap().contains('<'),
        "{v}"
    );

    // The template render says how tools and the thinking switch reached the prompt.
    let render = |extra: Value| {
        let mut b = json!({"model": "thinker", "messages": [{"role": "user", "content": "Hi"}]});
        for (k, x) in extra.as_object().unwrap() {
            b[k] = x.clone();
        }
        let (status, v) = post(&server, "/api/template/render", &b);
        assert_eq!(status, 200, "{v}");
        v
    };
    let off = render(json!({"reasoning_effort": "none"}));
    assert!(
        off["prompt"]
            .as_str()
            .unwrap()
            .ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
        "{off}"
    );
    assert_eq!(off["tool_prompt"], "none");
    let high = render(json!({"reasoning_effort": "high", "tools": [weather_tool()]}));
    assert!(high["prompt"]
        .as_str()
        .unwrap()
        .ends_with("<|im_start|>assistant\n"));
    assert_eq!(high["tool_prompt"], "hermes_fallback", "{high}");
    assert!(
        high["prompt"].as_str().unwrap().contains("<tools>"),
        "{high}"
    );
    // Refused where ignoring would change the answer; the wording names the route.
    let (status, v) = post(
        &server,
        "/api/template/render",
        &json!({"messages": [{"role": "user", "content": "Hi"}], "frobnicate": 1}),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["error"]["message"],
        "`frobnicate` is not a parameter that /api/template/render supports"
    );
}

#[test]
fn smollm2_gets_tools_through_the_hermes_fallback() {
    let sb = Sandbox::new();
    let server = sb.serve(&[
        "--model",
        s(&smollm2()),
        "--ctx-size",
        "1024",
        "--parallel",
        "1",
    ]);
    let ask = json!([{"role": "user", "content": "What is the weather in Paris?"}]);
    // Its own template drops tools; the Hermes block is offered in the system message.
    let (status, v) = post(
        &server,
        "/api/template/render",
        &json!({"messages": ask, "tools": [weather_tool()]}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["template"], "jinja", "{v}");
    assert_eq!(v["tool_prompt"], "hermes_fallback", "{v}");
    let prompt = v["prompt"].as_str().unwrap();
    assert!(
        prompt.starts_with("<|im_start|>system\n# Tools\n") && prompt.contains("\"get_weather\""),
        "{prompt}"
    );
    let name = v["model"].as_str().unwrap().to_string();
    let (_, show) = post(&server, "/api/show", &json!({"model": name}));
    assert_eq!(
        show["capabilities"],
        json!(["completion", "tools"]),
        "{show}"
    );
    // A forced call is written in the Hermes markup the template's parser reads back.
    let (status, v) = post(
        &server,
        "/v1/chat/completions",
        &json!({"messages": ask, "tools": [weather_tool()], "tool_choice": "required",
                "temperature": 0, "max_tokens": 60}),
    );
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    let call = &choice["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "get_weather", "{v}");
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].as_str().unwrap().contains("Paris"), "{v}");
    // Cut inside that markup: `length`, nothing of it in the content.
    let (status, v) = post(
        &server,
        "/v1/chat/completions",
        &json!({"messages": ask, "tools": [weather_tool()], "tool_choice": "required",
                "temperature": 0, "max_tokens": 6}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    assert!(v["choices"][0]["message"]["tool_calls"].is_null(), "{v}");
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!content.contains("<tool"), "{v}");
}
