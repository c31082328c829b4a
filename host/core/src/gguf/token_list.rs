//! Reading the tokenizer's token list (`tokenizer.ggml.tokens`) with the check llama.cpp
//! asserts on: no token text appears twice.
//!
//! llama.cpp maps each token's text to its id and then `GGML_ASSERT`s that the map is as long
//! as the list (`llama-vocab.cpp`), so a duplicate aborts the whole process while loading.
//! The list is usually longer than [`MAX_ARRAY_VALUES_KEPT`], so its values are not kept:
//! each text is hashed (128 bits) as it is read instead.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;

use super::reader::Reader;
use super::value::{GgufArray, GgufValue, GgufValueType, MAX_ARRAY_VALUES_KEPT};
use crate::Result;

/// The metadata key of the token list.
pub(super) const TOKENS_KEY: &str = "tokenizer.ggml.tokens";

/// Reads the `len` strings of the token list (its element type and length already read).
pub(super) fn read_token_list<R: Read>(r: &mut Reader<'_, R>, len: u64) -> Result<GgufArray> {
    let keep = len <= MAX_ARRAY_VALUES_KEPT;
    let mut values = Vec::new();
    let mut seen: HashMap<u128, u64> = HashMap::new();
    for i in 0..len {
        let text = r.string_bytes(&format_args!("token {i} of metadata key '{TOKENS_KEY}'"))?;
        // llama.cpp gives empty tokens the text `[EMPTY_<id>]` before mapping them.
        let placeholder;
        let mapped: &[u8] = if text.is_empty() {
            placeholder = format!("[EMPTY_{i}]");
            placeholder.as_bytes()
        } else {
            &text
        };
        if let Some(first) = seen.insert(digest(mapped), i) {
            let shown: String = String::from_utf8_lossy(mapped).chars().take(40).collect();
            return Err(r.invalid(format!(
                "metadata key '{TOKENS_KEY}' lists the token {shown:?} twice (ids {first} and {i}); \
                 llama.cpp aborts on such a vocabulary, so the file is corrupt or was converted \
                 incorrectly"
            )));
        }
        if keep {
            values.push(GgufValue::String(match String::from_utf8(text) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }));
        }
    }
    Ok(GgufArray {
        elem_type: GgufValueType::String,
        len,
        values: keep.then_some(values),
    })
}

/// 128 bits of two SipHash passes over `bytes` (a collision among a vocabulary's texts is
/// astronomically unlikely).
fn digest(bytes: &[u8]) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        bytes.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}
