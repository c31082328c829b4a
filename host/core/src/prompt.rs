//! Prompts in spans, and tokenizing them so message content never becomes control tokens.
//!
//! A template plugin renders a chat into [`PromptSpan`]s: the template's own text, where
//! special-token text (`<|im_start|>`) is meant as the model's control tokens, and content
//! from the request, which is always plain text. [`join`] turns the spans into the prompt text
//! and the byte ranges of its content (what [`crate::backend::GenerateRequest::content_spans`]
//! carries); [`tokenize_in_pieces`] tokenizes such a prompt.
//!
//! Tokenizing: content that holds no control-token text tokenizes the same with or without
//! special-token parsing, so it stays inside the text around it and the prompt is tokenized
//! exactly as a whole (no extra boundaries in the tokenizer's view). Only content that does
//! hold control-token text is cut out and tokenized on its own as plain text: a user message
//! `<|im_start|>system ...` then costs its ~6 plain tokens instead of opening a system turn.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which kind of text a span of a prompt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// The template's own text: special-token text in it becomes control tokens.
    Template,
    /// Text from the request (message content, tool results...): always plain text.
    Content,
}

/// One piece of a rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptSpan {
    /// What the text is.
    pub kind: SpanKind,
    /// The text.
    pub text: String,
}

impl PromptSpan {
    /// A span of template text.
    pub fn template(text: impl Into<String>) -> Self {
        PromptSpan {
            kind: SpanKind::Template,
            text: text.into(),
        }
    }

    /// A span of content.
    pub fn content(text: impl Into<String>) -> Self {
        PromptSpan {
            kind: SpanKind::Content,
            text: text.into(),
        }
    }
}

/// The prompt text of `spans` and the byte ranges of their content spans in it.
pub fn join(spans: &[PromptSpan]) -> (String, Vec<Range<usize>>) {
    let mut prompt = String::with_capacity(spans.iter().map(|s| s.text.len()).sum());
    let mut content: Vec<Range<usize>> = Vec::new();
    for span in spans {
        let start = prompt.len();
        prompt.push_str(&span.text);
        if span.kind == SpanKind::Content && !span.text.is_empty() {
            match content.last_mut() {
                Some(last) if last.end == start => last.end = prompt.len(),
                _ => content.push(start..prompt.len()),
            }
        }
    }
    (prompt, content)
}

/// Tokenizes `prompt` whose `content` byte ranges are request content (ascending, not
/// overlapping, on character boundaries). Without `parse_special` the whole prompt is plain
/// text. With it, control tokens are parsed everywhere except inside content ranges for which
/// `has_control` says they hold control-token text; those are tokenized as plain text on
/// their own. `tokenize(text, add_bos, parse_special)` is the model's tokenizer; BOS goes only
/// in front of the first piece.
pub fn tokenize_in_pieces<T>(
    prompt: &str,
    content: &[Range<usize>],
    add_bos: bool,
    parse_special: bool,
    mut has_control: impl FnMut(&str) -> Result<bool>,
    mut tokenize: impl FnMut(&str, bool, bool) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    if !parse_special || content.is_empty() {
        return tokenize(prompt, add_bos, parse_special);
    }
    let mut isolated = Vec::new();
    let mut last_end = 0;
    for range in content {
        if range.start < last_end || range.start > range.end || prompt.get(range.clone()).is_none()
        {
            return Err(Error::InvalidOption(format!(
                "content span {range:?} is not an ordered range on character boundaries of the \
                 {}-byte prompt",
                prompt.len()
            )));
        }
        last_end = range.end;
        if range.start < range.end && has_control(&prompt[range.clone()])? {
            isolated.push(range.clone());
        }
    }
    if isolated.is_empty() {
        return tokenize(prompt, add_bos, true);
    }
    let mut tokens = Vec::new();
    let mut pos = 0;
    let mut bos = add_bos;
    for range in isolated {
        if range.start > pos {
            tokens.extend(tokenize(&prompt[pos..range.start], bos, true)?);
            bos = false;
        }
        tokens.extend(tokenize(&prompt[range.clone()], bos, false)?);
        bos = false;
        pos = range.end;
    }
    if pos < prompt.len() {
        tokens.extend(tokenize(&prompt[pos..], bos, true)?);
    }
    Ok(tokens)
}

/// Cuts a prompt of `tokens` that leaves no room to generate in a context of `n_ctx` (as
/// Ollama's `truncate` does): the first `keep` tokens stay (at most a quarter of the context),
/// then the end of the prompt, so that it fills half the context and the other half is left
/// for the answer. Returns how many tokens were dropped (0 when it fits).
pub fn truncate_to_context<T>(tokens: &mut Vec<T>, n_ctx: usize, keep: usize) -> usize {
    if tokens.len() < n_ctx || n_ctx < 2 {
        return 0;
    }
    let keep = keep.min(n_ctx / 4);
    let target = keep + (n_ctx - keep) / 2;
    let dropped = tokens.len() - target;
    tokens.drain(keep..keep + dropped);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy tokenizer: `<c>` is one control token (0) when parsed, any other character its
    /// code point; BOS is 1.
    fn toy(text: &str, bos: bool, special: bool) -> Result<Vec<u32>> {
        let mut out = if bos { vec![1] } else { Vec::new() };
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if special && rest.starts_with("<c>") {
                out.push(0);
                rest = &rest[3..];
            } else {
                out.push(c as u32);
                rest = &rest[c.len_utf8()..];
            }
        }
        Ok(out)
    }

    fn has(text: &str) -> Result<bool> {
        Ok(text.contains("<c>"))
    }

    #[test]
    fn join_gives_content_ranges() {
        let spans = [
            PromptSpan::template("<c>u\n"),
            PromptSpan::content("hi"),
            PromptSpan::content("!"),
            PromptSpan::template("<c>"),
        ];
        let (prompt, content) = join(&spans);
        assert_eq!(prompt, "<c>u\nhi!<c>");
        assert_eq!(content, vec![5..8]);
    }

    #[test]
    fn content_with_control_text_is_plain() {
        let (prompt, content) = join(&[
            PromptSpan::template("<c>u "),
            PromptSpan::content("x<c>y"),
            PromptSpan::template("<c>"),
        ]);
        let tokens = tokenize_in_pieces(&prompt, &content, true, true, has, toy).unwrap();
        let plain: Vec<u32> = "x<c>y".chars().map(|c| c as u32).collect();
        let mut expected = vec![1, 0, 'u' as u32, ' ' as u32];
        expected.extend(plain);
        expected.push(0);
        assert_eq!(tokens, expected);
        // Without spans the same text would have four control tokens... with them, two.
        assert_eq!(tokens.iter().filter(|&&t| t == 0).count(), 2);
    }

    #[test]
    fn harmless_content_tokenizes_as_a_whole() {
        let mut calls = 0;
        let (prompt, content) = join(&[PromptSpan::template("<c>"), PromptSpan::content("hi")]);
        let tokens = tokenize_in_pieces(&prompt, &content, false, true, has, |t, b, s| {
            calls += 1;
            toy(t, b, s)
        })
        .unwrap();
        assert_eq!(tokens, vec![0, 'h' as u32, 'i' as u32]);
        assert_eq!(calls, 1);
    }

    #[test]
    fn bad_ranges_are_refused() {
        let e = tokenize_in_pieces(
            "héllo",
            std::slice::from_ref(&(2..3)),
            false,
            true,
            has,
            toy,
        )
        .unwrap_err();
        assert!(e.to_string().contains("character boundaries"), "{e}");
        let e = tokenize_in_pieces("hello", &[2..4, 1..3], false, true, has, toy).unwrap_err();
        assert!(matches!(e, Error::InvalidOption(_)));
        // Without special-token parsing the spans do not matter.
        assert_eq!(
            tokenize_in_pieces(
                "a<c>",
                std::slice::from_ref(&(0..4)),
                false,
                false,
                has,
                toy
            )
            .unwrap(),
            vec!['a' as u32, '<' as u32, 'c' as u32, '>' as u32]
        );
    }

    #[test]
    fn truncation_keeps_the_start_and_the_end() {
        let mut t: Vec<u32> = (0..100).collect();
        assert_eq!(truncate_to_context(&mut t, 200, 4), 0);
        assert_eq!(t.len(), 100);
        assert_eq!(truncate_to_context(&mut t, 100, 4), 48);
        assert_eq!(t.len(), 52);
        assert_eq!(&t[..5], &[0, 1, 2, 3, 52]);
        assert_eq!(*t.last().unwrap(), 99);
        let mut t: Vec<u32> = (0..10).collect();
        truncate_to_context(&mut t, 8, 100);
        assert_eq!(t, vec![0, 1, 7, 8, 9]);
    }
}
