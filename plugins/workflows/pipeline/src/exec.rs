//! Running a validated pipeline.

use crate::spec::{Kind, Pipeline, Step};
use crate::template::{to_text, Scope};
use serde_json::{json, Map, Value};
use shimmy_plugin_sdk::{ChatMessage, PluginError, SamplingOptions};

/// What steps need from the host (real imports in the plugin, a script in tests).
pub trait Backend {
    /// A model answer to `messages` with `options`: the text and (prompt, completion) tokens.
    fn llm(
        &mut self,
        messages: &[ChatMessage],
        options: &SamplingOptions,
    ) -> Result<(String, u32, u32), PluginError>;
    /// Runs a tool with JSON arguments; returns its JSON result.
    fn tool(&mut self, name: &str, arguments: &str) -> Result<String, PluginError>;
}

/// Why a step failed: a kind (as in `plugin-error`) and a message.
struct StepError(PluginError);

impl From<String> for StepError {
    fn from(m: String) -> Self {
        StepError(PluginError::failed(m))
    }
}

fn json_or_string(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// Runs `p` and returns `{"result", "outputs", "trace", "usage"}`; a failing step ends the
/// run with an error of the step's kind whose message holds the partial trace.
pub fn run(p: &Pipeline, backend: &mut dyn Backend) -> Result<Value, PluginError> {
    let mut outputs = Map::new();
    let mut trace = Vec::new();
    let mut skipped = vec![false; p.steps.len()];
    let mut forced = vec![false; p.steps.len()];
    let mut last: Option<usize> = None;
    let (mut prompt_tokens, mut completion_tokens) = (0u64, 0u64);
    for &i in &p.order {
        let step = &p.steps[i];
        let skip = forced[i] || (!step.deps.is_empty() && step.deps.iter().all(|&d| skipped[d]));
        if skip {
            skipped[i] = true;
            outputs.insert(step.id.clone(), Value::Null);
            trace.push(json!({"id": step.id, "kind": step.kind.name(), "status": "skipped"}));
            continue;
        }
        let scope = Scope {
            input: &p.input,
            outputs: &outputs,
        };
        let result = match step.kind {
            Kind::Llm => run_llm(step, &scope, backend).map(|(v, pt, ct)| {
                prompt_tokens += u64::from(pt);
                completion_tokens += u64::from(ct);
                v
            }),
            Kind::Tool => run_tool(step, &scope, backend),
            Kind::Transform => run_transform(step, &scope),
            Kind::Branch => run_branch(step, &scope),
        };
        match result {
            Ok(output) => {
                if step.kind == Kind::Branch {
                    let not_taken = if output == Value::Bool(true) {
                        &step.else_steps
                    } else {
                        &step.then_steps
                    };
                    for &n in not_taken {
                        forced[n] = true;
                    }
                }
                trace.push(json!({"id": step.id, "kind": step.kind.name(), "status": "ok", "output": output}));
                outputs.insert(step.id.clone(), output);
                last = Some(i);
            }
            Err(StepError(e)) => {
                trace.push(json!({
                    "id": step.id,
                    "kind": step.kind.name(),
                    "status": "error",
                    "error": {"kind": e.kind(), "message": e.message()},
                }));
                let message = format!(
                    "pipeline: step \"{}\" ({}) failed: {}; trace: {}",
                    step.id,
                    step.kind.name(),
                    e.message(),
                    Value::Array(trace)
                );
                return Err(match e {
                    PluginError::InvalidInput(_) => PluginError::InvalidInput(message),
                    PluginError::NotFound(_) => PluginError::NotFound(message),
                    PluginError::Unsupported(_) => PluginError::Unsupported(message),
                    PluginError::Denied(_) => PluginError::Denied(message),
                    PluginError::LimitExceeded(_) => PluginError::LimitExceeded(message),
                    PluginError::Failed(_) => PluginError::Failed(message),
                });
            }
        }
    }
    // Only steps that ran are outputs.
    let ran: Map<String, Value> = outputs
        .into_iter()
        .filter(|(id, _)| {
            p.steps
                .iter()
                .position(|s| &s.id == id)
                .is_some_and(|i| !skipped[i])
        })
        .collect();
    let result = last
        .and_then(|i| ran.get(&p.steps[i].id).cloned())
        .unwrap_or(Value::Null);
    Ok(json!({
        "result": result,
        "outputs": ran,
        "trace": trace,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }))
}

fn text_field(step: &Step, scope: &Scope, key: &str) -> Result<Option<String>, StepError> {
    match step.spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(scope.render_text(s)?)),
        Some(v) => Ok(Some(to_text(&scope.render(v)?))),
    }
}

fn run_llm(
    step: &Step,
    scope: &Scope,
    b: &mut dyn Backend,
) -> Result<(Value, u32, u32), StepError> {
    let mut messages = Vec::new();
    if let Some(system) = text_field(step, scope, "system")? {
        messages.push(ChatMessage::system(system));
    }
    messages.push(ChatMessage::user(
        text_field(step, scope, "prompt")?.unwrap_or_default(),
    ));
    let schema = match step.spec.get("json_schema") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => Some(v.to_string()),
    };
    let options = SamplingOptions {
        max_tokens: step
            .spec
            .get("max_tokens")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        temperature: step
            .spec
            .get("temperature")
            .and_then(Value::as_f64)
            .map(|t| t as f32),
        json_schema: schema.clone(),
        ..SamplingOptions::default()
    };
    let (text, pt, ct) = b.llm(&messages, &options).map_err(StepError)?;
    let output = if schema.is_some() {
        serde_json::from_str(text.trim())
            .map_err(|e| format!("the model's answer is not JSON ({e}): {text}"))?
    } else {
        Value::String(text)
    };
    Ok((output, pt, ct))
}

fn run_tool(step: &Step, scope: &Scope, b: &mut dyn Backend) -> Result<Value, StepError> {
    let name = text_field(step, scope, "tool")?.unwrap_or_default();
    let args = match step.spec.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => scope.render(v)?,
    };
    let args = match args {
        Value::String(s) => json_or_string(&s),
        v => v,
    };
    if !args.is_object() {
        return Err(StepError(PluginError::invalid_input(format!(
            "the arguments of tool \"{name}\" are not an object: {args}"
        ))));
    }
    let out = b.tool(&name, &args.to_string()).map_err(StepError)?;
    Ok(json_or_string(&out))
}

fn run_transform(step: &Step, scope: &Scope) -> Result<Value, StepError> {
    let op = step.spec.get("op").and_then(Value::as_str).unwrap_or("");
    let value = || -> Result<Value, StepError> {
        Ok(scope.render(step.spec.get("value").unwrap_or(&Value::Null))?)
    };
    Ok(match op {
        "template" => Value::String(text_field(step, scope, "template")?.unwrap_or_default()),
        "json_get" => {
            let v = match value()? {
                Value::String(s) => json_or_string(&s),
                v => v,
            };
            let pointer = step
                .spec
                .get("pointer")
                .and_then(Value::as_str)
                .unwrap_or("");
            v.pointer(pointer)
                .cloned()
                .ok_or_else(|| format!("json_get: nothing at pointer \"{pointer}\" in {v}"))?
        }
        "json_parse" => match value()? {
            Value::String(s) => serde_json::from_str(s.trim())
                .map_err(|e| format!("json_parse: not JSON ({e}): {s}"))?,
            v => v,
        },
        "upper" => Value::String(to_text(&value()?).to_uppercase()),
        "lower" => Value::String(to_text(&value()?).to_lowercase()),
        "trim" => Value::String(to_text(&value()?).trim().to_string()),
        "concat" => {
            let sep = step
                .spec
                .get("separator")
                .and_then(Value::as_str)
                .unwrap_or("");
            let values = step
                .spec
                .get("values")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let parts = values
                .iter()
                .map(|v| scope.render(v).map(|r| to_text(&r)))
                .collect::<Result<Vec<_>, _>>()?;
            Value::String(parts.join(sep))
        }
        other => return Err(format!("unknown op \"{other}\"").into()),
    })
}

/// Whether `pattern` matches `value`: objects match when every key of the pattern matches
/// (extra keys in the value are fine), arrays element by element, scalars by equality.
pub fn matches_json(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(v), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| matches_json(vv, pv))),
        (Value::Array(v), Value::Array(p)) => {
            v.len() == p.len() && v.iter().zip(p).all(|(a, b)| matches_json(a, b))
        }
        (a, b) => a == b,
    }
}

fn run_branch(step: &Step, scope: &Scope) -> Result<Value, StepError> {
    let c = step
        .spec
        .get("condition")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let value = scope.render(c.get("value").unwrap_or(&Value::Null))?;
    let truth = if let Some(x) = c.get("equals") {
        value == scope.render(x)?
    } else if let Some(x) = c.get("not_equals") {
        value != scope.render(x)?
    } else if let Some(x) = c.get("contains") {
        let x = scope.render(x)?;
        match &value {
            Value::String(s) => s.contains(&to_text(&x)),
            Value::Array(a) => a.contains(&x),
            Value::Object(o) => o.contains_key(&to_text(&x)),
            _ => false,
        }
    } else if let Some(x) = c.get("matches_json") {
        let x = scope.render(x)?;
        let v = match &value {
            Value::String(s) => json_or_string(s),
            v => v.clone(),
        };
        matches_json(&v, &x)
    } else {
        return Err("the condition has no operator".to_string().into());
    };
    Ok(Value::Bool(truth))
}
