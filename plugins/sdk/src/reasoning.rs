//! Separating a reasoning model's thoughts from its answer.
//!
//! Models such as Qwen3, QwQ and DeepSeek-R1 write their chain of thought between `<think>` and
//! `</think>` before the answer. When the chat template itself ends the prompt with `<think>\n`
//! (DeepSeek-R1, Qwen3 in thinking mode via some templates) the output contains only the closing
//! tag: a *dangling* `</think>`. Both shapes are handled.

use crate::Parsed;

/// Opening tag of a reasoning block.
pub const THINK_OPEN: &str = "<think>";
/// Closing tag of a reasoning block.
pub const THINK_CLOSE: &str = "</think>";

/// Splits raw output into `(reasoning, content)`, both trimmed, at `<think>` / `</think>`.
///
/// * `<think>R</think>C` → `(Some(R), C)`; text before `<think>` is kept in the content.
/// * `R</think>C` (dangling close, the template opened the block) → `(Some(R), C)`.
/// * `<think>R` with no close (output cut off while thinking) → `(Some(R), "")`.
/// * no tags → `(None, output)`.
///
/// Reasoning that is empty after trimming (`<think>\n\n</think>`, as Qwen3 writes when thinking
/// is off) is `None`.
pub fn split_reasoning(output: &str) -> (Option<String>, String) {
    split_tagged(output, THINK_OPEN, THINK_CLOSE)
}

/// [`split_reasoning`] for reasoning between `open` and `close` (e.g. Mistral's `[THINK]` /
/// `[/THINK]`, Command R7B's `<|START_THINKING|>` / `<|END_THINKING|>`).
pub fn split_tagged(output: &str, open: &str, close: &str) -> (Option<String>, String) {
    let (reasoning, content) = match output.find(open) {
        Some(at) => {
            let before = &output[..at];
            let rest = &output[at + open.len()..];
            match rest.find(close) {
                Some(end) => {
                    let after = &rest[end + close.len()..];
                    let (before, after) = (before.trim(), after.trim());
                    let sep = if before.is_empty() || after.is_empty() {
                        ""
                    } else {
                        " "
                    };
                    let content = format!("{before}{sep}{after}");
                    (&rest[..end], content)
                }
                None => (rest, before.to_string()),
            }
        }
        None => match output.find(close) {
            Some(end) => (&output[..end], output[end + close.len()..].to_string()),
            None => ("", output.to_string()),
        },
    };
    let reasoning = reasoning.trim();
    let reasoning = if reasoning.is_empty() {
        None
    } else {
        Some(reasoning.to_string())
    };
    (reasoning, content.trim().to_string())
}

/// The content of an earlier assistant turn without its reasoning, as templates of reasoning
/// models put it back into the history (`content.split('</think>')[-1]`, leading whitespace
/// removed).
pub fn strip_reasoning(content: &str) -> &str {
    match content.rfind(THINK_CLOSE) {
        Some(i) => content[i + THINK_CLOSE.len()..].trim_start(),
        None => content,
    }
}

/// What [`crate::Template::parse`] does by default: reasoning split off, content trimmed, no
/// tool calls.
pub fn parse_default(output: &str) -> Parsed {
    let (reasoning, content) = split_reasoning(output);
    Parsed {
        content,
        reasoning,
        tool_calls: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (Option<&str>, String) {
        let (r, c) = split_reasoning(s);
        (r.map(|r| &*Box::leak(r.into_boxed_str())), c)
    }

    #[test]
    fn no_tags() {
        assert_eq!(
            split("  Hello there.\n"),
            (None, "Hello there.".to_string())
        );
    }

    #[test]
    fn full_block() {
        assert_eq!(
            split("<think>\nLet me add.\n2+2=4\n</think>\n\nThe answer is 4."),
            (Some("Let me add.\n2+2=4"), "The answer is 4.".to_string())
        );
    }

    #[test]
    fn dangling_close() {
        assert_eq!(
            split("Okay, the user greets me.\n</think>\n\nHello!"),
            (Some("Okay, the user greets me."), "Hello!".to_string())
        );
    }

    #[test]
    fn empty_think_is_none() {
        assert_eq!(split("<think>\n\n</think>\n\nHi"), (None, "Hi".to_string()));
        assert_eq!(split("</think>Hi"), (None, "Hi".to_string()));
    }

    #[test]
    fn unclosed_think() {
        assert_eq!(
            split("<think>still thinking"),
            (Some("still thinking"), String::new())
        );
    }

    #[test]
    fn text_before_open_tag_is_content() {
        assert_eq!(
            split("Sure. <think>hmm</think> Done."),
            (Some("hmm"), "Sure. Done.".to_string())
        );
    }

    #[test]
    fn strip() {
        assert_eq!(strip_reasoning("<think>x</think>\n\nAnswer"), "Answer");
        assert_eq!(strip_reasoning("Answer"), "Answer");
    }

    #[test]
    fn default_parse() {
        let p = parse_default("<think>r</think> c ");
        assert_eq!(p.content, "c");
        assert_eq!(p.reasoning.as_deref(), Some("r"));
        assert!(p.tool_calls.is_empty());
    }
}
