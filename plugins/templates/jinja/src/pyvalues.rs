//! Values that behave the way Python's do inside transformers' Jinja2 sandbox, where
//! minijinja's own values behave differently, and the JSON conversions (`tojson`, context).
//!
//! * [`py_none`]: Python's `None` as transformers passes it for `tools` and `documents` when a
//!   request has none. minijinja's `none` is iterable (as an empty list) and so passes
//!   `tools is iterable`; Python's is not, and `for x in None` fails. The sentinel is `none`
//!   for the `none` test, falsy, defined, not iterable, without a length, prints `None` and
//!   serializes as `null`.
//! * [`generator`]: what Jinja2's `map`, `select`, `reject`, `selectattr` and `rejectattr`
//!   return: a one-shot iterable that is always truthy, has no length, cannot be indexed and
//!   that `json.dumps` refuses.

use minijinja::value::{Enumerator, Object, ObjectRepr, ValueKind};
use minijinja::{Error, ErrorKind, Value};
use serde_json::Value as Json;
use std::fmt;
use std::sync::Arc;

/// Python's `None` (see the module documentation).
#[derive(Debug)]
pub struct PyNone;

impl Object for PyNone {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn is_true(self: &Arc<Self>) -> bool {
        false
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("None")
    }
}

/// A fresh [`PyNone`] value.
pub fn py_none() -> Value {
    Value::from_object(PyNone)
}

/// Whether `v` is `none` in Python's sense: minijinja's none or [`PyNone`].
pub fn is_none(v: &Value) -> bool {
    v.is_none() || v.downcast_object_ref::<PyNone>().is_some()
}

/// Jinja2's `iterable` test: `iter(x)` succeeds. Undefined is iterable there (as nothing),
/// none is not.
pub fn is_iterable(v: &Value) -> bool {
    !is_none(v) && v.try_iter().is_ok()
}

/// The result of a Jinja2 filter that returns a Python generator.
#[derive(Debug)]
pub struct Generator(Vec<Value>);

impl Object for Generator {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Iter(Box::new(self.0.clone().into_iter()))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        None
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<generator object>")
    }
}

/// `items` as a [`Generator`].
pub fn generator(items: Vec<Value>) -> Value {
    Value::from_object(Generator(items))
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

fn not_serializable(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("Object of type {what} is not JSON serializable"),
    )
}

/// minijinja → serde_json as Python's `json.dumps` sees the value: none is `null`; undefined
/// values, generators and other objects are refused with Python's message.
pub fn value_to_json(v: &Value) -> Result<Json, Error> {
    Ok(match v.kind() {
        ValueKind::None => Json::Null,
        ValueKind::Undefined => return Err(not_serializable("Undefined")),
        ValueKind::Bool => Json::Bool(v.is_true()),
        ValueKind::Number => {
            if v.is_integer() {
                match v.as_i64() {
                    Some(i) => Json::from(i),
                    None => Json::from(f64::try_from(v.clone()).unwrap_or(f64::NAN)),
                }
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Json::Number)
                    .ok_or_else(|| not_serializable("float"))?
            }
        }
        ValueKind::String => Json::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq => Json::Array(
            v.try_iter()?
                .map(|i| value_to_json(&i))
                .collect::<Result<_, _>>()?,
        ),
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            for key in v.try_iter()? {
                let val = v.get_item(&key)?;
                let key = match key.as_str() {
                    Some(s) => s.to_string(),
                    None => key.to_string(),
                };
                map.insert(key, value_to_json(&val)?);
            }
            Json::Object(map)
        }
        _ if is_none(v) => Json::Null,
        _ if v.downcast_object_ref::<Generator>().is_some() => {
            return Err(not_serializable("generator"))
        }
        _ => return Err(not_serializable(&v.kind().to_string())),
    })
}
