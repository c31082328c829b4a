//! How much work one request may ask for before its first token: messages, prompt bytes,
//! stop strings, grammar size and breadth, preparation time.
//!
//! Every check here is cheap and runs before the expensive step it guards (the template
//! plugin, the tokenizer, llama.cpp's schema converter and grammar parser), and every refusal
//! names the limit, its value and how to stay under it. Counts and shapes are the client's
//! error ([`EngineError::InvalidRequest`], 400); sizes are [`EngineError::TooLarge`] (413).

use std::time::Duration;

use shimmy_plugins::{ChatMessage, ToolDefinition};

use crate::error::EngineError;

/// The limits (see [`crate::EngineConfig::request_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Most messages in one chat (`--max-messages`).
    pub max_messages: usize,
    /// Most bytes of a prompt (`--max-prompt-bytes`): the text of a chat's messages and tools
    /// before the template renders them, the rendered prompt after, a raw prompt.
    pub max_prompt_bytes: usize,
    /// Most stop strings a request adds to the template's.
    pub max_stop_strings: usize,
    /// Longest stop string in bytes.
    pub max_stop_bytes: usize,
    /// Most bytes of a JSON schema (`response_format`, `format`, the tools of a forced
    /// `tool_choice`, a workflow's `json_schema`) and of a GBNF grammar
    /// (`--max-grammar-bytes`).
    pub max_grammar_bytes: usize,
    /// Most parse positions a grammar may keep alive at once
    /// ([`crate::grammar_breadth::breadth`]; `--max-grammar-breadth`): what each token of a
    /// constrained answer costs the model's scheduler thread grows with its square.
    pub max_grammar_breadth: u64,
    /// Longest time the preparation of one request (grammar, tokenizing, sampler) may take
    /// on its blocking thread; past it the request is refused.
    pub prepare_timeout: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_messages: 4096,
            max_prompt_bytes: 4 * 1024 * 1024,
            max_stop_strings: 32,
            max_stop_bytes: 1024,
            max_grammar_bytes: 256 * 1024,
            max_grammar_breadth: 1024,
            prepare_timeout: Duration::from_secs(30),
        }
    }
}

/// `n` bytes in words (`4.0 MiB`, `812 bytes`).
fn bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

impl RequestLimits {
    /// Checks a chat before the template renders it: the message count, then the bytes of
    /// its text (contents, tool calls and tool definitions).
    pub fn check_chat(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolDefinition],
    ) -> Result<(), EngineError> {
        if messages.len() > self.max_messages {
            return Err(EngineError::invalid(
                "messages",
                format!(
                    "`messages` has {} messages; this server takes at most {} in one request \
                     (--max-messages); drop or summarise the oldest ones",
                    messages.len(),
                    self.max_messages
                ),
            ));
        }
        let mut size = 0usize;
        for m in messages {
            size = size
                .saturating_add(m.content.len())
                .saturating_add(m.name.as_ref().map_or(0, String::len))
                .saturating_add(m.tool_call_id.as_ref().map_or(0, String::len));
            for call in &m.tool_calls {
                size = size
                    .saturating_add(call.name.len())
                    .saturating_add(call.arguments.len());
            }
        }
        for t in tools {
            size = size
                .saturating_add(t.name.len())
                .saturating_add(t.description.len())
                .saturating_add(t.parameters_schema.len());
        }
        self.check_prompt_bytes("messages", "the text of `messages` and `tools`", size)
    }

    /// Checks the size of a prompt (a rendered chat, a raw prompt).
    pub fn check_prompt(&self, param: &str, what: &str, prompt: &str) -> Result<(), EngineError> {
        self.check_prompt_bytes(param, what, prompt.len())
    }

    fn check_prompt_bytes(&self, param: &str, what: &str, size: usize) -> Result<(), EngineError> {
        if size > self.max_prompt_bytes {
            return Err(EngineError::too_large(
                param,
                format!(
                    "{what} is {} ({size} bytes); this server takes prompts of at most {} \
                     (--max-prompt-bytes); send less text",
                    bytes(size),
                    bytes(self.max_prompt_bytes)
                ),
            ));
        }
        Ok(())
    }

    /// Checks the stop strings a request adds.
    pub fn check_stop(&self, stop: &[String]) -> Result<(), EngineError> {
        if stop.len() > self.max_stop_strings {
            return Err(EngineError::invalid(
                "stop",
                format!(
                    "`stop` has {} strings; at most {} are allowed",
                    stop.len(),
                    self.max_stop_strings
                ),
            ));
        }
        if let Some((i, s)) = stop
            .iter()
            .enumerate()
            .find(|(_, s)| s.len() > self.max_stop_bytes)
        {
            return Err(EngineError::invalid(
                format!("stop[{i}]"),
                format!(
                    "`stop[{i}]` is {} bytes; a stop string may have at most {}",
                    s.len(),
                    self.max_stop_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Checks the size of a JSON schema's text or of a grammar, before it is converted or
    /// parsed.
    pub fn check_grammar_size(
        &self,
        param: &str,
        what: &str,
        size: usize,
    ) -> Result<(), EngineError> {
        if size > self.max_grammar_bytes {
            return Err(EngineError::invalid(
                param,
                format!(
                    "`{param}`: {what} is {} ({size} bytes); this server takes at most {} \
                     (--max-grammar-bytes); use a smaller schema (fewer `enum` values, \
                     `anyOf` branches or properties)",
                    bytes(size),
                    bytes(self.max_grammar_bytes)
                ),
            ));
        }
        Ok(())
    }

    /// Checks a grammar's breadth (see [`crate::grammar_breadth`]) before llama.cpp parses it.
    pub fn check_breadth(&self, param: &str, grammar: &str) -> Result<(), EngineError> {
        let breadth = crate::grammar_breadth::breadth(grammar);
        if breadth > self.max_grammar_breadth {
            let shown = if breadth == u64::MAX {
                "more than 2^64".to_string()
            } else {
                breadth.to_string()
            };
            return Err(EngineError::invalid(
                param,
                format!(
                    "`{param}`: the grammar can be in {shown} places at once (e.g. an `enum` or \
                     `anyOf` with that many choices); this server allows at most {} \
                     (--max-grammar-breadth), since every token of the answer costs the \
                     model's other requests time that grows with its square; offer fewer \
                     choices",
                    self.max_grammar_breadth
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RequestLimits {
        RequestLimits {
            max_messages: 3,
            max_prompt_bytes: 10,
            max_stop_strings: 2,
            max_stop_bytes: 4,
            max_grammar_bytes: 20,
            max_grammar_breadth: 2,
            ..RequestLimits::default()
        }
    }

    fn status(e: EngineError) -> (&'static str, Option<String>, String) {
        let text = e.to_string();
        match e {
            EngineError::InvalidRequest { param, .. } => ("invalid", param, text),
            EngineError::TooLarge { param, .. } => ("too_large", param, text),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn chats_are_counted_then_measured() {
        let l = limits();
        let m = |c: &str| ChatMessage::new("user", c);
        assert!(l.check_chat(&[m("hi"), m("ho")], &[]).is_ok());
        let (kind, param, text) = status(
            l.check_chat(&[m(""), m(""), m(""), m("")], &[])
                .unwrap_err(),
        );
        assert_eq!((kind, param.as_deref()), ("invalid", Some("messages")));
        assert!(
            text.contains("4 messages") && text.contains("at most 3"),
            "{text}"
        );
        let (kind, _, text) = status(l.check_chat(&[m("0123456789x")], &[]).unwrap_err());
        assert_eq!(kind, "too_large");
        assert!(
            text.contains("11 bytes") && text.contains("--max-prompt-bytes"),
            "{text}"
        );
        let tool = ToolDefinition {
            name: "t".into(),
            description: "0123456789".into(),
            parameters_schema: String::new(),
        };
        assert!(l.check_chat(&[m("")], &[tool]).is_err(), "tools count too");
    }

    #[test]
    fn stops_and_grammars_name_the_limit() {
        let l = limits();
        assert!(l.check_stop(&["a".into(), "b".into()]).is_ok());
        let (_, param, _) = status(
            l.check_stop(&["a".into(), "b".into(), "c".into()])
                .unwrap_err(),
        );
        assert_eq!(param.as_deref(), Some("stop"));
        let (_, param, _) = status(l.check_stop(&["a".into(), "hello".into()]).unwrap_err());
        assert_eq!(param.as_deref(), Some("stop[1]"));
        let (_, _, text) = status(
            l.check_grammar_size("response_format", "the schema", 21)
                .unwrap_err(),
        );
        assert!(text.contains("at most 20 bytes"), "{text}");
        assert!(l.check_breadth("grammar", r#"root ::= "a" | "b""#).is_ok());
        let (_, param, text) = status(
            l.check_breadth("grammar", r#"root ::= "a" | "b" | "c""#)
                .unwrap_err(),
        );
        assert_eq!(param.as_deref(), Some("grammar"));
        assert!(
            text.contains("3 places") && text.contains("at most 2"),
            "{text}"
        );
    }
}
