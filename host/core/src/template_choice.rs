//! Which prompt-template plugin a chat request gets.
//!
//! Order: the request's own choice > the operator's setting for the model > the model's
//! embedded GGUF template (rendered by the `jinja` plugin) > the architecture / vocabulary
//! family > `chatml`.

use serde::Serialize;

/// The template used when nothing else decides.
pub const FALLBACK_TEMPLATE: &str = "chatml";
/// The template plugin that renders a model's own Jinja template.
pub const JINJA_TEMPLATE: &str = "jinja";

/// Why a template was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceReason {
    /// The request named it.
    Request,
    /// The operator configured it for this model.
    Operator,
    /// The model carries its own chat template.
    Embedded,
    /// The model's vocabulary has the template's special tokens.
    Vocabulary,
    /// The template lists the model's architecture in its `families`.
    Family,
    /// Nothing else applied.
    Fallback,
}

impl std::fmt::Display for ChoiceReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChoiceReason::Request => "asked for by the request",
            ChoiceReason::Operator => "configured for this model",
            ChoiceReason::Embedded => "the model's embedded chat template",
            ChoiceReason::Vocabulary => "the model's vocabulary has its special tokens",
            ChoiceReason::Family => "matches the model's architecture",
            ChoiceReason::Fallback => "default",
        })
    }
}

/// A template choice and its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateChoice {
    /// Name of the template plugin.
    pub name: String,
    /// Why it was chosen.
    pub reason: ChoiceReason,
}

/// What is known about the model when choosing.
#[derive(Debug, Clone, Default)]
pub struct ModelTraits<'a> {
    /// `general.architecture`.
    pub architecture: &'a str,
    /// Whether the GGUF embeds a chat template.
    pub has_embedded_template: bool,
    /// Special tokens found in the vocabulary (e.g. `<|eot_id|>`, `[INST]`).
    pub special_tokens: Vec<&'a str>,
}

/// Tokens whose presence in the vocabulary reveals the chat format of an architecture that
/// several families share (`llama` is used by Llama 2/3, Mistral and Mixtral alike).
pub const TELLTALE_TOKENS: [(&str, &str); 6] = [
    ("<|eot_id|>", "llama3"),
    ("<|start_header_id|>", "llama3"),
    ("[INST]", "mistral"),
    ("<|im_start|>", "chatml"),
    ("<start_of_turn>", "gemma"),
    ("<|assistant|>", "phi3"),
];

/// Chooses the template. `families` lists, per installed template plugin, the architectures
/// it declares as its own (`families` in its plugin.toml); `available` says whether a
/// plugin of that name is installed.
pub fn choose(
    requested: Option<&str>,
    operator: Option<&str>,
    model: &ModelTraits<'_>,
    families: &[(String, Vec<String>)],
    available: impl Fn(&str) -> bool,
) -> TemplateChoice {
    let pick = |name: &str, reason| TemplateChoice {
        name: name.to_string(),
        reason,
    };
    if let Some(name) = requested {
        return pick(name, ChoiceReason::Request);
    }
    if let Some(name) = operator {
        return pick(name, ChoiceReason::Operator);
    }
    if model.has_embedded_template && available(JINJA_TEMPLATE) {
        return pick(JINJA_TEMPLATE, ChoiceReason::Embedded);
    }
    for (name, archs) in families {
        if archs.iter().any(|a| a == model.architecture) {
            return pick(name, ChoiceReason::Family);
        }
    }
    for (token, template) in TELLTALE_TOKENS {
        if model.special_tokens.contains(&token) && available(template) {
            return pick(template, ChoiceReason::Vocabulary);
        }
    }
    pick(FALLBACK_TEMPLATE, ChoiceReason::Fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families() -> Vec<(String, Vec<String>)> {
        vec![
            ("gemma".into(), vec!["gemma2".into(), "gemma3".into()]),
            ("chatml".into(), vec!["qwen3moe".into()]),
        ]
    }

    fn traits(arch: &str, embedded: bool) -> ModelTraits<'_> {
        ModelTraits {
            architecture: arch,
            has_embedded_template: embedded,
            special_tokens: vec![],
        }
    }

    const ALL: fn(&str) -> bool = |_| true;

    #[test]
    fn request_beats_everything() {
        let c = choose(
            Some("phi3"),
            Some("gemma"),
            &traits("gemma3", true),
            &families(),
            ALL,
        );
        assert_eq!((c.name.as_str(), c.reason), ("phi3", ChoiceReason::Request));
    }

    #[test]
    fn operator_beats_embedded() {
        let c = choose(
            None,
            Some("gemma"),
            &traits("llama", true),
            &families(),
            ALL,
        );
        assert_eq!(
            (c.name.as_str(), c.reason),
            ("gemma", ChoiceReason::Operator)
        );
    }

    #[test]
    fn embedded_template_uses_jinja() {
        let c = choose(None, None, &traits("llama", true), &families(), ALL);
        assert_eq!(
            (c.name.as_str(), c.reason),
            ("jinja", ChoiceReason::Embedded)
        );
    }

    #[test]
    fn vocabulary_and_architecture_decide_without_a_template() {
        let mut t = traits("llama", false);
        t.special_tokens = vec!["<|eot_id|>"];
        let c = choose(None, None, &t, &families(), ALL);
        assert_eq!(
            (c.name.as_str(), c.reason),
            ("llama3", ChoiceReason::Vocabulary)
        );
        let c = choose(None, None, &traits("gemma3", false), &families(), ALL);
        assert_eq!((c.name.as_str(), c.reason), ("gemma", ChoiceReason::Family));
    }

    #[test]
    fn unknown_model_falls_back_to_chatml() {
        let c = choose(None, None, &traits("rwkv7", false), &families(), ALL);
        assert_eq!(
            (c.name.as_str(), c.reason),
            ("chatml", ChoiceReason::Fallback)
        );
    }
}
