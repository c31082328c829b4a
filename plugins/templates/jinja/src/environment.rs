//! The minijinja environment set up the way transformers sets up Jinja2 for chat templates
//! (`_compile_jinja_template`): `trim_blocks`, `lstrip_blocks`, loop controls, `namespace`,
//! `dict`, the `{% generation %}` tag, `raise_exception`, `strftime_now`, its `tojson`; and,
//! where minijinja and Python differ, Python's behaviour: Python string / dict / list methods
//! (minijinja-contrib's pycompat), the `iterable` and `none` tests and the generator filters
//! ([`crate::pyvalues`]); jinja2's `Markup` where the template makes one ([`crate::markup`]).

use crate::pyvalues::{self, generator, value_to_json};
use crate::strftime::strftime;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Rest, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use shimmy_plugin_sdk::{pyjson, spans, PluginError};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// The message of the last `raise_exception` call of a render, if any.
pub type Raised = Arc<Mutex<Option<String>>>;

/// transformers' syntax: `trim_blocks` and `lstrip_blocks`.
pub fn syntax() -> Result<SyntaxConfig, PluginError> {
    SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| PluginError::failed(format!("jinja syntax config: {e}")))
}

/// An environment for one render; `now` (Unix seconds, UTC) is what `strftime_now` formats.
/// `raised` receives the message of a `raise_exception` call. `markup`: jinja2's `Markup`
/// semantics, for a source [`crate::markup::rewrite`] rewrote.
pub fn environment(
    now: i64,
    raised: Raised,
    markup: bool,
) -> Result<Environment<'static>, PluginError> {
    let mut env = Environment::new();
    env.set_syntax(syntax()?);
    env.set_unknown_method_callback(crate::content_marks::unknown_method);
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
    env.add_function("strftime_now", move |fmt: String| -> String {
        strftime(&fmt, now)
    });
    env.add_filter("tojson", tojson);
    env.add_test("iterable", |v: Value| pyvalues::is_iterable(&v));
    env.add_test("none", |v: Value| pyvalues::is_none(&v));
    env.add_filter(
        "map",
        |state: &mut State, v: Value, args: Rest<ValueOrKwargs>| {
            minijinja::filters::map(state, falsy_none(v), args).map(generator)
        },
    );
    env.add_filter(
        "select",
        |state: &mut State, v: Value, test: Option<Cow<'_, str>>, args: Rest<ValueOrKwargs>| {
            minijinja::filters::select(state, falsy_none(v), test, args).map(generator)
        },
    );
    env.add_filter(
        "reject",
        |state: &mut State, v: Value, test: Option<Cow<'_, str>>, args: Rest<ValueOrKwargs>| {
            minijinja::filters::reject(state, falsy_none(v), test, args).map(generator)
        },
    );
    env.add_filter(
        "selectattr",
        |state: &mut State,
         v: Value,
         attr: Cow<'_, str>,
         test: Option<Cow<'_, str>>,
         args: Rest<ValueOrKwargs>| {
            minijinja::filters::selectattr(state, falsy_none(v), attr, test, args).map(generator)
        },
    );
    env.add_filter(
        "rejectattr",
        |state: &mut State,
         v: Value,
         attr: Cow<'_, str>,
         test: Option<Cow<'_, str>>,
         args: Rest<ValueOrKwargs>| {
            minijinja::filters::rejectattr(state, falsy_none(v), attr, test, args).map(generator)
        },
    );
    if markup {
        crate::markup::install(&mut env);
    }
    Ok(env)
}

/// Jinja2's sequence filters start with `if seq:`, so `None` gives nothing; minijinja's treat
/// its own none that way.
fn falsy_none(v: Value) -> Value {
    if pyvalues::is_none(&v) {
        Value::from(())
    } else {
        v
    }
}

/// `source` with transformers' `{% generation %}` / `{% endgeneration %}` block (it marks the
/// assistant's tokens for training masks and renders its body unchanged) written as an
/// always-true `if`, which minijinja knows and which trims whitespace the same way.
pub fn rewrite_generation_tags(source: &str) -> Cow<'_, str> {
    if !source.contains("generation") {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = rest.find("{%") {
        out.push_str(&rest[..open]);
        let tag = &rest[open..];
        let Some(close) = tag.find("%}") else {
            out.push_str(tag);
            return Cow::Owned(out);
        };
        let inner = &tag[2..close];
        let (lead, body) = split_marker(inner, true);
        let (body, trail) = split_marker(body, false);
        match body.trim() {
            "generation" => out.push_str(&format!("{{%{lead} if true {trail}%}}")),
            "endgeneration" => out.push_str(&format!("{{%{lead} endif {trail}%}}")),
            _ => out.push_str(&tag[..close + 2]),
        }
        rest = &tag[close + 2..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Splits a leading (or trailing) whitespace-control marker `-` / `+` off a tag's inside.
fn split_marker(s: &str, leading: bool) -> (&str, &str) {
    let marker = |c: char| c == '-' || c == '+';
    if leading {
        match s.chars().next() {
            Some(c) if marker(c) => (&s[..1], &s[1..]),
            _ => ("", s),
        }
    } else {
        match s.chars().last() {
            Some(c) if marker(c) => (&s[..s.len() - 1], &s[s.len() - 1..]),
            _ => (s, ""),
        }
    }
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`; `indent` may also be given positionally.
fn tojson(value: Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")?.or(indent) {
        None => None,
        Some(v) if pyvalues::is_none(&v) || v.is_undefined() => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(" ".repeat(n.max(0) as usize)),
            None => Some(v.as_str().map(str::to_string).unwrap_or_default()),
        },
    };
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false);
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let separators = match kwargs.get::<Option<Value>>("separators")? {
        Some(v) if !pyvalues::is_none(&v) && !v.is_undefined() => {
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
    kwargs.assert_all_used()?;
    let options = pyjson::Options {
        indent,
        ensure_ascii,
        sort_keys,
        separators,
    };
    // JSON of request data (marked, see `content_marks`) is content as a whole. A plain
    // string, as transformers' `tojson` returns (`"..."|safe + x|tojson` escapes it).
    Ok(Value::from(spans::print_json(
        &value_to_json(&value)?,
        |v| pyjson::dumps_with(v, &options),
    )))
}
