//! The reasoning block of an answer as the generation loop sees it, token by token: whether
//! the next token is reasoning (for `reasoning_tokens` in usage) and when a reasoning budget
//! is spent (then the loop forces the block's closing tag, as llama-server's reasoning budget
//! does, and the model goes on with the answer).
//!
//! The block is told by its tags ([`ReasoningTags`]): it is open from the start when the
//! rendered prompt ended with the opening tag (DeepSeek R1, Qwen3 thinking and GLM templates
//! end the generation prompt with `<think>` and a newline), else it opens when the output
//! starts with the opening tag (after whitespace). It closes after the closing tag.

/// The tags around a reasoning block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasoningTags {
    /// The opening tag, e.g. `<think>`.
    pub open: String,
    /// The closing tag, e.g. `</think>`.
    pub close: String,
}

/// The reasoning tags of the template families whose prompts may open the block:
/// `<think>` (DeepSeek R1, Qwen3, GLM, MiniMax, Kimi...), Mistral's `[THINK]`, Command R7B's
/// `<|START_THINKING|>`.
pub const KNOWN_TAGS: [(&str, &str); 3] = [
    ("<think>", "</think>"),
    ("[THINK]", "[/THINK]"),
    ("<|START_THINKING|>", "<|END_THINKING|>"),
];

impl ReasoningTags {
    /// The default pair, `<think>` / `</think>`.
    pub fn think() -> Self {
        Self::of(KNOWN_TAGS[0])
    }

    fn of((open, close): (&str, &str)) -> Self {
        ReasoningTags {
            open: open.into(),
            close: close.into(),
        }
    }

    /// The known pair whose opening tag ends `prompt` (whitespace after it aside), when the
    /// prompt does not close the block right away: the answer starts inside the block.
    pub fn opened_by(prompt: &str) -> Option<Self> {
        let tail = prompt.trim_end();
        KNOWN_TAGS
            .into_iter()
            .find(|(open, close)| {
                tail.ends_with(open) && !tail.ends_with(&format!("{open}{close}"))
            })
            .map(Self::of)
    }
}

/// What a generation is told about reasoning (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasoningRequest {
    /// The block's tags.
    pub tags: ReasoningTags,
    /// The prompt opened the block: the output starts inside it.
    pub open_at_start: bool,
    /// Most tokens inside the block; then its closing tag is forced. `None`: no limit.
    pub budget: Option<u32>,
}

/// Where the output is relative to the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the output shows whether it opens the block.
    Waiting,
    /// Inside the block.
    Inside,
    /// After it (or there is none).
    Done,
}

/// Follows one generation's output through its reasoning block.
#[derive(Debug, Clone)]
pub struct ReasoningTracker {
    tags: ReasoningTags,
    budget: Option<u32>,
    state: State,
    /// Output seen while waiting, or the tail of the block (to find the closing tag across
    /// token boundaries).
    seen: String,
    tokens: usize,
}

impl ReasoningTracker {
    /// A tracker for `request`.
    pub fn new(request: &ReasoningRequest) -> Self {
        ReasoningTracker {
            tags: request.tags.clone(),
            budget: request.budget,
            state: if request.open_at_start {
                State::Inside
            } else {
                State::Waiting
            },
            seen: String::new(),
            tokens: 0,
        }
    }

    /// The block's closing tag (what a spent budget forces).
    pub fn close_tag(&self) -> &str {
        &self.tags.close
    }

    /// Whether the budget is spent while the block is still open: the closing tag goes next.
    pub fn budget_spent(&self) -> bool {
        self.state == State::Inside && self.budget.is_some_and(|b| self.tokens >= b as usize)
    }

    /// Tokens generated inside the block so far (its closing tag included).
    pub fn reasoning_tokens(&self) -> usize {
        self.tokens
    }

    /// Takes the text of the next generated token (possibly empty while a UTF-8 character is
    /// incomplete); the token counts as reasoning when the block was open before it.
    pub fn push(&mut self, text: &str) {
        match self.state {
            State::Done => {}
            State::Waiting => {
                self.seen.push_str(text);
                let start = self.seen.trim_start();
                if let Some(rest) = start.strip_prefix(self.tags.open.as_str()) {
                    let rest = rest.to_string();
                    self.state = State::Inside;
                    self.seen.clear();
                    self.find_close(&rest);
                } else if !start.is_empty() && !self.tags.open.starts_with(start) {
                    self.state = State::Done;
                    self.seen.clear();
                }
            }
            State::Inside => {
                self.tokens += 1;
                self.find_close(text);
            }
        }
    }

    /// Adds `text` to the block's tail and ends the block at the closing tag.
    fn find_close(&mut self, text: &str) {
        self.seen.push_str(text);
        if self.seen.contains(self.tags.close.as_str()) {
            self.state = State::Done;
            self.seen.clear();
            return;
        }
        // Only a partial closing tag at the end can matter later.
        let keep = self.tags.close.len();
        if self.seen.len() > keep {
            let mut cut = self.seen.len() - keep;
            while !self.seen.is_char_boundary(cut) {
                cut -= 1;
            }
            self.seen.drain(..cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(open_at_start: bool, budget: Option<u32>) -> ReasoningTracker {
        ReasoningTracker::new(&ReasoningRequest {
            tags: ReasoningTags::think(),
            open_at_start,
            budget,
        })
    }

    #[test]
    fn prompts_that_open_the_block_are_recognised() {
        assert_eq!(
            ReasoningTags::opened_by("<|im_start|>assistant\n<think>\n"),
            Some(ReasoningTags::think())
        );
        assert_eq!(
            ReasoningTags::opened_by("assistant\n<think>\n\n</think>\n\n"),
            None
        );
        assert_eq!(ReasoningTags::opened_by("<|im_start|>assistant\n"), None);
        assert_eq!(
            ReasoningTags::opened_by("[INST]x[/INST][THINK]").map(|t| t.close),
            Some("[/THINK]".to_string())
        );
    }

    #[test]
    fn counts_tokens_inside_an_opened_block_until_the_close_tag() {
        let mut t = tracker(true, None);
        for piece in ["Let", " me", " think", "</", "think", ">", "\n\nHi"] {
            t.push(piece);
        }
        assert_eq!(t.reasoning_tokens(), 6, "the closing tag's tokens count");
        assert!(!t.budget_spent());
    }

    #[test]
    fn the_block_opens_only_at_the_start_of_the_output() {
        let mut t = tracker(false, None);
        for piece in ["\n", "<th", "ink>", "a", "b", "</think>", "c"] {
            t.push(piece);
        }
        assert_eq!(t.reasoning_tokens(), 3);
        let mut t = tracker(false, None);
        for piece in ["Hello", " <think>", "a"] {
            t.push(piece);
        }
        assert_eq!(t.reasoning_tokens(), 0);
    }

    #[test]
    fn a_budget_is_spent_after_that_many_reasoning_tokens() {
        let mut t = tracker(true, Some(2));
        t.push("a");
        assert!(!t.budget_spent());
        t.push("b");
        assert!(t.budget_spent());
        assert_eq!(t.close_tag(), "</think>");
        t.push("</think>");
        assert!(!t.budget_spent(), "closed");
        assert_eq!(t.reasoning_tokens(), 3);
        let mut none = tracker(false, Some(1));
        none.push("Hi");
        none.push("there");
        assert!(!none.budget_spent());
    }
}
