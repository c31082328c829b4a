//! The thinking switch a request sets (OpenAI's `reasoning_effort`, Ollama's `think`) and the
//! template settings it becomes: chat templates read `enable_thinking` (Qwen3 and its kin) or
//! `reasoning_effort` (gpt-oss); a template that has neither renders as it always does.

use shimmy_plugins::{request_keys, RequestSettings};

/// How much the model should reason before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thinking {
    /// Not at all (`reasoning_effort: "none"`, `think: false`).
    Off,
    /// As little as the template allows (`reasoning_effort: "minimal"`): off where the
    /// template has a switch, else the lowest effort.
    Minimal,
    /// On, at the template's default effort (`think: true`).
    On,
    /// On, with an effort.
    Effort(Effort),
}

/// A reasoning effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

impl Effort {
    /// The word templates use.
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }

    /// `low`, `medium` or `high`.
    pub fn parse(s: &str) -> Option<Effort> {
        match s {
            "low" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" => Some(Effort::High),
            _ => None,
        }
    }
}

/// The values OpenAI's `reasoning_effort` takes, for messages.
pub const REASONING_EFFORTS: [&str; 7] =
    ["none", "minimal", "low", "medium", "high", "xhigh", "max"];

impl Thinking {
    /// OpenAI's `reasoning_effort` (one of [`REASONING_EFFORTS`]; `xhigh` and `max` are
    /// `high`, the most chat templates know).
    pub fn from_reasoning_effort(s: &str) -> Option<Thinking> {
        match s {
            "none" => Some(Thinking::Off),
            "minimal" => Some(Thinking::Minimal),
            "xhigh" | "max" => Some(Thinking::Effort(Effort::High)),
            other => Effort::parse(other).map(Thinking::Effort),
        }
    }

    /// The template settings of this choice ([`request_keys`]).
    pub fn settings(self) -> RequestSettings {
        let mut s = RequestSettings::new();
        let enabled = matches!(self, Thinking::On | Thinking::Effort(_));
        s.insert(request_keys::ENABLE_THINKING.into(), enabled.to_string());
        let effort = match self {
            Thinking::Minimal => Some(Effort::Low),
            Thinking::Effort(e) => Some(e),
            Thinking::Off | Thinking::On => None,
        };
        if let Some(e) = effort {
            s.insert(request_keys::REASONING_EFFORT.into(), e.as_str().into());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efforts_become_template_settings() {
        let get = |t: Thinking, k: &str| t.settings().get(k).cloned();
        let off = Thinking::from_reasoning_effort("none").unwrap();
        assert_eq!(get(off, "enable-thinking").as_deref(), Some("false"));
        assert_eq!(get(off, "reasoning-effort"), None);
        let high = Thinking::from_reasoning_effort("high").unwrap();
        assert_eq!(get(high, "enable-thinking").as_deref(), Some("true"));
        assert_eq!(get(high, "reasoning-effort").as_deref(), Some("high"));
        let minimal = Thinking::from_reasoning_effort("minimal").unwrap();
        assert_eq!(get(minimal, "enable-thinking").as_deref(), Some("false"));
        assert_eq!(get(minimal, "reasoning-effort").as_deref(), Some("low"));
        assert!(Thinking::from_reasoning_effort("extreme").is_none());
        for e in REASONING_EFFORTS {
            assert!(Thinking::from_reasoning_effort(e).is_some());
        }
    }
}
