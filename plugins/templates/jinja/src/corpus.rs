//! The fixture corpus (`fixtures/`): llama.cpp's chat templates, the fixed conversations and
//! what transformers renders for them, read into render requests and compared (native tests).

use serde_json::Value as Json;
use shimmy_plugin_sdk::{
    ChatMessage, ModelContext, PluginError, RenderRequest, Rendered, ToolCall, ToolDefinition,
};
use std::path::{Path, PathBuf};

/// The clock the fixtures were rendered at (2024-07-26 12:00:00 UTC), for `strftime_now`.
pub const FIXED_NOW: i64 = 1_721_995_200;

/// `fixtures/` of this crate.
pub fn fixtures_dir(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("fixtures")
}

/// How one render compares with transformers'.
#[derive(Debug)]
pub enum Outcome {
    /// The same bytes.
    Identical,
    /// Both refused (with the same `raise_exception` message where the template raised).
    RefusedByBoth,
    /// Not the same: why.
    Different(String),
}

/// One template × conversation.
#[derive(Debug)]
pub struct Case {
    pub template: String,
    pub conversation: String,
    pub outcome: Outcome,
}

/// All cases.
pub struct Report {
    pub cases: Vec<Case>,
}

impl Report {
    /// `N of M renders identical, K refused by both, D different`.
    pub fn summary(&self) -> String {
        let count = |f: fn(&Outcome) -> bool| self.cases.iter().filter(|c| f(&c.outcome)).count();
        format!(
            "{} of {} renders identical, {} refused by both, {} different",
            count(|o| matches!(o, Outcome::Identical)),
            self.cases.len(),
            count(|o| matches!(o, Outcome::RefusedByBoth)),
            count(|o| matches!(o, Outcome::Different(_))),
        )
    }
}

fn read_json(path: &Path) -> Result<Json, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A tool-call arguments value as the contract carries it (a JSON text).
fn arguments_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An OpenAI-shaped message as the contract carries it.
pub fn message(m: &Json) -> ChatMessage {
    let text = |k: &str| m.get(k).and_then(Json::as_str).map(str::to_string);
    let mut out = ChatMessage::new(
        text("role").unwrap_or_default(),
        text("content").unwrap_or_default(),
    );
    if let Some(calls) = m.get("tool_calls").and_then(Json::as_array) {
        out.tool_calls = calls
            .iter()
            .map(|c| {
                let f = c.get("function").unwrap_or(c);
                ToolCall::new(
                    c.get("id").and_then(Json::as_str).unwrap_or_default(),
                    f.get("name").and_then(Json::as_str).unwrap_or_default(),
                    f.get("arguments")
                        .map(arguments_text)
                        .unwrap_or_else(|| "{}".into()),
                )
            })
            .collect();
    }
    out.tool_call_id = text("tool_call_id");
    out.name = text("name");
    out.reasoning_content = text("reasoning_content");
    out
}

/// An OpenAI-shaped tool as the contract carries it.
pub fn tool(t: &Json) -> ToolDefinition {
    let f = t.get("function").unwrap_or(t);
    ToolDefinition::new(
        f.get("name").and_then(Json::as_str).unwrap_or_default(),
        f.get("description")
            .and_then(Json::as_str)
            .unwrap_or_default(),
        f.get("parameters")
            .map(Json::to_string)
            .unwrap_or_else(|| "{}".into()),
    )
}

/// Renders every case with `render` and compares it with the fixture.
pub fn check_all(
    dir: &Path,
    render: impl Fn(&RenderRequest) -> Result<Rendered, PluginError>,
) -> Result<Report, String> {
    let spec = read_json(&dir.join("conversations.json"))?;
    let tools: Vec<ToolDefinition> = spec["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(tool)
        .collect();
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("expected"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut cases = Vec::new();
    for path in names {
        let expected = read_json(&path)?;
        let template_file = expected["template"].as_str().ok_or("no template")?;
        let source = std::fs::read_to_string(dir.join(template_file)).map_err(|e| e.to_string())?;
        let token = |k: &str| {
            expected[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let model = ModelContext {
            architecture: "test".into(),
            chat_template: Some(source),
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
        };
        let renders = expected["renders"].as_object().ok_or("no renders")?;
        for (conv_name, want) in renders {
            let conv = &spec["conversations"][conv_name];
            let req = RenderRequest {
                messages: conv["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(message)
                    .collect(),
                tools: if conv["tools"].as_bool() == Some(true) {
                    tools.clone()
                } else {
                    Vec::new()
                },
                add_generation_prompt: true,
                model: model.clone(),
            };
            let outcome = compare(want, render(&req));
            cases.push(Case {
                template: template_file.trim_start_matches("llama.cpp/").to_string(),
                conversation: conv_name.clone(),
                outcome,
            });
        }
    }
    Ok(Report { cases })
}

fn first_difference(a: &str, b: &str) -> String {
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()));
    let from = a[..at].char_indices().rev().nth(60).map_or(0, |(i, _)| i);
    let cut = |s: &str| {
        s.get(from..)
            .unwrap_or("")
            .chars()
            .take(160)
            .collect::<String>()
    };
    format!(
        "first difference at byte {at}:\n  expected …{:?}\n  rendered …{:?}",
        cut(a),
        cut(b)
    )
}

fn compare(want: &Json, got: Result<Rendered, PluginError>) -> Outcome {
    match (want.get("prompt").and_then(Json::as_str), got) {
        (Some(p), Ok(r)) if r.prompt == p => Outcome::Identical,
        (Some(p), Ok(r)) => Outcome::Different(first_difference(p, &r.prompt)),
        (Some(_), Err(e)) => {
            Outcome::Different(format!("transformers renders it; the plugin failed: {e:?}"))
        }
        (None, Ok(r)) => Outcome::Different(format!(
            "transformers failed ({}); the plugin rendered {:?}",
            want["error"],
            r.prompt.chars().take(200).collect::<String>()
        )),
        (None, Err(e)) => {
            let raised = want["raised"].as_bool() == Some(true);
            let message = want["error"].as_str().unwrap_or_default();
            match e {
                PluginError::InvalidInput(m) if raised && m == message => Outcome::RefusedByBoth,
                e if raised => Outcome::Different(format!(
                    "raise_exception({message:?}); the plugin failed: {e:?}"
                )),
                _ => Outcome::RefusedByBoth,
            }
        }
    }
}

/// `fixtures/known-differences.json`: `"TEMPLATE/CONVERSATION"` → reason key, and the
/// reasons' texts.
pub struct KnownDifferences {
    pub cases: std::collections::BTreeMap<String, String>,
    pub reasons: std::collections::BTreeMap<String, String>,
}

/// Reads `fixtures/known-differences.json`.
pub fn known_differences(dir: &Path) -> Result<KnownDifferences, String> {
    let v = read_json(&dir.join("known-differences.json"))?;
    let map = |k: &str| -> std::collections::BTreeMap<String, String> {
        v[k].as_object()
            .into_iter()
            .flatten()
            .map(|(a, b)| (a.clone(), b.as_str().unwrap_or_default().to_string()))
            .collect()
    };
    Ok(KnownDifferences {
        cases: map("cases"),
        reasons: map("reasons"),
    })
}

impl Report {
    /// The differences that are not listed in `known`, and the listed ones that no longer
    /// differ: both must be empty.
    pub fn unexpected(&self, known: &KnownDifferences) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.cases {
            let key = format!("{}/{}", c.template, c.conversation);
            match (&c.outcome, known.cases.contains_key(&key)) {
                (Outcome::Different(why), false) => out.push(format!("{key}: {why}")),
                (Outcome::Different(_), true) => {}
                (_, true) => out.push(format!(
                    "{key}: listed in known-differences.json but renders as transformers does now"
                )),
                _ => {}
            }
        }
        out
    }
}
