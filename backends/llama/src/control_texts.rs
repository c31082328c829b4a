//! The texts of a vocabulary's special tokens: what makes a piece of request content need
//! tokenizing on its own, as plain text (see [`crate::prompt_tokens`]), and where a long
//! prompt can be cut so that llama.cpp tokenizes it piece by piece in linear time.
//!
//! llama.cpp splits a text at its special tokens before tokenizing the pieces in between
//! (`tokenizer_st_partition`), and that split costs time proportional to the number of pieces
//! for every special token it finds: a prompt of 10k chat messages (40k special tokens) takes
//! seconds, 20k messages four times as long. Cut right after a special token, the pieces are
//! exactly the ones llama.cpp would have made of the whole text, so tokenizing the cuts one
//! after the other gives the same tokens (see [`ControlTexts::cuts`] for when a cut is exact).

use aho_corasick::AhoCorasick;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token_type::LlamaTokenAttr;

/// Special tokens between two cuts: llama.cpp's split is quadratic within a piece, so pieces
/// stay small; each piece also costs one pass over every special token's text, so not tiny.
pub(crate) const SPECIALS_PER_PIECE: usize = 64;

/// The special-token texts of a vocabulary, searched with one automaton each.
#[derive(Debug, Clone, Default)]
pub(crate) struct ControlTexts {
    /// Texts llama.cpp parses only with special-token parsing on (control and unknown tokens).
    control: Option<AhoCorasick>,
    /// Every text llama.cpp splits at with special-token parsing on (control, unknown and
    /// user-defined tokens): where a text may be cut.
    all: Option<AhoCorasick>,
}

/// The texts of `tokens` (empty ones dropped), longest first, without repeats.
fn texts<'a>(tokens: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut texts: Vec<String> = tokens
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    texts.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    texts.dedup();
    texts
}

fn automaton(texts: &[String]) -> Option<AhoCorasick> {
    if texts.is_empty() {
        return None;
    }
    // Patterns are token texts (bounded by the vocabulary); building cannot fail for them,
    // and a vocabulary it failed for would only lose the fast path.
    AhoCorasick::new(texts).ok()
}

impl ControlTexts {
    /// The special-token texts of `model`'s vocabulary.
    pub(crate) fn of(model: &LlamaModel) -> Self {
        let vocab = model.vocab();
        let mut control = Vec::new();
        let mut all = Vec::new();
        for token in vocab.tokens() {
            let attr = vocab.attr(token);
            let is_control =
                attr.contains(LlamaTokenAttr::Control) || attr.contains(LlamaTokenAttr::Unknown);
            if !is_control && !attr.contains(LlamaTokenAttr::UserDefined) {
                continue;
            }
            let Some(text) = vocab.text(token) else {
                continue;
            };
            let text = text.to_string_lossy().into_owned();
            if is_control {
                control.push(text.clone());
            }
            all.push(text);
        }
        Self::from_texts(&control, &all)
    }

    /// From the texts themselves: `control` (control and unknown tokens) and `all` (those and
    /// the user-defined ones).
    pub(crate) fn from_texts(control: &[String], all: &[String]) -> Self {
        ControlTexts {
            control: automaton(&texts(control.iter().map(String::as_str))),
            all: automaton(&texts(all.iter().map(String::as_str))),
        }
    }

    /// Whether `text` holds the text of a control token.
    pub(crate) fn found_in(&self, text: &str) -> bool {
        self.control.as_ref().is_some_and(|ac| ac.is_match(text))
    }

    /// Byte offsets where `text` can be cut with special-token parsing on, about every
    /// `every` special tokens (ascending, never 0 or `text.len()`).
    ///
    /// A cut goes right after a special-token text that no other special-token text overlaps
    /// (so llama.cpp certainly splits there, whatever order it tries the tokens in) and that is
    /// not followed by whitespace (a token that strips the whitespace after it would strip it
    /// in the whole text, not at the start of the next piece). Text before the cut and after
    /// it is then tokenized exactly as llama.cpp tokenizes the whole: it tokenizes the pieces
    /// between special tokens separately anyway, and the piece after a special token starts
    /// the way the first piece of a text starts (SentencePiece's space prefix included).
    pub(crate) fn cuts(&self, text: &str, every: usize) -> Vec<usize> {
        let Some(all) = &self.all else {
            return Vec::new();
        };
        let mut found: Vec<(usize, usize)> = all
            .find_overlapping_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect();
        found.sort_unstable();
        let bytes = text.as_bytes();
        let mut cuts = Vec::new();
        let mut since_cut = 0;
        // The furthest end of the matches before the current one.
        let mut reach = 0;
        for (i, &(start, end)) in found.iter().enumerate() {
            since_cut += 1;
            let alone = reach <= start && found.get(i + 1).is_none_or(|&(next, _)| next >= end);
            reach = reach.max(end);
            let followed_by_text = bytes
                .get(end)
                .is_some_and(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c));
            if since_cut >= every && alone && followed_by_text {
                cuts.push(end);
                since_cut = 0;
            }
        }
        cuts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specials(control: &[&str], user: &[&str]) -> ControlTexts {
        let control: Vec<String> = control.iter().map(|s| s.to_string()).collect();
        let mut all = control.clone();
        all.extend(user.iter().map(|s| s.to_string()));
        ControlTexts::from_texts(&control, &all)
    }

    #[test]
    fn control_texts_are_found() {
        let s = specials(&["<|im_start|>", "<|im_end|>"], &["<tool>"]);
        assert!(s.found_in("a <|im_end|> b"));
        assert!(
            !s.found_in("a <tool> b"),
            "user-defined tokens are not control tokens"
        );
        assert!(!ControlTexts::default().found_in("<|im_end|>"));
    }

    #[test]
    fn cuts_follow_lone_special_tokens_before_text() {
        let s = specials(&["<s>", "</s>"], &[]);
        let text = "<s>a</s>\n<s>b</s>\n<s>c";
        // After every special token followed by text: the three `<s>`.
        assert_eq!(s.cuts(text, 1), vec![3, 12, 21]);
        // Every second special token at most.
        assert_eq!(s.cuts(text, 2), vec![12, 21]);
        assert!(s.cuts("no specials", 1).is_empty());
        // A special token at the very end is never a cut.
        assert!(s.cuts("a<s>", 1).is_empty());
    }

    #[test]
    fn overlapping_texts_are_never_cut() {
        // `<|a|>` and `|a|>x`: llama.cpp tries the longer first, so neither end is certain.
        let s = specials(&["<|a|>", "|a|>x"], &[]);
        assert!(s.cuts("q<|a|>xyz", 1).is_empty());
        // A text inside another one (`<s>` in `<s><s>`-like tokens) is not alone either.
        let s = specials(&["ab", "abc"], &["bcd"]);
        assert!(s.cuts("xabcd y", 1).is_empty());
        assert_eq!(
            s.cuts("xab y abcz", 1),
            Vec::<usize>::new(),
            "`ab` is followed by a space"
        );
        assert_eq!(specials(&["ab"], &[]).cuts("xabz", 1), vec![3]);
    }
}
