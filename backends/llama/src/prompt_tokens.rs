//! Tokenizing prompts with request content in them (see [`shimmy_core::prompt`]): the texts
//! of the vocabulary's control tokens, found once per model, decide which content must be
//! tokenized on its own as plain text.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token_type::LlamaTokenAttr;
use shimmy_core::backend::GenerateRequest;
use shimmy_core::Result;

use crate::model::LlamaLoaded;

/// The texts of the tokens llama.cpp parses only with special-token parsing on (control and
/// unknown tokens), longest first.
pub(crate) fn control_texts(model: &LlamaModel) -> Vec<String> {
    let vocab = model.vocab();
    let mut texts: Vec<String> = vocab
        .tokens()
        .filter(|&t| {
            let attr = vocab.attr(t);
            attr.contains(LlamaTokenAttr::Control) || attr.contains(LlamaTokenAttr::Unknown)
        })
        .filter_map(|t| vocab.text(t).map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .collect();
    texts.sort_by_key(|s| std::cmp::Reverse(s.len()));
    texts.dedup();
    texts
}

impl LlamaLoaded {
    /// Whether `text` holds the text of a control token.
    pub(crate) fn holds_control_text(&self, text: &str) -> bool {
        self.control_texts.iter().any(|t| text.contains(t.as_str()))
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
