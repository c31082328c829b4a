//! The built-in workflow plugins (`agent`, `pipeline`) and the `hello-workflow` example against
//! a scripted `WorkflowHost` whose tools are the real `calculator` plugin.

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use serde_json::{json, Value};
use shimmy_core::backend::ModelInfo;
use shimmy_plugins::*;

fn reg() -> Arc<PluginRegistry> {
    static R: OnceLock<Arc<PluginRegistry>> = OnceLock::new();
    shared(&R, || {
        init_log();
        let rt = runtime_in(&shared_cache(), 2000, Grants::none());
        registry(
            &rt,
            &[
                "agent",
                "pipeline",
                "calculator",
                "hello-tool",
                "hello-workflow",
            ],
        )
    })
}

/// The arguments of one `chat` call.
type ChatCall = (Vec<ChatMessage>, Vec<ToolDefinition>, GenerationOptions);

/// Answers chats from a script, in order; tools are served by real plugins of `reg`.
struct Scripted {
    reg: Arc<PluginRegistry>,
    /// (plugin, tools of it) offered as the host's tools.
    tool_plugins: Vec<&'static str>,
    answers: Mutex<Vec<ChatResult>>,
    chats: Mutex<Vec<ChatCall>>,
    invoked: Mutex<Vec<(String, String)>>,
}

impl Scripted {
    fn new(tool_plugins: Vec<&'static str>, answers: Vec<ChatResult>) -> Arc<Scripted> {
        Arc::new(Scripted {
            reg: reg(),
            tool_plugins,
            answers: Mutex::new(answers),
            chats: Mutex::default(),
            invoked: Mutex::default(),
        })
    }
}

fn tool_call_answer(name: &str, arguments: &str) -> ChatResult {
    ChatResult {
        tool_calls: vec![ToolCall {
            id: "call_0".into(),
            name: name.into(),
            arguments: arguments.into(),
        }],
        usage: Usage {
            prompt_tokens: 30,
            completion_tokens: 12,
        },
        finish_reason: "tool_calls".into(),
        ..ChatResult::default()
    }
}

fn text_answer(text: &str) -> ChatResult {
    ChatResult {
        content: text.into(),
        usage: Usage {
            prompt_tokens: 50,
            completion_tokens: 4,
        },
        finish_reason: "stop".into(),
        ..ChatResult::default()
    }
}

#[async_trait::async_trait]
impl WorkflowHost for Scripted {
    async fn generate(
        &self,
        _p: String,
        _o: GenerationOptions,
    ) -> Result<GenerationResult, GuestError> {
        Err(GuestError::Unsupported("generate is not scripted".into()))
    }
    async fn chat(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolDefinition>,
        options: GenerationOptions,
    ) -> Result<ChatResult, GuestError> {
        self.chats.lock().unwrap().push((messages, tools, options));
        let mut answers = self.answers.lock().unwrap();
        if answers.is_empty() {
            return Err(GuestError::LimitExceeded(
                "the script has no more answers".into(),
            ));
        }
        Ok(answers.remove(0))
    }
    async fn tokenize(&self, text: String) -> Result<Vec<u32>, GuestError> {
        Ok(vec![0; text.len()])
    }
    async fn model_info(&self) -> Result<(String, ModelInfo), GuestError> {
        Ok((String::new(), ModelInfo::default()))
    }
    async fn list_tools(&self) -> Vec<ToolDefinition> {
        let mut all = Vec::new();
        for p in &self.tool_plugins {
            all.extend(self.reg.describe_tools(p).await.unwrap());
        }
        all
    }
    async fn invoke_tool(&self, name: String, arguments: String) -> Result<String, GuestError> {
        self.invoked
            .lock()
            .unwrap()
            .push((name.clone(), arguments.clone()));
        for p in &self.tool_plugins {
            let tools = self.reg.describe_tools(p).await.unwrap();
            if tools.iter().any(|t| t.name == name) {
                return self
                    .reg
                    .invoke_tool(p, &name, &arguments)
                    .await
                    .map_err(|e| match e {
                        PluginError::Guest { error, .. } => error,
                        other => GuestError::Failed(other.to_string()),
                    });
            }
        }
        Err(GuestError::NotFound(format!("no tool named {name}")))
    }
}

#[tokio::test]
async fn agent_calls_the_tool_then_answers() {
    let reg = reg();
    let info = reg.describe_workflow("agent").await.unwrap();
    assert_eq!(info.name, "agent");
    let _: Value = serde_json::from_str(&info.input_schema).unwrap();

    let host = Scripted::new(
        vec!["calculator", "hello-tool"],
        vec![
            tool_call_answer("calculator", r#"{"expression":"17*23"}"#),
            text_answer("17 * 23 = 391."),
        ],
    );
    let input = json!({"prompt": "What is 17*23?", "system": "Use tools.", "tools": ["calculator"], "max_tokens": 64});
    let out = reg
        .run_workflow("agent", &input.to_string(), host.clone())
        .await
        .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["answer"], "17 * 23 = 391.");
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 80, "completion_tokens": 16, "total_tokens": 96})
    );
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["kind"], "llm");
    assert_eq!(steps[0]["tool_calls"][0]["name"], "calculator");
    assert_eq!(
        steps[1],
        json!({"kind": "tool", "id": "call_0", "name": "calculator",
               "arguments": {"expression": "17*23"},
               "result": {"expression": "17*23", "result": 391}})
    );
    assert_eq!(steps[2]["finish_reason"], "stop");

    assert_eq!(
        *host.invoked.lock().unwrap(),
        [(
            "calculator".to_string(),
            r#"{"expression":"17*23"}"#.to_string()
        )]
    );
    let chats = host.chats.lock().unwrap();
    assert_eq!(chats.len(), 2);
    // Only the named tool was offered, with the options asked for.
    let offered: Vec<&str> = chats[0].1.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(offered, ["calculator"]);
    assert_eq!(chats[0].2.max_tokens, Some(64));
    // The second chat carries the assistant's call and the tool's result.
    let second = &chats[1].0;
    let roles: Vec<&str> = second.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(second[2].tool_calls[0].name, "calculator");
    assert_eq!(second[3].tool_call_id.as_deref(), Some("call_0"));
    assert_eq!(second[3].content, r#"{"expression":"17*23","result":391}"#);
}

#[tokio::test]
async fn agent_tool_errors_go_back_to_the_model_and_max_steps_is_a_limit() {
    let reg = reg();
    let host = Scripted::new(
        vec!["calculator"],
        vec![
            tool_call_answer("calculator", r#"{"expression":"1/0"}"#),
            tool_call_answer("calculator", r#"{"expression":"1+1"}"#),
        ],
    );
    let e = reg
        .run_workflow(
            "agent",
            r#"{"prompt": "divide", "max_steps": 2}"#,
            host.clone(),
        )
        .await
        .unwrap_err();
    let PluginError::Guest {
        error: GuestError::LimitExceeded(m),
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(m.contains("max_steps = 2"), "{m}");
    assert_eq!(e.kind(), ErrorKind::LimitExceeded);
    let tool_msg = host.chats.lock().unwrap()[1].0.last().unwrap().clone();
    assert_eq!(tool_msg.role, "tool");
    let v: Value = serde_json::from_str(&tool_msg.content).unwrap();
    assert_eq!(v["kind"], "invalid-input");
    assert_eq!(v["error"], "calculator: division by zero at column 2");

    // Bad input is invalid-input (400).
    let e = reg
        .run_workflow("agent", r#"{"nothing": 1}"#, host.clone())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn pipeline_runs_a_dag_with_llm_tool_transform_and_branch() {
    let reg = reg();
    let host = Scripted::new(vec!["calculator"], vec![text_answer(" 6 * 7 ")]);
    let doc = json!({
        "input": {"question": "six times seven"},
        "steps": [
            {"id": "expr", "kind": "llm", "prompt": "Turn into an expression: {{input.question}}", "max_tokens": 16},
            {"id": "clean", "kind": "transform", "op": "trim", "value": "{{expr.output}}"},
            {"id": "calc", "kind": "tool", "tool": "calculator", "arguments": {"expression": "{{clean.output}}"}},
            {"id": "big", "kind": "branch", "condition": {"value": "{{calc.output}}", "matches_json": {"result": 42}},
             "then": ["yes"], "else": ["no"]},
            {"id": "yes", "kind": "transform", "op": "template", "template": "{{clean.output}} = {{calc.output.result}}"},
            {"id": "no", "kind": "transform", "op": "template", "template": "unexpected"}
        ]
    });
    let out = reg
        .run_workflow("pipeline", &doc.to_string(), host.clone())
        .await
        .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["result"], "6 * 7 = 42");
    assert_eq!(
        out["outputs"]["calc"],
        json!({"expression": "6 * 7", "result": 42})
    );
    let trace: Vec<(&str, &str)> = out["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        trace,
        [
            ("expr", "ok"),
            ("clean", "ok"),
            ("calc", "ok"),
            ("big", "ok"),
            ("yes", "ok"),
            ("no", "skipped")
        ]
    );
    assert_eq!(
        *host.invoked.lock().unwrap(),
        [(
            "calculator".to_string(),
            r#"{"expression":"6 * 7"}"#.to_string()
        )]
    );
    let chats = host.chats.lock().unwrap();
    assert_eq!(
        chats[0].0[0].content,
        "Turn into an expression: six times seven"
    );
    assert!(chats[0].1.is_empty(), "llm steps offer no tools");
    assert_eq!(chats[0].2.max_tokens, Some(16));
}

#[tokio::test]
async fn pipeline_rejects_a_cycle_before_running_anything() {
    let reg = reg();
    let host = Scripted::new(vec![], vec![]);
    let doc = json!({"steps": [
        {"id": "a", "kind": "llm", "prompt": "{{b.output}}"},
        {"id": "b", "kind": "transform", "op": "upper", "value": "{{a.output}}"}
    ]});
    let e = reg
        .run_workflow("pipeline", &doc.to_string(), host.clone())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        "plugin \"pipeline\": invalid input: pipeline: the steps form a cycle: a -> b -> a \
         (each waits for the next)"
    );
    assert!(host.chats.lock().unwrap().is_empty());
}

#[tokio::test]
async fn pipeline_failure_carries_the_partial_trace() {
    let reg = reg();
    let host = Scripted::new(vec!["calculator"], vec![]);
    let doc = json!({"steps": [
        {"id": "one", "kind": "transform", "op": "template", "template": "1/0"},
        {"id": "two", "kind": "tool", "tool": "calculator", "arguments": {"expression": "{{one.output}}"}}
    ]});
    let e = reg
        .run_workflow("pipeline", &doc.to_string(), host)
        .await
        .unwrap_err();
    let PluginError::Guest {
        error: GuestError::InvalidInput(m),
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    let (head, trace) = m.split_once("; trace: ").unwrap();
    assert_eq!(
        head,
        "pipeline: step \"two\" (tool) failed: calculator: division by zero at column 2"
    );
    let trace: Value = serde_json::from_str(trace).unwrap();
    assert_eq!(trace[0]["status"], "ok");
    assert_eq!(trace[1]["status"], "error");
}

#[tokio::test]
async fn hello_workflow_example_runs() {
    let reg = reg();
    let host = Scripted::new(vec!["hello-tool"], vec![text_answer("Hi Ada, welcome!")]);
    let out = reg
        .run_workflow("hello-workflow", r#"{"name": "Ada"}"#, host)
        .await
        .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        out,
        json!({"model": "Hi Ada, welcome!", "tool": {"greeting": "Hello, Ada!"}, "tokens": 4})
    );
}
