//! Tokenizing prompts with request content in them (see [`shimmy_core::prompt`]): the texts
//! of the vocabulary's control tokens ([`crate::control_texts`], found once per model) decide
//! which content must be tokenized on its own as plain text.
//!
//! Text with special-token parsing on is tokenized in pieces cut after special tokens
//! ([`ControlTexts::cuts`]): the same tokens as one llama.cpp call, in time linear in the
//! number of special tokens (one call is quadratic), and a request whose client went away
//! stops between two pieces.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::GenerateRequest;
use shimmy_core::{Error, Result};

use crate::control_texts::{ControlTexts, SPECIALS_PER_PIECE};
use crate::model::LlamaLoaded;

/// Texts shorter than this are tokenized in one call whatever they hold.
const SHORT_TEXT: usize = 4096;

/// The error of a preparation stopped because its client went away (nobody reads it).
fn gone() -> Error {
    Error::Inference("the client went away while its prompt was being tokenized".into())
}

/// Tokenizes `text` like `model.vocab().tokenize(text, add_bos, parse_special)`, with special
/// tokens parsed in pieces (see the module docs). `cancelled` is asked between pieces; once it
/// says yes, the tokenization stops with an error.
pub(crate) fn tokenize(
    model: &LlamaModel,
    specials: &ControlTexts,
    text: &str,
    add_bos: bool,
    parse_special: bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<LlamaToken>> {
    if text.is_empty() && !add_bos {
        return Ok(Vec::new());
    }
    let vocab = model.vocab();
    // `add_special` also appends EOS (or SEP, BERT-style) where the vocabulary asks for it:
    // that goes after the last piece only, so such prompts are tokenized whole.
    let ends_with_special = add_bos && (vocab.should_add_eos() || vocab.should_add_sep());
    let cuts = if parse_special && text.len() >= SHORT_TEXT && !ends_with_special {
        specials.cuts(text, SPECIALS_PER_PIECE)
    } else {
        Vec::new()
    };
    if cuts.is_empty() {
        return Ok(vocab.tokenize(text.as_bytes(), add_bos, parse_special));
    }
    let mut tokens = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([text.len()]) {
        if cancelled() {
            return Err(gone());
        }
        let piece = &text.as_bytes()[start..end];
        tokens.extend(vocab.tokenize(piece, add_bos && start == 0, true));
        start = end;
    }
    Ok(tokens)
}

impl LlamaLoaded {
    /// Whether `text` holds the text of a control token.
    pub(crate) fn holds_control_text(&self, text: &str) -> bool {
        self.control_texts.found_in(text)
    }

    /// [`tokenize`] with this model; `cancelled` stops it between pieces.
    pub(crate) fn tokens_until(
        &self,
        text: &str,
        add_bos: bool,
        parse_special: bool,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<LlamaToken>> {
        tokenize(
            &self.model,
            &self.control_texts,
            text,
            add_bos,
            parse_special,
            cancelled,
        )
    }

    /// The prompt of `request` as tokens: its prefix tokens (checked against the vocabulary),
    /// then its text with control tokens parsed (when the request asks) only outside its
    /// content spans; BOS only when there is no prefix.
    pub(crate) fn prompt_tokens(&self, request: &GenerateRequest) -> Result<Vec<LlamaToken>> {
        self.prompt_tokens_until(request, &|| false)
    }

    /// [`Self::prompt_tokens`], stopped with an error once `cancelled` says so (it is asked
    /// between pieces of the prompt).
    pub(crate) fn prompt_tokens_until(
        &self,
        request: &GenerateRequest,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<LlamaToken>> {
        let n_vocab = self.info.n_vocab;
        let mut tokens = Vec::with_capacity(request.prefix_tokens.len());
        for &id in &request.prefix_tokens {
            if id >= n_vocab {
                return Err(Error::InvalidOption(format!(
                    "context token id {id} is outside the vocabulary (0..{n_vocab})"
                )));
            }
            tokens.push(LlamaToken(id as i32));
        }
        if request.prompt.is_empty() && !tokens.is_empty() {
            return Ok(tokens);
        }
        tokens.extend(shimmy_core::prompt::tokenize_in_pieces(
            &request.prompt,
            &request.content_spans,
            request.add_bos && request.prefix_tokens.is_empty(),
            request.parse_special,
            |text| Ok(self.holds_control_text(text)),
            |text, bos, special| self.tokens_until(text, bos, special, cancelled),
        )?);
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, OnceLock};

    use super::*;
    use crate::LlamaEngine;
    use shimmy_core::backend::ModelOptions;
    use shimmy_testkit::{cached_model, ModelSpec};

    fn engine() -> &'static LlamaEngine {
        static ENGINE: OnceLock<LlamaEngine> = OnceLock::new();
        ENGINE.get_or_init(|| LlamaEngine::new(None).expect("llama.cpp backend"))
    }

    /// A long ChatML conversation with special tokens before text, before newlines, back to
    /// back, and special-token text inside words.
    fn chat(n: usize) -> String {
        let mut s = String::from("<|im_start|>system\nBe brief.<|im_end|>\n");
        for i in 0..n {
            s.push_str(&format!(
                "<|im_start|>user\nmessage {i} <|im_end|>x  é<|im_start|><|im_end|>\n<|im_start|>assistant\n  ok{i}<|im_end|>\n"
            ));
        }
        s
    }

    fn same_as_one_call(model: &LlamaModel, text: &str) {
        let specials = ControlTexts::of(model);
        assert!(
            !specials.cuts(text, SPECIALS_PER_PIECE).is_empty(),
            "the text is not cut at all"
        );
        for bos in [true, false] {
            let whole = model.vocab().tokenize(text.as_bytes(), bos, true);
            let pieces = tokenize(model, &specials, text, bos, true, &|| false).unwrap();
            assert_eq!(pieces, whole, "bos {bos}");
        }
        // (Without BOS: a vocabulary that appends EOS or SEP tokenizes `add_bos` text whole.)
        let stopped = tokenize(model, &specials, text, false, true, &|| true);
        assert!(stopped.is_err());
    }

    #[test]
    fn pieces_tokenize_like_one_call() {
        let file = cached_model(&ModelSpec::dense()).expect("test model");
        let options = ModelOptions {
            ctx_size: Some(256),
            threads: Some(1),
            ..ModelOptions::default()
        };
        let loaded: Arc<LlamaLoaded> = engine().load_llama(&file.path, &options).unwrap();
        same_as_one_call(&loaded.model, &chat(300));
    }

    /// The same over real tokenizers: `SHIMMY_VOCAB_DIR` pointing at llama.cpp's
    /// `models/ggml-vocab-*.gguf` (vocabulary-only files) checks each of them.
    #[test]
    fn pieces_tokenize_like_one_call_on_real_vocabularies() {
        let Some(dir) = std::env::var_os("SHIMMY_VOCAB_DIR") else {
            return;
        };
        let file = cached_model(&ModelSpec::dense()).expect("test model");
        let loaded = engine()
            .load_llama(&file.path, &ModelOptions::default())
            .unwrap();
        let backend = &loaded.backend;
        let mut checked = 0;
        for entry in std::fs::read_dir(Path::new(&dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "gguf") {
                continue;
            }
            let params =
                llama_cpp_2::model::params::LlamaModelParams::default().with_vocab_only(true);
            let Ok(model) = LlamaModel::load_from_file(backend, &path, &params) else {
                eprintln!("skipped {} (llama.cpp cannot load it)", path.display());
                continue;
            };
            let specials = ControlTexts::of(&model);
            // This vocabulary's own special tokens, in the shape of a chat.
            let texts: Vec<String> = model
                .vocab()
                .tokens()
                .filter(|&t| model.vocab().is_control(t))
                .filter_map(|t| {
                    model
                        .vocab()
                        .text(t)
                        .map(|c| c.to_string_lossy().into_owned())
                })
                .filter(|t| !t.is_empty())
                .take(8)
                .collect();
            if texts.is_empty() {
                continue;
            }
            let mut text = String::new();
            for i in 0..400 {
                let t = &texts[i % texts.len()];
                text.push_str(&format!("{t}user {i}\n{t}  é{t}{t}\n x{i}"));
            }
            if specials.cuts(&text, SPECIALS_PER_PIECE).is_empty() {
                continue;
            }
            same_as_one_call(&model, &text);
            eprintln!("{}: same tokens", path.display());
            checked += 1;
        }
        assert!(checked > 0, "no vocabulary in {dir:?} was checked");
    }
}
