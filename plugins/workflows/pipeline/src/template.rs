//! `{{...}}` references and their substitution.
//!
//! A reference is `input`, `input.a.b`, `STEP.output` or `STEP.output.a.0.b`: dot-separated
//! object keys or array indices. A string output that holds JSON is looked into as JSON. The
//! output of a skipped step is `null` (and so is anything below it).
//!
//! A string that is exactly one reference (`"{{a.output}}"`) becomes the referenced JSON value
//! as it is; in any other string each reference is replaced by its text (strings as they are,
//! `null` as nothing, other values as compact JSON). An unclosed `{{` is kept literally.

use serde_json::{Map, Value};

/// What a reference points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ref {
    /// `input...`: the pipeline's input, then the path.
    Input(Vec<String>),
    /// `STEP.output...`: a step's output, then the path.
    Step(String, Vec<String>),
}

/// Parses the inside of `{{ ... }}`. `Err` says what is wrong.
pub fn parse_ref(text: &str) -> Result<Ref, String> {
    let text = text.trim();
    let mut parts = text.split('.').map(str::trim);
    let head = parts.next().unwrap_or("");
    let rest: Vec<String> = parts.map(str::to_string).collect();
    if rest.iter().any(String::is_empty) || head.is_empty() {
        return Err(format!("{{{{{text}}}}} is not a reference (empty part)"));
    }
    if head == "input" {
        return Ok(Ref::Input(rest));
    }
    match rest.split_first() {
        Some((o, path)) if o == "output" => Ok(Ref::Step(head.to_string(), path.to_vec())),
        _ => Err(format!(
            "{{{{{text}}}}} is not a reference: write {{{{input}}}}, {{{{input.field}}}}, \
             {{{{{head}.output}}}} or {{{{{head}.output.field}}}}"
        )),
    }
}

/// Every reference text (inside `{{ }}`) in the strings of `v`.
pub fn refs_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(open) = rest.find("{{") {
                let after = &rest[open + 2..];
                let Some(close) = after.find("}}") else { break };
                out.push(after[..close].to_string());
                rest = &after[close + 2..];
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| refs_in(x, out)),
        _ => {}
    }
}

/// The values references resolve against.
pub struct Scope<'a> {
    /// The pipeline's input.
    pub input: &'a Value,
    /// Outputs of the steps run so far (skipped steps: `null`).
    pub outputs: &'a Map<String, Value>,
}

impl Scope<'_> {
    /// The value of a reference.
    pub fn resolve(&self, text: &str) -> Result<Value, String> {
        let (base, path, label) = match parse_ref(text)? {
            Ref::Input(p) => (self.input.clone(), p, "input".to_string()),
            Ref::Step(id, p) => match self.outputs.get(&id) {
                Some(v) => (v.clone(), p, format!("{id}.output")),
                None => return Err(format!("step \"{id}\" has not run")),
            },
        };
        let mut cur = base;
        let mut at = label;
        for seg in &path {
            if cur.is_null() {
                return Ok(Value::Null);
            }
            if let Value::String(s) = &cur {
                if let Ok(parsed) = serde_json::from_str::<Value>(s) {
                    cur = parsed;
                }
            }
            let next = match &cur {
                Value::Object(o) => o.get(seg).cloned(),
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i).cloned()),
                _ => None,
            };
            cur = next.ok_or_else(|| format!("{{{{{}}}}}: {at} has no \"{seg}\"", text.trim()))?;
            at = format!("{at}.{seg}");
        }
        Ok(cur)
    }

    /// `s` with every reference replaced by its text.
    pub fn render_text(&self, s: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            out.push_str(&rest[..open]);
            out.push_str(&to_text(&self.resolve(&after[..close])?));
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `v` with references substituted in every string (a string that is exactly one
    /// reference becomes the referenced value).
    pub fn render(&self, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => {
                let t = s.trim();
                let single = t.starts_with("{{")
                    && t.ends_with("}}")
                    && t.len() >= 4
                    && !t[2..t.len() - 2].contains("{{")
                    && !t[2..t.len() - 2].contains("}}");
                if single {
                    self.resolve(&t[2..t.len() - 2])?
                } else {
                    Value::String(self.render_text(s)?)
                }
            }
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.render(x)).collect::<Result<_, _>>()?)
            }
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| Ok((k.clone(), self.render(x)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// A value as text: strings as they are, `null` as nothing, the rest as compact JSON.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
