//! `jinja`: renders the model's own chat template (`tokenizer.chat_template` from the GGUF,
//! given as `model.chat-template`) with minijinja, the way Hugging Face transformers'
//! `apply_chat_template` does:
//!
//! * environment: `trim_blocks` and `lstrip_blocks` on, lenient undefined values, loop controls,
//!   Python string/dict/list methods (`.strip()`, `.startswith()`, `.split()`, `.items()`, ...)
//!   through `minijinja-contrib`'s pycompat;
//! * variables: `messages` (OpenAI-shaped: `role`, `content`, and when present `tool_calls`
//!   as `[{id, type: "function", function: {name, arguments}}]` with `arguments` parsed into an
//!   object when it is JSON, `tool_call_id`, `name`), `tools` (OpenAI-shaped
//!   `{type: "function", function: {name, description, parameters}}`, or `none` when there are
//!   none), `add_generation_prompt`, `bos_token`, `eos_token`;
//! * functions: `raise_exception(msg)` (becomes plugin-error `invalid-input` with `msg`),
//!   `strftime_now(fmt)` (UTC wall clock);
//! * filters: minijinja's built-ins, with `tojson` replaced by transformers' version (Python
//!   `json.dumps` output: `", "`/`": "` separators, insertion order; `indent`, `ensure_ascii`,
//!   `sort_keys`, `separators` keyword arguments accepted).
//!
//! Stop strings: the EOS text, then the usual turn-end markers that occur in the template text.
//! add-bos: false when the prompt already starts with the BOS text, else true.
//! `parse`: reasoning split off; when tools were offered, tool calls extracted in the format set
//! by the `tool-call-format` setting (`hermes`, `llama3`, `mistral`, `json`, `auto`; e.g.
//! `--plugin-config jinja:tool-call-format=llama3`), by default `auto` (Hermes `<tool_call>`,
//! Mistral `[TOOL_CALLS]`, Llama 3 `<|python_tag|>`, then bare JSON, the first that finds a
//! call). The contract's `parse` does not receive the chat template, so the format cannot be
//! detected from it there; [`ToolCallFormat::detect`] gives what a template text teaches.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};
use serde_json::Value as Json;
use shimmy_plugin_sdk::prompt::{openai_tool, push_stop};
use shimmy_plugin_sdk::tool_calls::{extract_offered, ToolCallFormat};
use shimmy_plugin_sdk::{
    export_template, pyjson, reasoning, spans, ChatMessage, Parsed, PluginError, RenderRequest,
    Rendered, Template, TemplateInfo, ToolDefinition,
};
use std::sync::{Arc, Mutex};

mod content_marks;

/// Turn-end markers looked for in the template text; each one found becomes a stop string.
pub const TURN_END_MARKERS: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<｜end▁of▁sentence｜>",
    "<|return|>",
    "<|END_OF_TURN_TOKEN|>",
];

/// The template.
pub struct Jinja;

/// Renders `req` with its model's chat template; `now` is the Unix time (seconds, UTC) that
/// `strftime_now` formats. Pure: no host calls.
pub fn render_with_time(req: &RenderRequest, now: i64) -> Result<Rendered, PluginError> {
    let source = req.model.chat_template.as_deref().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        PluginError::not_found(format!(
            "the model ({}) has no chat template (tokenizer.chat_template); choose a named template",
            req.model.architecture
        ))
    })?;
    let bos = req.model.bos_token.clone().unwrap_or_default();
    let eos = req.model.eos_token.clone().unwrap_or_default();

    let raised: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| PluginError::failed(format!("jinja syntax config: {e}")))?,
    );
    env.set_unknown_method_callback(content_marks::unknown_method);
    {
        let raised = raised.clone();
        env.add_function(
            "raise_exception",
            move |msg: Option<Value>| -> Result<Value, Error> {
                let msg = msg
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "raise_exception called".into());
                *raised.lock().unwrap() = Some(msg.clone());
                Err(Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
    }
    env.add_function("strftime_now", move |fmt: String| -> String {
        strftime(&fmt, now)
    });
    env.add_filter("tojson", tojson);

    let template = env
        .template_from_str(source)
        .map_err(|e| template_error("parsing", &e))?;

    let tools = if req.tools.is_empty() {
        Value::from(())
    } else {
        let list: Result<Vec<Value>, PluginError> = req
            .tools
            .iter()
            .map(|t| openai_tool(t).map(|v| json_to_value(&v)))
            .collect();
        Value::from(list?)
    };
    let messages: Vec<Value> = req.messages.iter().map(message_value).collect();
    let ctx = Value::from_pairs([
        ("messages", Value::from(messages)),
        ("tools", tools),
        (
            "add_generation_prompt",
            Value::from(req.add_generation_prompt),
        ),
        ("bos_token", Value::from(bos.clone())),
        ("eos_token", Value::from(eos.clone())),
    ]);

    let prompt = template
        .render(ctx)
        .map_err(|e| match raised.lock().unwrap().take() {
            Some(msg) => PluginError::invalid_input(msg),
            None => template_error("rendering", &e),
        })?;

    let mut stop = Vec::new();
    push_stop(&mut stop, &eos);
    for marker in TURN_END_MARKERS {
        if source.contains(marker) {
            push_stop(&mut stop, marker);
        }
    }
    let add_bos = bos.is_empty() || !prompt.starts_with(&bos);
    Ok(Rendered {
        prompt,
        stop,
        add_bos,
    })
}

fn template_error(what: &str, e: &Error) -> PluginError {
    let mut msg = format!("chat template: {what} failed: {e}");
    if let Some(detail) = e.detail() {
        if !msg.contains(detail) {
            msg.push_str(&format!(" ({detail})"));
        }
    }
    if let Some(line) = e.line() {
        msg.push_str(&format!(" at line {line}"));
    }
    PluginError::failed(msg)
}

/// A message in the OpenAI shape real templates expect.
fn message_value(m: &ChatMessage) -> Value {
    let mut pairs: Vec<(&str, Value)> = vec![
        ("role", Value::from(m.role.clone())),
        ("content", Value::from(m.content.clone())),
    ];
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| {
                let arguments = match serde_json::from_str::<Json>(&c.arguments) {
                    Ok(v @ Json::Object(_)) => json_to_value(&v),
                    _ => Value::from(c.arguments.clone()),
                };
                let function = Value::from_pairs([
                    ("name", Value::from(c.name.clone())),
                    ("arguments", arguments),
                ]);
                Value::from_pairs([
                    ("id", Value::from(c.id.clone())),
                    ("type", Value::from("function")),
                    ("function", function),
                ])
            })
            .collect();
        pairs.push(("tool_calls", Value::from(calls)));
    }
    if let Some(id) = &m.tool_call_id {
        pairs.push(("tool_call_id", Value::from(id.clone())));
    }
    if let Some(name) = &m.name {
        pairs.push(("name", Value::from(name.clone())));
    }
    Value::from_pairs(pairs)
}

/// serde_json → minijinja, keeping object key order.
pub fn json_to_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.clone()),
        Json::Array(items) => Value::from(items.iter().map(json_to_value).collect::<Vec<_>>()),
        Json::Object(map) => {
            Value::from_pairs(map.iter().map(|(k, v)| (k.clone(), json_to_value(v))))
        }
    }
}

/// minijinja → serde_json (undefined and none become null; other objects their string form).
pub fn value_to_json(v: &Value) -> Json {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => Json::Null,
        ValueKind::Bool => Json::Bool(v.is_true()),
        ValueKind::Number => {
            if v.is_integer() {
                match v.as_i64() {
                    Some(i) => Json::from(i),
                    None => Json::from(f64::try_from(v.clone()).unwrap_or(f64::NAN)),
                }
            } else {
                serde_json::Number::from_f64(f64::try_from(v.clone()).unwrap_or(f64::NAN))
                    .map(Json::Number)
                    .unwrap_or(Json::Null)
            }
        }
        ValueKind::String => Json::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => match v.try_iter() {
            Ok(items) => Json::Array(items.map(|i| value_to_json(&i)).collect()),
            Err(_) => Json::String(v.to_string()),
        },
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            if let Ok(keys) = v.try_iter() {
                for key in keys {
                    let val = v.get_item(&key).unwrap_or_default();
                    let key = key
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| key.to_string());
                    map.insert(key, value_to_json(&val));
                }
            }
            Json::Object(map)
        }
        _ => Json::String(v.to_string()),
    }
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`; `indent` may also be given positionally.
fn tojson(value: Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")?.or(indent) {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(" ".repeat(n.max(0) as usize)),
            None => Some(v.as_str().map(str::to_string).unwrap_or_default()),
        },
    };
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false);
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let separators = match kwargs.get::<Option<Value>>("separators")? {
        Some(v) if !v.is_none() && !v.is_undefined() => {
            let parts: Vec<String> = v
                .try_iter()?
                .map(|p| p.as_str().unwrap_or_default().to_string())
                .collect();
            match parts.as_slice() {
                [item, key] => Some((item.clone(), key.clone())),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "tojson: separators must be a pair",
                    ))
                }
            }
        }
        _ => None,
    };
    let options = pyjson::Options {
        indent,
        ensure_ascii,
        sort_keys,
        separators,
    };
    // JSON of request data (marked, see `content_marks`) is content as a whole.
    Ok(Value::from_safe_string(spans::print_json(
        &value_to_json(&value),
        |v| pyjson::dumps_with(v, &options),
    )))
}

/// A small `strftime` for `strftime_now` (UTC): `%Y %y %m %d %e %H %I %M %S %p %b %B %h %a %A %j
/// %w %u %F %T %D %%`; anything else is copied as is.
pub fn strftime(fmt: &str, unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (hour, minute, second) = (secs / 3600, secs % 3600 / 60, secs % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_mar = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_mar + 2) / 153;
    let day = doy_mar - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day + i64::from(leap && month > 2);
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };

    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('e') => out.push_str(&format!("{day:>2}")),
            Some('H') => out.push_str(&format!("{hour:02}")),
            Some('I') => out.push_str(&format!("{hour12:02}")),
            Some('M') => out.push_str(&format!("{minute:02}")),
            Some('S') => out.push_str(&format!("{second:02}")),
            Some('p') => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            Some('B') => out.push_str(MONTHS[(month - 1) as usize]),
            Some('b') | Some('h') => out.push_str(&MONTHS[(month - 1) as usize][..3]),
            Some('A') => out.push_str(DAYS[weekday]),
            Some('a') => out.push_str(&DAYS[weekday][..3]),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('w') => out.push_str(&weekday.to_string()),
            Some('u') => out.push_str(&(if weekday == 0 { 7 } else { weekday }).to_string()),
            Some('F') => out.push_str(&format!("{year}-{month:02}-{day:02}")),
            Some('T') => out.push_str(&format!("{hour:02}:{minute:02}:{second:02}")),
            Some('D') => out.push_str(&format!("{month:02}/{day:02}/{:02}", year.rem_euclid(100))),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// [`parse_output_with`] in the `auto` format.
pub fn parse_output(output: &str, tools: &[ToolDefinition]) -> Parsed {
    parse_output_with(output, tools, ToolCallFormat::Auto)
}

/// Reasoning split off; when tools were offered, tool calls in `format` extracted.
pub fn parse_output_with(output: &str, tools: &[ToolDefinition], format: ToolCallFormat) -> Parsed {
    let (reasoning, content) = reasoning::split_reasoning(output);
    let (content, tool_calls) = extract_offered(&content, format, tools);
    Parsed {
        content,
        reasoning,
        tool_calls,
    }
}

impl Template for Jinja {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "jinja".into(),
            description:
                "The model's own chat template (tokenizer.chat_template), rendered with minijinja"
                    .into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        render_with_time(&req, unix_now())
    }

    fn parse(output: String, tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        let format = match shimmy_plugin_sdk::config::get("tool-call-format") {
            None => ToolCallFormat::Auto,
            Some(name) => ToolCallFormat::from_name(&name).ok_or_else(|| {
                PluginError::invalid_input(format!(
                    "jinja: setting tool-call-format = \"{name}\" is not one of hermes, llama3, \
                     mistral, json, auto"
                ))
            })?,
        };
        Ok(parse_output_with(&output, &tools, format))
    }
}

export_template!(Jinja);

#[cfg(test)]
mod tests;
