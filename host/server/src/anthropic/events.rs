//! The events of a streamed Anthropic answer, written by the one streaming writer
//! ([`crate::stream`]) as named server-sent events: `message_start`, `ping`, per content block
//! `content_block_start`, `content_block_delta` (`thinking_delta`, `text_delta`,
//! `input_json_delta`) and `content_block_stop`, then `message_delta` (stop reason, usage)
//! and `message_stop`. Reasoning and text stream as they come; tool calls, which the
//! template's parser gives at the end, come last as whole `tool_use` blocks. An error after
//! the headers is an `error` event in Anthropic's shape.

use serde_json::{json, Value};
use shimmy_engine::generation::{Delta, Done, Generation};

use super::message::{
    stop_reason, thinking_block, tool_block, tool_input, unreadable_call_text, usage,
};
use super::types::Thinking;
use crate::stream::Frames;

/// The kind of content block open in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Thinking,
    Text,
}

/// The event writer of one streamed `/v1/messages` answer.
pub struct MessageEvents {
    id: String,
    model: String,
    input_tokens: usize,
    cached_tokens: usize,
    thinking: Thinking,
    stop_sequences: Vec<String>,
    open: Option<Block>,
    next_index: usize,
}

impl MessageEvents {
    /// The writer for message `id`; the prompt's token counts go into `message_start`.
    pub fn new(
        id: String,
        model: String,
        (prompt_tokens, cached_tokens): (usize, usize),
        thinking: Thinking,
        stop_sequences: Vec<String>,
    ) -> Self {
        MessageEvents {
            id,
            model,
            input_tokens: prompt_tokens.saturating_sub(cached_tokens),
            cached_tokens,
            thinking,
            stop_sequences,
            open: None,
            next_index: 0,
        }
    }

    /// The index of the open block of `kind`, opening it (and closing another) when needed.
    fn open(&mut self, kind: Block, out: &mut Vec<Value>) -> usize {
        if self.open == Some(kind) {
            return self.next_index - 1;
        }
        self.close(out);
        let index = self.start_block(
            match kind {
                Block::Thinking => thinking_block(""),
                Block::Text => json!({"type": "text", "text": ""}),
            },
            out,
        );
        self.open = Some(kind);
        index
    }

    fn start_block(&mut self, block: Value, out: &mut Vec<Value>) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        out.push(json!({"type": "content_block_start", "index": index, "content_block": block}));
        index
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        if self.open.take().is_some() {
            out.push(json!({"type": "content_block_stop", "index": self.next_index - 1}));
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<Value>) {
        let index = self.open(Block::Text, out);
        out.push(json!({
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text},
        }));
    }
}

impl Frames for MessageEvents {
    fn opening(&mut self) -> Vec<Value> {
        vec![
            json!({
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {
                        "input_tokens": self.input_tokens,
                        "cache_read_input_tokens": self.cached_tokens,
                        "cache_creation_input_tokens": 0,
                        "output_tokens": 0,
                    },
                },
            }),
            json!({"type": "ping"}),
        ]
    }

    fn deltas(&mut self, delta: &Delta) -> Vec<Value> {
        let mut out = Vec::new();
        if !delta.reasoning.is_empty() && self.thinking.shows_blocks() {
            let index = self.open(Block::Thinking, &mut out);
            if self.thinking.shows_text() {
                out.push(json!({
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": delta.reasoning},
                }));
            }
        }
        if !delta.content.is_empty() {
            self.text(&delta.content, &mut out);
        }
        out
    }

    fn closing(&mut self, _: &Generation, done: &Done) -> Vec<Value> {
        let mut out = Vec::new();
        let mut called = false;
        for call in &done.tool_calls {
            let Some(input) = tool_input(call) else {
                self.text(&unreadable_call_text(call), &mut out);
                continue;
            };
            self.close(&mut out);
            called = true;
            let index = self.start_block(tool_block(call, json!({})), &mut out);
            out.push(json!({
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": input.to_string()},
            }));
            out.push(json!({"type": "content_block_stop", "index": index}));
        }
        self.close(&mut out);
        let (reason, sequence) = match stop_reason(done, &self.stop_sequences) {
            ("tool_use", _) if !called => ("end_turn", None),
            other => other,
        };
        out.push(json!({
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": usage(&done.summary),
        }));
        out.push(json!({"type": "message_stop"}));
        out
    }
}
