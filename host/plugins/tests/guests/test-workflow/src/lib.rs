//! Test workflow plugin. `run(input)`:
//! * `"all"`: calls every `inference` and `tools` import once and returns a JSON summary;
//! * `"slow"`: calls `inference.generate` three times (the host may take long: that time must
//!   not count against the plugin's own time limit) and returns the texts joined;
//! * `"spin"`: loops forever;
//! * anything else: `invalid-input`.
wit_bindgen::generate!({ world: "workflow-plugin", path: "../../../../../wit/0.1.0" });

use exports::shimmy::plugin::workflow::{Guest, PluginError, WorkflowInfo};
use shimmy::plugin::types::{ChatMessage, SamplingOptions};
use shimmy::plugin::{inference, tools};

struct Workflow;

fn opts() -> SamplingOptions {
    SamplingOptions {
        max_tokens: Some(8),
        temperature: Some(0.0),
        top_p: None,
        top_k: None,
        min_p: None,
        repeat_penalty: None,
        seed: Some(1),
        stop: vec![],
        json_schema: None,
    }
}

fn q(s: &str) -> String {
    format!("{:?}", s)
}

impl Guest for Workflow {
    fn describe() -> WorkflowInfo {
        WorkflowInfo {
            name: "test-workflow".into(),
            description: "exercises the host imports".into(),
            input_schema: r#"{"type":"string"}"#.into(),
        }
    }

    fn run(input: String) -> Result<String, PluginError> {
        match input.as_str() {
            "all" => {
                let g = inference::generate("Hello", &opts())?;
                let chat = inference::chat(
                    &[ChatMessage {
                        role: "user".into(),
                        content: "Hi".into(),
                        tool_calls: vec![],
                        tool_call_id: None,
                        name: None,
                    }],
                    &tools::list(),
                    &opts(),
                )?;
                let tokens = inference::tokenize("a b c")?;
                let info = inference::get_model_info()?;
                let list = tools::list();
                let tool = tools::invoke("echo", r#"{"x":1}"#)?;
                let missing = match tools::invoke("nope", "{}") {
                    Ok(_) => "ok".to_string(),
                    Err(PluginError::NotFound(m)) => format!("not-found:{m}"),
                    Err(_) => "other-error".to_string(),
                };
                let generation = inference::Generation::new("Stream", &opts());
                let mut streamed = String::new();
                let mut pieces = 0;
                while let Some(piece) = generation.next()? {
                    streamed.push_str(&piece);
                    pieces += 1;
                }
                let usage = generation.usage();
                Ok(format!(
                    r#"{{"generate":{},"finish":{},"chat":{},"tokens":{},"model":{},"ctx":{},"tools":{},"tool":{},"missing":{},"streamed":{},"pieces":{},"completion_tokens":{}}}"#,
                    q(&g.text),
                    q(&g.finish_reason),
                    q(&chat.content),
                    tokens.len(),
                    q(&info.name),
                    info.context_length,
                    list.len(),
                    tool,
                    q(&missing),
                    q(&streamed),
                    pieces,
                    usage.completion_tokens
                ))
            }
            "slow" => {
                let mut out = Vec::new();
                for _ in 0..3 {
                    out.push(inference::generate("slow", &opts())?.text);
                }
                Ok(q(&out.join(",")))
            }
            "spin" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            other => Err(PluginError::InvalidInput(format!("unknown input {other}"))),
        }
    }
}

export!(Workflow);
