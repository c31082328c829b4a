//! The pipeline document: parsing, validation and the order of execution.

use crate::template::{parse_ref, refs_in, Ref};
use serde_json::{Map, Value};
use shimmy_plugin_sdk::PluginError;
use std::collections::{BTreeSet, HashMap};

/// Most steps in one pipeline.
pub const MAX_STEPS: usize = 100;

/// Transform operations.
pub const OPS: &[&str] = &[
    "template",
    "json_get",
    "json_parse",
    "upper",
    "lower",
    "trim",
    "concat",
];

/// Branch condition operators.
pub const CONDITIONS: &[&str] = &["equals", "not_equals", "contains", "matches_json"];

/// The kind of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A model call.
    Llm,
    /// A tool call.
    Tool,
    /// A pure data operation.
    Transform,
    /// A condition choosing between two lists of steps.
    Branch,
}

impl Kind {
    /// `llm`, `tool`, `transform` or `branch`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Llm => "llm",
            Kind::Tool => "tool",
            Kind::Transform => "transform",
            Kind::Branch => "branch",
        }
    }
}

/// One validated step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// Indices of the steps it waits for: `depends_on`, the steps its references name, and
    /// for a step listed in a branch's `then` / `else`, that branch.
    pub deps: Vec<usize>,
    /// Explicit `depends_on` (indices).
    pub explicit_deps: Vec<usize>,
    /// For branches: indices of `then` and `else`.
    pub then_steps: Vec<usize>,
    /// See `then_steps`.
    pub else_steps: Vec<usize>,
    /// The step's object as written.
    pub spec: Map<String, Value>,
}

/// A validated pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// `input` (null when absent).
    pub input: Value,
    /// The steps in the order written.
    pub steps: Vec<Step>,
    /// Indices of the steps in execution order (topological; ties by the order written).
    pub order: Vec<usize>,
}

fn bad(msg: impl Into<String>) -> PluginError {
    PluginError::invalid_input(format!("pipeline: {}", msg.into()))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && id != "input"
}

fn id_list(step: &str, o: &Map<String, Value>, key: &str) -> Result<Vec<String>, PluginError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    bad(format!(
                        "step \"{step}\": \"{key}\" must be an array of step ids"
                    ))
                })
            })
            .collect(),
        Some(_) => Err(bad(format!(
            "step \"{step}\": \"{key}\" must be an array of step ids"
        ))),
    }
}

fn need_str(step: &str, o: &Map<String, Value>, key: &str) -> Result<(), PluginError> {
    match o.get(key) {
        Some(Value::String(_)) => Ok(()),
        _ => Err(bad(format!("step \"{step}\": needs a string \"{key}\""))),
    }
}

fn need_key(step: &str, o: &Map<String, Value>, key: &str) -> Result<(), PluginError> {
    if o.contains_key(key) {
        Ok(())
    } else {
        Err(bad(format!("step \"{step}\": needs \"{key}\"")))
    }
}

/// Checks the fields a kind needs.
fn check_fields(id: &str, kind: Kind, o: &Map<String, Value>) -> Result<(), PluginError> {
    match kind {
        Kind::Llm => {
            need_str(id, o, "prompt")?;
            if o.get("system").is_some_and(|v| !v.is_string()) {
                return Err(bad(format!("step \"{id}\": \"system\" must be a string")));
            }
            if o.get("max_tokens")
                .is_some_and(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()).is_none())
            {
                return Err(bad(format!(
                    "step \"{id}\": \"max_tokens\" must be a non-negative integer"
                )));
            }
            if o.get("temperature").is_some_and(|v| !v.is_number()) {
                return Err(bad(format!(
                    "step \"{id}\": \"temperature\" must be a number"
                )));
            }
            if o.get("json_schema")
                .is_some_and(|v| !(v.is_object() || v.is_string() || v.is_null()))
            {
                return Err(bad(format!(
                    "step \"{id}\": \"json_schema\" must be a JSON schema object (or its text)"
                )));
            }
        }
        Kind::Tool => {
            need_str(id, o, "tool")?;
            if o.get("arguments")
                .is_some_and(|v| !(v.is_object() || v.is_string()))
            {
                return Err(bad(format!(
                    "step \"{id}\": \"arguments\" must be an object (or a reference to one)"
                )));
            }
        }
        Kind::Transform => {
            let op = o.get("op").and_then(Value::as_str).ok_or_else(|| {
                bad(format!(
                    "step \"{id}\": needs \"op\", one of {}",
                    OPS.join(", ")
                ))
            })?;
            match op {
                "template" => need_str(id, o, "template")?,
                "json_get" => {
                    need_key(id, o, "value")?;
                    need_str(id, o, "pointer")?;
                    let p = o["pointer"].as_str().unwrap_or("");
                    if !(p.is_empty() || p.starts_with('/')) {
                        return Err(bad(format!(
                            "step \"{id}\": \"pointer\" must be a JSON pointer (\"\" or starting with /)"
                        )));
                    }
                }
                "json_parse" | "upper" | "lower" | "trim" => need_key(id, o, "value")?,
                "concat" => {
                    if !o.get("values").is_some_and(Value::is_array) {
                        return Err(bad(format!(
                            "step \"{id}\": concat needs an array \"values\""
                        )));
                    }
                    if o.get("separator").is_some_and(|v| !v.is_string()) {
                        return Err(bad(format!(
                            "step \"{id}\": \"separator\" must be a string"
                        )));
                    }
                }
                other => {
                    return Err(bad(format!(
                        "step \"{id}\": unknown op \"{other}\"; expected one of {}",
                        OPS.join(", ")
                    )))
                }
            }
        }
        Kind::Branch => {
            let c = o
                .get("condition")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    bad(format!(
                        "step \"{id}\": needs \"condition\": {{\"value\": ..., one of {}: ...}}",
                        CONDITIONS.join(" | ")
                    ))
                })?;
            if !c.contains_key("value") {
                return Err(bad(format!("step \"{id}\": the condition needs \"value\"")));
            }
            let ops: Vec<&str> = CONDITIONS
                .iter()
                .copied()
                .filter(|k| c.contains_key(*k))
                .collect();
            if ops.len() != 1 {
                return Err(bad(format!(
                    "step \"{id}\": the condition needs exactly one of {}",
                    CONDITIONS.join(", ")
                )));
            }
            if let Some(k) = c
                .keys()
                .find(|k| *k != "value" && !CONDITIONS.contains(&k.as_str()))
            {
                return Err(bad(format!("step \"{id}\": unknown condition key \"{k}\"")));
            }
        }
    }
    Ok(())
}

impl Pipeline {
    /// Parses and validates a pipeline document.
    pub fn parse(text: &str) -> Result<Pipeline, PluginError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("the input is not JSON: {e}")))?;
        Pipeline::from_value(doc)
    }

    /// Validates a pipeline document.
    pub fn from_value(doc: Value) -> Result<Pipeline, PluginError> {
        let Value::Object(mut doc) = doc else {
            return Err(bad(
                "the input must be an object {\"input\": ..., \"steps\": [...]}",
            ));
        };
        let input = doc.remove("input").unwrap_or(Value::Null);
        let raw = match doc.remove("steps") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            _ => return Err(bad("\"steps\" must be a non-empty array")),
        };
        if raw.len() > MAX_STEPS {
            return Err(bad(format!(
                "at most {MAX_STEPS} steps are allowed, got {}",
                raw.len()
            )));
        }
        // Ids and kinds.
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut objs = Vec::new();
        for (i, s) in raw.into_iter().enumerate() {
            let Value::Object(o) = s else {
                return Err(bad(format!("steps[{i}] must be an object")));
            };
            let id = o
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("steps[{i}] needs a string \"id\"")))?
                .to_string();
            if !valid_id(&id) {
                return Err(bad(format!(
                    "steps[{i}]: id \"{id}\" is invalid (1 to 64 of letters, digits, _ and -; not \"input\")"
                )));
            }
            if index.insert(id.clone(), i).is_some() {
                return Err(bad(format!("duplicate step id \"{id}\"")));
            }
            let kind = match o.get("kind").and_then(Value::as_str) {
                Some("llm") => Kind::Llm,
                Some("tool") => Kind::Tool,
                Some("transform") => Kind::Transform,
                Some("branch") => Kind::Branch,
                other => {
                    return Err(bad(format!(
                        "step \"{id}\": kind {} is not one of llm, tool, transform, branch",
                        other
                            .map(|k| format!("\"{k}\""))
                            .unwrap_or_else(|| "(missing)".into())
                    )))
                }
            };
            check_fields(&id, kind, &o)?;
            objs.push((id, kind, o));
        }
        let lookup = |step: &str, what: &str, name: &str| {
            index.get(name).copied().ok_or_else(|| {
                bad(format!(
                    "step \"{step}\": {what} names unknown step \"{name}\""
                ))
            })
        };
        let mut steps = Vec::new();
        for (id, kind, o) in &objs {
            let mut explicit = Vec::new();
            for d in id_list(id, o, "depends_on")? {
                explicit.push(lookup(id, "depends_on", &d)?);
            }
            let mut deps: BTreeSet<usize> = explicit.iter().copied().collect();
            let mut refs = Vec::new();
            for (k, v) in o {
                if !matches!(k.as_str(), "id" | "kind" | "depends_on" | "then" | "else") {
                    refs_in(v, &mut refs);
                }
            }
            for r in refs {
                match parse_ref(&r).map_err(|e| bad(format!("step \"{id}\": {e}")))? {
                    Ref::Input(_) => {}
                    Ref::Step(s, _) => {
                        deps.insert(lookup(id, &format!("{{{{{}}}}}", r.trim()), &s)?);
                    }
                }
            }
            let (mut then_steps, mut else_steps) = (Vec::new(), Vec::new());
            if *kind == Kind::Branch {
                for t in id_list(id, o, "then")? {
                    then_steps.push(lookup(id, "then", &t)?);
                }
                for e in id_list(id, o, "else")? {
                    else_steps.push(lookup(id, "else", &e)?);
                }
                if let Some(both) = then_steps.iter().find(|t| else_steps.contains(t)) {
                    return Err(bad(format!(
                        "step \"{id}\": \"{}\" is in both then and else",
                        objs[*both].0
                    )));
                }
            }
            steps.push(Step {
                id: id.clone(),
                kind: *kind,
                deps: deps.into_iter().collect(),
                explicit_deps: explicit,
                then_steps,
                else_steps,
                spec: o.clone(),
            });
        }
        // A branch's then/else steps wait for the branch.
        for b in 0..steps.len() {
            let targets: Vec<usize> = steps[b]
                .then_steps
                .iter()
                .chain(&steps[b].else_steps)
                .copied()
                .collect();
            for t in targets {
                if !steps[t].deps.contains(&b) {
                    steps[t].deps.push(b);
                    steps[t].deps.sort_unstable();
                }
            }
        }
        if let Some(cycle) = find_cycle(&steps) {
            let names: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
            return Err(bad(format!(
                "the steps form a cycle: {} (each waits for the next)",
                names.join(" -> ")
            )));
        }
        let order = topological_order(&steps);
        Ok(Pipeline {
            input,
            steps,
            order,
        })
    }
}

/// A cycle of the dependency graph as step indices, first repeated at the end.
pub fn find_cycle(steps: &[Step]) -> Option<Vec<usize>> {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut color = vec![0u8; steps.len()];
    let mut stack = Vec::new();
    fn visit(
        i: usize,
        steps: &[Step],
        color: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        color[i] = 1;
        stack.push(i);
        for &d in &steps[i].deps {
            if color[d] == 1 {
                let start = stack.iter().position(|&s| s == d).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(d);
                return Some(cycle);
            }
            if color[d] == 0 {
                if let Some(c) = visit(d, steps, color, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        color[i] = 2;
        None
    }
    (0..steps.len()).find_map(|i| {
        if color[i] == 0 {
            visit(i, steps, &mut color, &mut stack)
        } else {
            None
        }
    })
}

/// Kahn's algorithm, always taking the ready step written first. Assumes no cycle.
pub fn topological_order(steps: &[Step]) -> Vec<usize> {
    let mut waiting: Vec<usize> = steps.iter().map(|s| s.deps.len()).collect();
    let mut ready: BTreeSet<usize> = (0..steps.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for (j, s) in steps.iter().enumerate() {
            if s.deps.contains(&i) {
                waiting[j] -= 1;
                if waiting[j] == 0 {
                    ready.insert(j);
                }
            }
        }
    }
    order
}
