//! Tokenizing prompts with request content in them (see [`shimmy_core::prompt`]): the texts
//! of the vocabulary's control tokens ([`crate::control_texts`], found once per model) decide
//! which content must be tokenized on its own as plain text.

use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::GenerateRequest;
use shimmy_core::{Error, Result};

use crate::model::LlamaLoaded;

impl LlamaLoaded {
    /// Whether `text` holds the text of a control token.
    pub(crate) fn holds_control_text(&self, text: &str) -> bool {
        self.control_texts.found_in(text)
    }

    /// The prompt of `request` as tokens: its prefix tokens (checked against the vocabulary),
    /// then its text with control tokens parsed (when the request asks) only outside its
    /// content spans; BOS only when there is no prefix.
    pub(crate) fn prompt_tokens(&self, request: &GenerateRequest) -> Result<Vec<LlamaToken>> {
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
            |text, bos, special| self.tokens(text, bos, special),
        )?);
        Ok(tokens)
    }
}
