//! The fixed SentencePiece-style ("llama") vocabulary written into every
//! test model.
//!
//! Layout:
//!
//! | ids | tokens | type |
//! |-----|--------|------|
//! | 0 | `<unk>` | UNKNOWN |
//! | 1, 2 | `<s>`, `</s>` | CONTROL |
//! | 3, 4 | `<|im_start|>`, `<|im_end|>` | CONTROL |
//! | 5 ..= 260 | `<0x00>` ..= `<0xFF>` | BYTE |
//! | 261 | `▁` (U+2581, the SentencePiece space) | NORMAL |
//! | 262 ..  | printable ASCII `!` ..= `~` | NORMAL |
//! | ..      | common English words and sub-words, with and without `▁`, plus every prefix needed to reach them by SPM bigram merges | NORMAL |
//! | tail    | `<unused_N>` padding up to a multiple of 64 | UNUSED |
//!
//! Scores grow with the piece length so llama.cpp's SPM merge loop prefers
//! longer pieces; characters outside the vocabulary (anything non-ASCII such
//! as `é` or `€`) fall back to one `<0xXX>` token per UTF-8 byte.

use std::collections::HashMap;

/// SentencePiece word-boundary marker (U+2581), which stands for a space.
pub const SPM_SPACE: &str = "\u{2581}";

/// Id of `<unk>`.
pub const UNK_ID: u32 = 0;
/// Id of `<s>` (beginning of sequence).
pub const BOS_ID: u32 = 1;
/// Id of `</s>` (end of sequence).
pub const EOS_ID: u32 = 2;
/// Id of `<|im_start|>`.
pub const IM_START_ID: u32 = 3;
/// Id of `<|im_end|>` (also the end-of-turn token).
pub const IM_END_ID: u32 = 4;
/// Id of the first byte token `<0x00>`; byte `b` is `FIRST_BYTE_ID + b`.
pub const FIRST_BYTE_ID: u32 = 5;
/// Id of the `▁` token.
pub const SPACE_ID: u32 = FIRST_BYTE_ID + 256;

/// The vocabulary size is padded with `<unused_N>` tokens to a multiple of this.
pub const VOCAB_PAD_MULTIPLE: usize = 64;

/// Token types as stored in `tokenizer.ggml.token_type`
/// (gguf-py `TokenType` / llama.cpp `llama_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum TokenType {
    /// Ordinary text piece.
    Normal = 1,
    /// The `<unk>` token.
    Unknown = 2,
    /// Control token (BOS, EOS, ChatML markers): not rendered as text by default.
    Control = 3,
    /// User-defined token, matched verbatim in text.
    UserDefined = 4,
    /// Unused padding token.
    Unused = 5,
    /// Byte-fallback token `<0xXX>`.
    Byte = 6,
}

/// A token list with SPM scores and token types.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    /// Token pieces, indexed by token id.
    pub tokens: Vec<String>,
    /// SentencePiece scores (higher merges first), indexed by token id.
    pub scores: Vec<f32>,
    /// Token types, indexed by token id.
    pub types: Vec<TokenType>,
    /// For a tokenizer read from a file ([`crate::TokenizerFile`]): its `tokenizer.ggml.*`
    /// metadata, written as it is (the built-in vocabulary writes its own keys).
    pub tokenizer_metadata: Option<Vec<(String, crate::GgufValue)>>,
}

impl Vocab {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// `true` if there are no tokens (never the case for [`vocabulary`]).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Id of the token whose piece is exactly `piece` (use `▁` for spaces).
    pub fn id_of(&self, piece: &str) -> Option<u32> {
        self.tokens
            .iter()
            .position(|t| t == piece)
            .map(|i| i as u32)
    }

    /// Id of the byte-fallback token for byte `b`.
    pub fn byte_id(b: u8) -> u32 {
        FIRST_BYTE_ID + u32::from(b)
    }

    /// The text a token stands for when rendered (bytes of a byte token,
    /// `▁` replaced by a space); `None` for control/unknown/unused tokens.
    pub fn piece_bytes(&self, id: u32) -> Option<Vec<u8>> {
        let i = id as usize;
        match self.types.get(i)? {
            TokenType::Byte => Some(vec![(id - FIRST_BYTE_ID) as u8]),
            TokenType::Normal | TokenType::UserDefined => {
                Some(self.tokens[i].replace(SPM_SPACE, " ").into_bytes())
            }
            _ => None,
        }
    }

    /// `true` for tokens whose rows of the output matrix are written as zeros
    /// so that greedy decoding never picks them (and sampling rarely does):
    /// control, unknown and unused tokens, and the byte tokens of ASCII
    /// control characters other than `\t`, `\n`, `\r` (`<0x00>`..`<0x1F>`,
    /// `<0x7F>`), so generated text never contains NUL and friends. Byte
    /// tokens `<0x80>`..`<0xF4>` stay live: generation can emit partial UTF-8.
    /// (The bytes that never occur in UTF-8, `<0xC0>`, `<0xC1>` and
    /// `<0xF5>`..`<0xFF>`, are unused tokens: llama.cpp's grammar would take
    /// them as lead bytes of characters that are not UTF-8.)
    pub fn is_suppressed(&self, id: u32) -> bool {
        match self.types.get(id as usize) {
            Some(TokenType::Control | TokenType::Unknown | TokenType::Unused) => true,
            Some(TokenType::Byte) => {
                // `<0xXX>`: the byte it stands for.
                let piece = &self.tokens[id as usize];
                let b = piece
                    .strip_prefix("<0x")
                    .and_then(|h| h.strip_suffix('>'))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .unwrap_or(id.wrapping_sub(FIRST_BYTE_ID));
                (b < 0x20 && !matches!(b, 0x09 | 0x0A | 0x0D)) || b == 0x7F
            }
            _ => false,
        }
    }
}

/// Common English words and sub-words. Each is added with and without the
/// `▁` prefix, together with all the prefixes SPM needs to merge up to it.
pub(crate) const WORDS: &[&str] = &[
    "the",
    "be",
    "to",
    "of",
    "and",
    "a",
    "in",
    "that",
    "have",
    "I",
    "it",
    "for",
    "not",
    "on",
    "with",
    "he",
    "as",
    "you",
    "do",
    "at",
    "this",
    "but",
    "his",
    "by",
    "from",
    "they",
    "we",
    "say",
    "her",
    "she",
    "or",
    "an",
    "will",
    "my",
    "one",
    "all",
    "would",
    "there",
    "their",
    "what",
    "so",
    "up",
    "out",
    "if",
    "about",
    "who",
    "get",
    "which",
    "go",
    "me",
    "when",
    "make",
    "can",
    "like",
    "time",
    "no",
    "just",
    "him",
    "know",
    "take",
    "people",
    "into",
    "year",
    "your",
    "good",
    "some",
    "could",
    "them",
    "see",
    "other",
    "than",
    "then",
    "now",
    "look",
    "only",
    "come",
    "its",
    "over",
    "think",
    "also",
    "back",
    "after",
    "use",
    "two",
    "how",
    "our",
    "work",
    "first",
    "well",
    "way",
    "even",
    "new",
    "want",
    "because",
    "any",
    "these",
    "give",
    "day",
    "most",
    "us",
    "is",
    "are",
    "was",
    "were",
    "been",
    "has",
    "had",
    "did",
    "said",
    "made",
    "very",
    "more",
    "many",
    "much",
    "here",
    "where",
    "why",
    "yes",
    "hello",
    "world",
    "Hello",
    "World",
    "The",
    "This",
    "It",
    "You",
    "We",
    "What",
    "How",
    "user",
    "assistant",
    "system",
    "model",
    "test",
    "token",
    "text",
    "answer",
    "question",
    "please",
    "thank",
    "thanks",
    "help",
    "write",
    "read",
    "story",
    "word",
    "words",
    "number",
    "name",
    "water",
    "long",
    "little",
    "great",
    "small",
    "large",
    "big",
    "old",
    "young",
    "right",
    "left",
    "high",
    "low",
    "same",
    "different",
    "next",
    "last",
    "early",
    "late",
    "important",
    "public",
    "able",
    "house",
    "home",
    "school",
    "family",
    "friend",
    "city",
    "country",
    "state",
    "world",
    "life",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "point",
    "fact",
    "group",
    "problem",
    "program",
    "code",
    "data",
    "file",
    "server",
    "request",
    "response",
    "stream",
    "line",
    "list",
    "value",
    "error",
    "result",
    "function",
    "return",
    "true",
    "false",
    "null",
    "string",
    "number",
    "object",
    "array",
    "json",
    "http",
    "api",
    "chat",
    "message",
    "content",
    "role",
    "tool",
    "call",
    "red",
    "green",
    "blue",
    "black",
    "white",
    "cat",
    "dog",
    "bird",
    "fish",
    "tree",
    "sun",
    "moon",
    "star",
    "sky",
    "sea",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "zero",
    "count",
    "from",
    "again",
    "once",
    "upon",
    "there",
    "lived",
    "happy",
    "quick",
    "brown",
    "fox",
    "jumps",
    "lazy",
    "over",
    "ing",
    "ed",
    "er",
    "es",
    "ly",
    "tion",
    "ment",
    "ness",
    "able",
    "ful",
    "less",
    "est",
    "al",
    "ic",
    "ous",
    "ive",
    "re",
    "un",
    "in",
    "de",
    "pre",
    "st",
    "th",
    "ch",
    "sh",
    "wh",
    "qu",
    "ou",
    "ea",
    "ai",
    "oo",
    "ee",
    "an",
    "en",
    "on",
    "or",
    "ar",
    "ir",
    "ur",
    "at",
    "it",
    "ot",
    "ut",
    "et",
    "ll",
    "ss",
    "nd",
    "ng",
    "nt",
    "rt",
    "ck",
    "ld",
    "rd",
    "rs",
    "ts",
    "ks",
    "'s",
    "'t",
    "n't",
    "'re",
    "'ll",
    "'ve",
    "...",
    "!!",
    "??",
    "::",
    "->",
    "=>",
    "==",
    "!=",
    "<=",
    ">=",
    "//",
    "/*",
    "*/",
    "{}",
    "[]",
    "()",
    "\"\"",
    "''",
    "10",
    "20",
    "100",
    "2024",
    "2025",
    "000",
];

#[derive(Default)]
struct Builder {
    tokens: Vec<String>,
    scores: Vec<f32>,
    types: Vec<TokenType>,
    index: HashMap<String, u32>,
}

impl Builder {
    fn add(&mut self, piece: String, score: f32, ty: TokenType) {
        if self.index.contains_key(&piece) {
            return;
        }
        self.index.insert(piece.clone(), self.tokens.len() as u32);
        self.tokens.push(piece);
        self.scores.push(score);
        self.types.push(ty);
    }
}

/// Builds the fixed vocabulary (see the module docs for its layout).
///
/// The result is identical on every call; its length is a multiple of
/// [`VOCAB_PAD_MULTIPLE`].
pub fn vocabulary() -> Vocab {
    let mut b = Builder::default();

    b.add("<unk>".into(), 0.0, TokenType::Unknown);
    b.add("<s>".into(), 0.0, TokenType::Control);
    b.add("</s>".into(), 0.0, TokenType::Control);
    b.add("<|im_start|>".into(), 0.0, TokenType::Control);
    b.add("<|im_end|>".into(), 0.0, TokenType::Control);
    for byte in 0..=255u8 {
        let never_in_utf8 = matches!(byte, 0xC0 | 0xC1 | 0xF5..=0xFF);
        let ty = if never_in_utf8 {
            TokenType::Unused
        } else {
            TokenType::Byte
        };
        b.add(format!("<0x{byte:02X}>"), 0.0, ty);
    }
    // Score of a normal piece: its length in characters, so that longer
    // merges win; single characters score 1.
    b.add(SPM_SPACE.into(), 1.0, TokenType::Normal);
    for c in 0x21u8..=0x7e {
        b.add((c as char).to_string(), 1.0, TokenType::Normal);
    }
    for w in WORDS {
        for prefixed in [true, false] {
            let full: Vec<char> = if prefixed {
                SPM_SPACE.chars().chain(w.chars()).collect()
            } else {
                w.chars().collect()
            };
            for end in 2..=full.len() {
                let piece: String = full[..end].iter().collect();
                b.add(piece, end as f32, TokenType::Normal);
            }
        }
    }
    let mut n = 0;
    while b.tokens.len() % VOCAB_PAD_MULTIPLE != 0 {
        b.add(format!("<unused_{n}>"), 0.0, TokenType::Unused);
        n += 1;
    }
    Vocab {
        tokens: b.tokens,
        scores: b.scores,
        types: b.types,
        tokenizer_metadata: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_ids() {
        let v = vocabulary();
        assert_eq!(v.len() % VOCAB_PAD_MULTIPLE, 0);
        assert_eq!(v.tokens.len(), v.scores.len());
        assert_eq!(v.tokens.len(), v.types.len());
        assert_eq!(v.tokens[UNK_ID as usize], "<unk>");
        assert_eq!(v.tokens[BOS_ID as usize], "<s>");
        assert_eq!(v.tokens[EOS_ID as usize], "</s>");
        assert_eq!(v.tokens[IM_START_ID as usize], "<|im_start|>");
        assert_eq!(v.tokens[IM_END_ID as usize], "<|im_end|>");
        assert_eq!(v.tokens[Vocab::byte_id(0x0A) as usize], "<0x0A>");
        assert_eq!(v.types[Vocab::byte_id(0xF4) as usize], TokenType::Byte);
        assert_eq!(v.types[Vocab::byte_id(0xFF) as usize], TokenType::Unused);
        assert_eq!(v.tokens[SPACE_ID as usize], SPM_SPACE);
        assert_eq!(v.id_of("\u{2581}hello"), v.id_of("\u{2581}hello"));
        assert!(v.id_of("\u{2581}hello").is_some());
        assert!(v.id_of("hello").is_some());
        assert!(v.id_of("\u{2581}assistant").is_some());
        // Non-ASCII never appears in normal tokens: it must use byte fallback.
        for (t, ty) in v.tokens.iter().zip(&v.types) {
            if *ty == TokenType::Normal {
                assert!(t.replace(SPM_SPACE, "").is_ascii(), "{t}");
            }
        }
        // Unique pieces.
        let set: std::collections::HashSet<_> = v.tokens.iter().collect();
        assert_eq!(set.len(), v.len());
        assert_eq!(vocabulary(), v);
    }

    #[test]
    fn every_multi_char_piece_is_reachable_by_bigram_merge() {
        let v = vocabulary();
        for (t, ty) in v.tokens.iter().zip(&v.types) {
            if *ty != TokenType::Normal {
                continue;
            }
            let chars: Vec<char> = t.chars().collect();
            if chars.len() < 2 {
                continue;
            }
            let prefix: String = chars[..chars.len() - 1].iter().collect();
            assert!(v.id_of(&prefix).is_some(), "prefix of {t:?} missing");
        }
    }
}
