//! The fixed WordPiece vocabulary (llama.cpp's `bert` tokenizer, `LLAMA_VOCAB_TYPE_WPM`) of
//! the test kit's embedding model ([`crate::bert`]).
//!
//! llama.cpp reads BERT vocabularies as the converter writes them: a piece that starts a
//! word carries `▁` (U+2581) in front, a piece that continues one (`##ing` in the Hugging Face
//! file) is plain. It lower-cases the text and strips accents, splits it at whitespace and
//! punctuation, and matches each word greedily longest-first; a word it cannot cover
//! completely becomes `[UNK]`. So this vocabulary has, after the special tokens at their BERT
//! ids, every printable ASCII character that survives lower-casing both as a word start and
//! as a continuation, the test kit's common English words as word starts, and a few suffixes.
//!
//! | ids | tokens | type |
//! |-----|--------|------|
//! | 0 | `[PAD]` | CONTROL |
//! | 1 ..= 99 | `[unused0]` ..= `[unused98]` | UNUSED |
//! | 100 | `[UNK]` | UNKNOWN |
//! | 101, 102, 103 | `[CLS]`, `[SEP]`, `[MASK]` | CONTROL |
//! | 104 .. | `▁c` and `c` for printable ASCII, `▁word` for the common words, suffixes | NORMAL |

use std::collections::HashSet;

use crate::gguf::GgufValue;
use crate::vocab::{TokenType, Vocab, SPM_SPACE, WORDS};

/// Id of `[PAD]`.
pub const PAD_ID: u32 = 0;
/// Id of `[UNK]`.
pub const WPM_UNK_ID: u32 = 100;
/// Id of `[CLS]`, which llama.cpp puts in front of every input (its BOS).
pub const CLS_ID: u32 = 101;
/// Id of `[SEP]`, which llama.cpp puts at the end of every input.
pub const SEP_ID: u32 = 102;
/// Id of `[MASK]`.
pub const MASK_ID: u32 = 103;

/// Word continuations (`##s`, `##ing`...) besides the single characters.
const SUFFIXES: &[&str] = &["s", "es", "ed", "ing", "er", "ly", "tion", "ness"];

/// The WordPiece vocabulary, with its `tokenizer.*` metadata (model `bert`, the special ids,
/// two token types) in [`Vocab::tokenizer_metadata`].
pub fn wordpiece_vocabulary() -> Vocab {
    let mut tokens: Vec<(String, TokenType)> = Vec::new();
    tokens.push(("[PAD]".into(), TokenType::Control));
    for i in 0..99 {
        tokens.push((format!("[unused{i}]"), TokenType::Unused));
    }
    tokens.push(("[UNK]".into(), TokenType::Unknown));
    tokens.push(("[CLS]".into(), TokenType::Control));
    tokens.push(("[SEP]".into(), TokenType::Control));
    tokens.push(("[MASK]".into(), TokenType::Control));
    let mut seen: HashSet<String> = tokens.iter().map(|(t, _)| t.clone()).collect();
    let mut add = |piece: String| {
        if seen.insert(piece.clone()) {
            tokens.push((piece, TokenType::Normal));
        }
    };
    for c in (0x21u8..=0x7e)
        .map(char::from)
        .filter(|c| !c.is_ascii_uppercase())
    {
        add(format!("{SPM_SPACE}{c}"));
        add(c.to_string());
    }
    for w in WORDS {
        add(format!("{SPM_SPACE}{}", w.to_lowercase()));
    }
    for s in SUFFIXES {
        add((*s).to_string());
    }
    let types: Vec<TokenType> = tokens.iter().map(|(_, t)| *t).collect();
    let pieces: Vec<String> = tokens.into_iter().map(|(p, _)| p).collect();
    let n = pieces.len();
    let metadata = vec![
        (
            "tokenizer.ggml.model".into(),
            GgufValue::String("bert".into()),
        ),
        (
            "tokenizer.ggml.tokens".into(),
            GgufValue::StringArray(pieces.clone()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            GgufValue::I32Array(types.iter().map(|t| *t as i32).collect()),
        ),
        ("tokenizer.ggml.token_type_count".into(), GgufValue::U32(2)),
        ("tokenizer.ggml.bos_token_id".into(), GgufValue::U32(CLS_ID)),
        ("tokenizer.ggml.cls_token_id".into(), GgufValue::U32(CLS_ID)),
        (
            "tokenizer.ggml.seperator_token_id".into(),
            GgufValue::U32(SEP_ID),
        ),
        (
            "tokenizer.ggml.unknown_token_id".into(),
            GgufValue::U32(WPM_UNK_ID),
        ),
        (
            "tokenizer.ggml.padding_token_id".into(),
            GgufValue::U32(PAD_ID),
        ),
        (
            "tokenizer.ggml.mask_token_id".into(),
            GgufValue::U32(MASK_ID),
        ),
    ];
    Vocab {
        tokens: pieces,
        scores: vec![0.0; n],
        types,
        tokenizer_metadata: Some(metadata),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_tokens_sit_at_their_bert_ids() {
        let v = wordpiece_vocabulary();
        for (id, piece) in [
            (PAD_ID, "[PAD]"),
            (WPM_UNK_ID, "[UNK]"),
            (CLS_ID, "[CLS]"),
            (SEP_ID, "[SEP]"),
            (MASK_ID, "[MASK]"),
        ] {
            assert_eq!(v.tokens[id as usize], piece);
        }
        assert!(v.id_of("\u{2581}the").is_some() && v.id_of("ing").is_some());
        assert!(v.id_of("\u{2581}A").is_none(), "text is lower-cased first");
        let unique: HashSet<&String> = v.tokens.iter().collect();
        assert_eq!(unique.len(), v.len());
    }
}
