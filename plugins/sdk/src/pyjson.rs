//! JSON printed the way Python's `json.dumps` prints it.
//!
//! Hugging Face chat templates print tools and arguments with `tojson`, which transformers
//! implements as `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
//! sort_keys=False)`: items separated by `", "` and keys by `": "` (not the compact form most
//! Rust serializers write). Models were trained on that exact text, so templates reproduce it.

use serde_json::Value;
use std::fmt::Write;

/// Options of `json.dumps`. [`Default`] is transformers' `tojson`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// `indent`: `None` for one line, else the string put once per nesting level (Python's
    /// integer indent `n` is `" ".repeat(n)`).
    pub indent: Option<String>,
    /// `ensure_ascii`: escape every non-ASCII character as `\uXXXX`.
    pub ensure_ascii: bool,
    /// `sort_keys`: print object keys in sorted order instead of insertion order.
    pub sort_keys: bool,
    /// `separators=(item, key)`; `None` means Python's default: `(", ", ": ")` without indent,
    /// `(",", ": ")` with it.
    pub separators: Option<(String, String)>,
}

/// `json.dumps(value)` with transformers' `tojson` defaults.
pub fn dumps(value: &Value) -> String {
    dumps_with(value, &Options::default())
}

/// `json.dumps(value, **options)`.
pub fn dumps_with(value: &Value, options: &Options) -> String {
    let (item_sep, key_sep) = match &options.separators {
        Some((i, k)) => (i.as_str(), k.as_str()),
        None if options.indent.is_some() => (",", ": "),
        None => (", ", ": "),
    };
    let mut out = String::new();
    write_value(&mut out, value, options, item_sep, key_sep, 0);
    out
}

fn newline_indent(out: &mut String, indent: &Option<String>, level: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(ind);
        }
    }
}

fn write_value(
    out: &mut String,
    v: &Value,
    o: &Options,
    item_sep: &str,
    key_sep: &str,
    level: usize,
) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                let _ = write!(out, "{n}");
            } else if let Some(f) = n.as_f64() {
                write_float(out, f);
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => write_string(out, s, o.ensure_ascii),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline_indent(out, &o.indent, level + 1);
                write_value(out, item, o, item_sep, key_sep, level + 1);
            }
            newline_indent(out, &o.indent, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if o.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline_indent(out, &o.indent, level + 1);
                write_string(out, k, o.ensure_ascii);
                out.push_str(key_sep);
                write_value(out, val, o, item_sep, key_sep, level + 1);
            }
            newline_indent(out, &o.indent, level);
            out.push('}');
        }
    }
}

/// Python's `repr(float)` for the common cases (`1.0`, `0.5`, `1e+16`, `NaN`, `Infinity`).
fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if f == f.trunc() && f.abs() < 1e16 {
        let _ = write!(out, "{f:.1}");
    } else if f.abs() >= 1e16 || (f != 0.0 && f.abs() < 1e-4) {
        // Python switches to exponent notation here: 1e+16, 1e-05.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let _ = write!(
            out,
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    } else {
        let _ = write!(out, "{f}");
    }
}

/// A JSON string literal as Python escapes it.
pub fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_default_separators_and_order() {
        let v: Value =
            serde_json::from_str(r#"{"b": 1, "a": [true, null, 1.5, 2.0], "c": {}}"#).unwrap();
        assert_eq!(
            dumps(&v),
            r#"{"b": 1, "a": [true, null, 1.5, 2.0], "c": {}}"#
        );
    }

    #[test]
    fn indent_and_sort() {
        let v = json!({"b": [1, 2], "a": "x"});
        let o = Options {
            indent: Some("  ".into()),
            sort_keys: true,
            ..Options::default()
        };
        assert_eq!(
            dumps_with(&v, &o),
            "{\n  \"a\": \"x\",\n  \"b\": [\n    1,\n    2\n  ]\n}"
        );
    }

    #[test]
    fn escapes() {
        let v = json!("a\"b\\c\nd\u{1}é😀");
        assert_eq!(dumps(&v), "\"a\\\"b\\\\c\\nd\\u0001é😀\"");
        let o = Options {
            ensure_ascii: true,
            ..Options::default()
        };
        assert_eq!(
            dumps_with(&v, &o),
            "\"a\\\"b\\\\c\\nd\\u0001\\u00e9\\ud83d\\ude00\""
        );
    }

    #[test]
    fn floats() {
        let mut s = String::new();
        for f in [0.1, 1e16, 1e-5, -3.0, 123.456] {
            write_float(&mut s, f);
            s.push(' ');
        }
        assert_eq!(s, "0.1 1e+16 1e-05 -3.0 123.456 ");
    }
}
