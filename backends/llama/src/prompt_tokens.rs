//! Tokenizing prompts with request content in them (see [`shimmy_core::prompt`]): the texts
//! of the vocabulary's control tokens ([`crate::control_texts`], found once per model) decide
//! which content must be tokenized on its own as plain text.

use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::GenerateRequest;
use shimmy_core::Result;

use crate::model::LlamaLoaded;

impl LlamaLoaded {
    /// Whether `text` holds the text of a control token.
    pub(crate) fn holds_control_text(&self, text: &str) -> bool {
        self.control_texts.found_in(text)
    }

    /// The prompt of `request` as tokens: control tokens parsed (when the request asks) only
    /// outside its content spans.
    pub(crate) fn prompt_tokens(&self, request: &GenerateRequest) -> Result<Vec<LlamaToken>> {
        shimmy_core::prompt::tokenize_in_pieces(
            &request.prompt,
            &request.content_spans,
            request.add_bos,
            request.parse_special,
            |text| Ok(self.holds_control_text(text)),
            |text, bos, special| self.tokens(text, bos, special),
        )
    }
}
