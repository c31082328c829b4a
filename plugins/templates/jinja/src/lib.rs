//! `jinja`: renders the model's own chat template (`tokenizer.chat_template` from the GGUF,
//! given as `model.chat-template`) with minijinja, the way Hugging Face transformers'
//! `apply_chat_template` does:
//!
//! * environment: `trim_blocks` and `lstrip_blocks` on, lenient undefined values, loop controls,
//!   Python string/dict/list methods (`.strip()`, `.startswith()`, `.split()`, `.items()`, ...)
//!   through `minijinja-contrib`'s pycompat;
//! * variables: `messages` (OpenAI-shaped: `role`, `content`, and when present `tool_calls`
//!   as `[{id, type: "function", function: {name, arguments}}]` with `arguments` parsed into an
//!   object when it is JSON, `tool_call_id`, `name`), `tools` (OpenAI-shaped
//!   `{type: "function", function: {name, description, parameters}}`, or `none` when there are
//!   none), `add_generation_prompt`, `bos_token`, `eos_token`;
//! * functions: `raise_exception(msg)` (becomes plugin-error `invalid-input` with `msg`),
//!   `strftime_now(fmt)` (UTC wall clock);
//! * filters: minijinja's built-ins, with `tojson` replaced by transformers' version (Python
//!   `json.dumps` output: `", "`/`": "` separators, insertion order; `indent`, `ensure_ascii`,
//!   `sort_keys`, `separators` keyword arguments accepted).
//!
//! Stop strings: the EOS text, then the usual turn-end markers that occur in the template text.
//! add-bos: false when the prompt already starts with the BOS text, else true.
//! `parse`: reasoning split off; when tools were offered, tool calls extracted in the format set
//! by the `tool-call-format` setting (`hermes`, `llama3`, `mistral`, `json`, `auto`; e.g.
//! `--plugin-config jinja:tool-call-format=llama3`), by default `auto` (Hermes `<tool_call>`,
//! Mistral `[TOOL_CALLS]`, Llama 3 `<|python_tag|>`, then bare JSON, the first that finds a
//! call). The contract's `parse` does not receive the chat template, so the format cannot be
//! detected from it there; [`ToolCallFormat::detect`] gives what a template text teaches.

mod context;
mod environment;
mod pyvalues;
mod strftime;

pub use pyvalues::{json_to_value, value_to_json};
pub use strftime::strftime;

use environment::{environment, rewrite_generation_tags, Raised};
use minijinja::Error;
use shimmy_plugin_sdk::prompt::push_stop;
use shimmy_plugin_sdk::tool_calls::{extract_offered, ToolCallFormat};
use shimmy_plugin_sdk::{
    export_template, reasoning, Parsed, PluginError, RenderRequest, Rendered, Template,
    TemplateInfo, ToolDefinition,
};

/// Turn-end markers looked for in the template text; each one found becomes a stop string.
pub const TURN_END_MARKERS: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<｜end▁of▁sentence｜>",
    "<|return|>",
    "<|END_OF_TURN_TOKEN|>",
];

/// The template.
pub struct Jinja;

/// Renders `req` with its model's chat template; `now` is the Unix time (seconds, UTC) that
/// `strftime_now` formats. Pure: no host calls.
pub fn render_with_time(req: &RenderRequest, now: i64) -> Result<Rendered, PluginError> {
    let source = req
        .model
        .chat_template
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            PluginError::not_found(format!(
                "the model ({}) has no chat template (tokenizer.chat_template); choose a named template",
                req.model.architecture
            ))
        })?;
    let prompt = render_prompt(source, req, now)?;

    let eos = req.model.eos_token.clone().unwrap_or_default();
    let bos = req.model.bos_token.clone().unwrap_or_default();
    let mut stop = Vec::new();
    push_stop(&mut stop, &eos);
    for marker in TURN_END_MARKERS {
        if source.contains(marker) {
            push_stop(&mut stop, marker);
        }
    }
    let add_bos = bos.is_empty() || !prompt.starts_with(&bos);
    Ok(Rendered {
        prompt,
        stop,
        add_bos,
    })
}

/// The prompt text `source` renders for `req`.
fn render_prompt(source: &str, req: &RenderRequest, now: i64) -> Result<String, PluginError> {
    let raised: Raised = Default::default();
    let env = environment(now, raised.clone())?;
    let source = rewrite_generation_tags(source);
    let template = env
        .template_from_str(&source)
        .map_err(|e| template_error("parsing", &e))?;
    template
        .render(context::context(req)?)
        .map_err(|e| match raised.lock().unwrap().take() {
            Some(msg) => PluginError::invalid_input(msg),
            None => template_error("rendering", &e),
        })
}

fn template_error(what: &str, e: &Error) -> PluginError {
    let mut msg = format!("chat template: {what} failed: {e}");
    if let Some(detail) = e.detail() {
        if !msg.contains(detail) {
            msg.push_str(&format!(" ({detail})"));
        }
    }
    if let Some(line) = e.line() {
        msg.push_str(&format!(" at line {line}"));
    }
    PluginError::failed(msg)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// [`parse_output_with`] in the `auto` format.
pub fn parse_output(output: &str, tools: &[ToolDefinition]) -> Parsed {
    parse_output_with(output, tools, ToolCallFormat::Auto)
}

/// Reasoning split off; when tools were offered, tool calls in `format` extracted.
pub fn parse_output_with(output: &str, tools: &[ToolDefinition], format: ToolCallFormat) -> Parsed {
    let (reasoning, content) = reasoning::split_reasoning(output);
    let (content, tool_calls) = extract_offered(&content, format, tools);
    Parsed {
        content,
        reasoning,
        tool_calls,
    }
}

impl Template for Jinja {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "jinja".into(),
            description:
                "The model's own chat template (tokenizer.chat_template), rendered with minijinja"
                    .into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        render_with_time(&req, unix_now())
    }

    fn parse(output: String, tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        let format = match shimmy_plugin_sdk::config::get("tool-call-format") {
            None => ToolCallFormat::Auto,
            Some(name) => ToolCallFormat::from_name(&name).ok_or_else(|| {
                PluginError::invalid_input(format!(
                    "jinja: setting tool-call-format = \"{name}\" is not one of hermes, llama3, \
                     mistral, json, auto"
                ))
            })?,
        };
        Ok(parse_output_with(&output, &tools, format))
    }
}

export_template!(Jinja);

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;
