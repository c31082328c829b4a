//! [`TextOrList`]: a field that is either a string or a list of objects, as the Anthropic
//! Messages API sends `system`, `content` and a tool result's `content`, and the OpenAI
//! Responses API sends `input` and a message's `content`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A string, or a list of `T` (errors inside the list name the item: `content[2].text`).
#[derive(Debug, Clone, PartialEq)]
pub enum TextOrList<T> {
    /// The string form.
    Text(String),
    /// The list form.
    List(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TextOrList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = TextOrList<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextOrList::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(TextOrList::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(TextOrList::List(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{from_json, Text};
    use serde_json::json;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Item {
        text: Option<Text>,
    }

    #[derive(Debug, Deserialize)]
    struct Probe {
        content: TextOrList<Item>,
    }

    #[test]
    fn a_string_or_a_list_and_errors_name_the_item() {
        let p: Probe = from_json(json!({"content": "hi"})).unwrap();
        assert_eq!(p.content, TextOrList::Text("hi".into()));
        let p: Probe = from_json(json!({"content": [{"text": "a"}]})).unwrap();
        assert!(matches!(p.content, TextOrList::List(ref l) if l.len() == 1));
        let e = from_json::<Probe>(json!({"content": 5})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`content` must be a string or a list, not a number"
        );
        let e = from_json::<Probe>(json!({"content": [{"text": 1}]})).unwrap_err();
        assert_eq!(e.param(), Some("content[0].text"));
    }
}
