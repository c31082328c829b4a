//! The texts of a vocabulary's control tokens: what makes a piece of request content need
//! tokenizing on its own, as plain text (see [`crate::prompt_tokens`]).

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token_type::LlamaTokenAttr;

/// The texts of the tokens llama.cpp parses only with special-token parsing on (control and
/// unknown tokens), longest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct ControlTexts(Vec<String>);

impl ControlTexts {
    /// The control-token texts of `model`'s vocabulary.
    pub(crate) fn of(model: &LlamaModel) -> Self {
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
        ControlTexts(texts)
    }

    /// Whether `text` holds one of them.
    pub(crate) fn found_in(&self, text: &str) -> bool {
        self.0.iter().any(|t| text.contains(t.as_str()))
    }
}
