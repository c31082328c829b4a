//! Typed pieces every protocol's request structs share, and the one conversion of a JSON body
//! into a request struct ([`from_json`]), whose errors name the field at fault.
//!
//! The field types ([`Flag`], [`Text`], [`Number`], [`Int`], [`Count`], [`List`], [`Stop`],
//! ...) accept what the wire allows and say what they expect; [`from_json`] turns serde's
//! "invalid type" reports into messages such as "`stream` must be true or false, not a
//! string". Fields a request struct does not name are collected into [`Unknown`] and dealt
//! with by each protocol's [`UnknownFields`] policy. Fields several request structs share live
//! in one struct that each of them flattens through [`Flat`], whose errors still name the
//! field.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::SystemTime;

use serde::de::{self, DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::ServerError;

/// `a string`, `an array`... for messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The Unix time now, in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Converts a JSON object into a request struct; the message names the field at fault.
pub fn from_json<T: DeserializeOwned>(value: Value) -> Result<T, ServerError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if let Some((param, message)) = Flat::<()>::decode(&inner) {
            return ServerError::invalid(param, message);
        }
        if path.is_empty() || path == "." {
            ServerError::invalid("", inner)
        } else {
            let message = match readable(&inner) {
                Some(must) => format!("`{path}` {must}"),
                None => format!("`{path}`: {inner}"),
            };
            ServerError::invalid(path, message)
        }
    })
}

/// serde's `invalid type: string "x", expected a number` (and our own `must be ...`) as
/// `must be a number, not a string`; `None` for other messages.
fn readable(inner: &str) -> Option<String> {
    if inner.starts_with("must ") {
        return Some(inner.to_string());
    }
    if let Some(rest) = inner.strip_prefix("invalid type: ") {
        let (found, expected) = rest.rsplit_once(", expected ")?;
        return Some(format!("must be {expected}, not {}", kind_of(found)));
    }
    let rest = inner.strip_prefix("invalid value: ")?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    Some(format!("must be {expected}, not {}", value_of(found)))
}

/// The kind of JSON value serde describes as `found`.
fn kind_of(found: &str) -> &str {
    let word = found.split([' ', '`']).next().unwrap_or(found);
    match word {
        "string" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "a boolean",
        "null" | "unit" => "null",
        "sequence" => "an array",
        "map" => "an object",
        _ => found,
    }
}

/// The value serde describes as `found` (`integer `-3``, `string "x"`).
fn value_of(found: &str) -> &str {
    if let Some((_, v)) = found.split_once('`') {
        return v.trim_end_matches('`');
    }
    match found.split_once(' ') {
        Some(("string", v)) => v,
        _ => found,
    }
}

/// What a protocol does with request fields its structs do not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownFields {
    /// Refuse the request (400 naming the field), so that nothing asked for is silently
    /// dropped.
    Refuse,
    /// Accept the request and log the fields at debug level.
    Ignore,
}

/// The fields of a request that its struct does not name (`#[serde(flatten)]`).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Unknown(BTreeMap<String, IgnoredAny>);

impl Unknown {
    /// The field names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Applies `policy`: `what` names the reader in messages (`/v1/completions`).
    pub fn check(&self, policy: UnknownFields, what: &str) -> Result<(), ServerError> {
        let unknown: Vec<&str> = self.names().collect();
        match (policy, unknown.as_slice()) {
            (_, []) => Ok(()),
            (UnknownFields::Ignore, names) => {
                tracing::debug!("{what} ignores the fields {}", names.join(", "));
                Ok(())
            }
            (UnknownFields::Refuse, [one]) => Err(ServerError::unsupported(
                *one,
                format!("`{one}` is not a parameter that {what} supports"),
            )),
            (UnknownFields::Refuse, many) => Err(ServerError::unsupported(
                many[0],
                format!(
                    "these are not parameters that {what} supports: {}",
                    many.join(", ")
                ),
            )),
        }
    }
}

/// A request body struct: which fields it did not name, who reads it, and the protocol's
/// policy for those fields. The body extractor applies the policy.
pub trait WireRequest: DeserializeOwned {
    /// The reader, for messages: `/v1/chat/completions`.
    const READER: &'static str;
    /// What the protocol does with fields the struct does not name.
    const UNKNOWN_FIELDS: UnknownFields;
    /// The fields the struct did not name.
    fn unknown(&self) -> &Unknown;
}

/// Implements [`WireRequest`] for a struct whose unknown fields are its `unknown` field:
/// `wire_request!(ChatRequest, "/v1/chat/completions", UNKNOWN_FIELDS);`.
macro_rules! wire_request {
    ($name:ty, $reader:literal, $policy:path) => {
        impl $crate::wire::WireRequest for $name {
            const READER: &'static str = $reader;
            const UNKNOWN_FIELDS: $crate::wire::UnknownFields = $policy;
            fn unknown(&self) -> &$crate::wire::Unknown {
                &self.unknown
            }
        }
    };
}
pub(crate) use wire_request;

/// Implements the visitor methods a field type does not accept as "invalid type" errors.
macro_rules! expecting {
    ($text:literal) => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str($text)
        }
    };
}

/// Fields of a request read from the same JSON object as the struct that flattens it
/// (`#[serde(flatten)] common: Flat<Common>`): serde hands a flattened struct its fields
/// without their path, so `Flat` reads them itself with [`from_json`] and carries the field
/// at fault through the error, which [`from_json`] of the outer struct unpacks.
#[derive(Debug)]
pub struct Flat<T>(pub T);

/// Marks the error text of a [`Flat`] field (a character no JSON key of ours holds).
const FLAT_ERROR: char = '\u{1f}';

impl<T> Flat<T> {
    /// `(param, message)` of an error text [`Flat`] made.
    fn decode(text: &str) -> Option<(&str, &str)> {
        let rest = text.strip_prefix(FLAT_ERROR)?;
        rest.split_once(FLAT_ERROR)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Flat<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = Flat<T>;
            expecting!("an object");
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Flat<T>, A::Error> {
                let mut fields = serde_json::Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    fields.insert(key, value);
                }
                from_json(Value::Object(fields))
                    .map(Flat)
                    .map_err(|e: ServerError| {
                        let param = e.param().unwrap_or_default().to_string();
                        de::Error::custom(format!("{FLAT_ERROR}{param}{FLAT_ERROR}{e}"))
                    })
            }
        }
        d.deserialize_struct("Flat", field_names::<T>(), V(PhantomData))
    }
}

/// The field names a derived `Deserialize` of `T` reads (what it passes to
/// `deserialize_struct`), so that a flattened [`Flat`] takes only its own fields.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names(&'static [&'static str]);
    impl<'de> Deserializer<'de> for &mut Names {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(de::Error::custom("names taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names = Names(&[]);
    let _ = T::deserialize(&mut names);
    names.0
}

/// `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            expecting!("true or false");
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            expecting!("a string");
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// The string of an optional [`Text`].
pub fn text(t: Option<Text>) -> Option<String> {
    t.map(|t| t.0)
}

/// A number (integer or not).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl Number {
    /// As `f32` (sampling settings).
    pub fn f32(self) -> f32 {
        self.0 as f32
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            expecting!("a number");
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// An integer (a number without a fraction, e.g. `5` or `5.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            expecting!("an integer");
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                if v.fract() == 0.0 && v.abs() < 9e15 {
                    Ok(Int(v as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A count: an integer from 0 to `u32::MAX` (`max_tokens`, `n`, `top_logprobs`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            expecting!("a non-negative integer");
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of `T` (a JSON array).
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            expecting!("a list");
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(List(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// The items of an optional [`List`] (none: empty).
pub fn items<T>(list: Option<List<T>>) -> Vec<T> {
    list.map(|l| l.0).unwrap_or_default()
}

/// Stop strings: a string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stop(pub Vec<String>);

impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Stop;
            expecting!("a string or a list of strings");
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Stop, E> {
                Ok(Stop(vec![v.to_string()]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Stop, E> {
                Ok(Stop(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Stop, A::Error> {
                let mut out = Vec::new();
                while let Some(Text(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(Stop(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Checks `lo <= v <= hi` (and finite) for the field `name`.
pub fn range(name: &str, v: f32, lo: f32, hi: f32) -> Result<(), ServerError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(ServerError::invalid(
            name,
            format!("`{name}` must be between {lo} and {hi}, not {v}"),
        ))
    }
}

/// A seed for the field `name`: 0..=u32::MAX, or negative for a random one (`None`).
pub fn seed(name: &str, seed: Option<Int>) -> Result<Option<u32>, ServerError> {
    match seed {
        None => Ok(None),
        Some(Int(s)) if s < 0 => Ok(None),
        Some(Int(s)) => u32::try_from(s).map(Some).map_err(|_| {
            ServerError::invalid(
                name,
                format!(
                    "`{name}` must be between 0 and {} (or negative for a random seed), not {s}",
                    u32::MAX
                ),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Probe {
        flag: Option<Flag>,
        text: Option<Text>,
        count: Option<Count>,
        int: Option<Int>,
        stop: Option<Stop>,
        list: Option<List<Text>>,
        #[serde(flatten)]
        unknown: Unknown,
    }

    fn err(v: Value) -> (Option<String>, String) {
        let e = from_json::<Probe>(v).unwrap_err();
        (e.param().map(str::to_string), e.to_string())
    }

    #[test]
    fn type_errors_name_the_field_and_what_it_must_be() {
        assert_eq!(
            err(json!({"flag": "yes"})),
            (
                Some("flag".into()),
                "`flag` must be true or false, not a string".into()
            )
        );
        assert_eq!(
            err(json!({"text": 5})).1,
            "`text` must be a string, not a number"
        );
        assert_eq!(
            err(json!({"count": -3})).1,
            "`count` must be a non-negative integer, not -3"
        );
        assert_eq!(
            err(json!({"int": 1.5})).1,
            "`int` must be an integer, not 1.5"
        );
        assert_eq!(
            err(json!({"stop": 3})).1,
            "`stop` must be a string or a list of strings, not a number"
        );
        assert_eq!(
            err(json!({"stop": ["a", 3]})),
            (
                Some("stop[1]".into()),
                "`stop[1]` must be a string, not a number".into()
            )
        );
        assert_eq!(
            err(json!({"list": {"a": 1}})).1,
            "`list` must be a list, not an object"
        );
    }

    #[test]
    fn values_and_unknown_fields_are_read() {
        let p: Probe = from_json(json!({
            "flag": true, "text": "t", "count": 3, "int": 4.0, "stop": "x", "list": ["a"],
            "extra": {"deep": 1}, "null_is_absent": null
        }))
        .unwrap();
        assert_eq!(p.flag, Some(Flag(true)));
        assert_eq!(p.int, Some(Int(4)));
        assert_eq!(p.stop, Some(Stop(vec!["x".into()])));
        assert_eq!(items(p.list), vec![Text("a".into())]);
        assert_eq!(
            p.unknown.names().collect::<Vec<_>>(),
            ["extra", "null_is_absent"]
        );
        assert!(p
            .unknown
            .check(UnknownFields::Ignore, "by the test")
            .is_ok());
        let e = p
            .unknown
            .check(UnknownFields::Refuse, "by the test")
            .unwrap_err();
        assert_eq!(e.param(), Some("extra"));
        assert!(p.text.is_some() && p.count == Some(Count(3)));
    }
}
