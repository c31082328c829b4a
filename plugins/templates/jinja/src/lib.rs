//! `jinja`: renders the model's own chat template (`tokenizer.chat_template` from the GGUF,
//! given as `model.chat-template`) with minijinja, the way Hugging Face transformers'
//! `apply_chat_template` does:
//!
//! * environment: `trim_blocks` and `lstrip_blocks` on, lenient undefined values, loop controls,
//!   Python string/dict/list methods (`.strip()`, `.startswith()`, `.split()`, `.items()`, ...)
//!   through `minijinja-contrib`'s pycompat;
//! * variables: `messages` (OpenAI-shaped: `role`, `content`, and when present `tool_calls`
//!   as `[{id, type: "function", function: {name, arguments}}]` with `arguments` parsed into an
//!   object when it is JSON, `tool_call_id`, `name`, `reasoning_content`), `tools` (OpenAI-shaped
//!   `{type: "function", function: {name, description, parameters}}`, or `none` when there are
//!   none), `add_generation_prompt`, `bos_token`, `eos_token`;
//! * functions: `raise_exception(msg)` (becomes plugin-error `invalid-input` with `msg`),
//!   `strftime_now(fmt)` (UTC wall clock);
//! * filters: minijinja's built-ins, with `tojson` replaced by transformers' version (Python
//!   `json.dumps` output: `", "`/`": "` separators, insertion order; `indent`, `ensure_ascii`,
//!   `sort_keys`, `separators` keyword arguments accepted);
//! * jinja2's `Markup` (`"..."|safe + text` escapes the text) in templates that make one
//!   ([`markup`]).
//!
//! Stop strings: the EOS text, then the turn-end markers of the template's family that occur
//! in the template text ([`stops`]). add-bos: false when the prompt already starts with the BOS
//! text, else true.
//!
//! Settings: `now` (Unix seconds) fixes the time `strftime_now` formats; `tool-call-format`
//! (below). The host sets three per request ([`RenderOptions::from_settings`]):
//! `enable-thinking` and `reasoning-effort` become the template variables `enable_thinking`
//! and `reasoning_effort`; `tool-prompt = hermes` (for a template that drops tools) lowers the
//! request first ([`generic_tools::lower`]: the Hermes `<tools>` block in the system message,
//! calls and results as `<tool_call>` / `<tool_response>` text), whose calls `parse` reads.
//!
//! `parse`: reasoning and tool calls in the format of the model's family
//! ([`shimmy_plugin_sdk::tool_calls`]: Hermes, Qwen3-Coder XML, Llama 3, Mistral, gpt-oss
//! harmony, DeepSeek, Kimi K2, GLM, Functionary v3.1/v3.2, Command R7B, Granite, MiniMax M2/M3,
//! DeepSeek V3.2/V4 DSML, Apriel). The setting
//! `tool-call-format` names it (e.g. `--plugin-config jinja:tool-call-format=qwen3-coder`);
//! by default `auto`, which reads the format off the markup the output carries. The contract's
//! `parse` does not receive the chat template; [`ToolCallFormat::detect`] gives what a template
//! text teaches (the render uses it for the stop strings).

mod content_marks;
mod context;
mod environment;
mod markup;
mod pyvalues;
mod stops;
mod strftime;

pub use pyvalues::{json_to_value, value_to_json};
pub use stops::{stop_strings, TURN_END_MARKERS};
pub use strftime::strftime;

use environment::{environment, rewrite_generation_tags, syntax, Raised};
use minijinja::Error;
use shimmy_plugin_sdk::stream::{OutputParser, WholeTextParser};
use shimmy_plugin_sdk::tool_calls::incremental::Incremental;
use shimmy_plugin_sdk::tool_calls::{self, ToolCallFormat, ALL_FORMATS};
use shimmy_plugin_sdk::{
    export_template, generic_tools, Parsed, PluginError, RenderRequest, Rendered, Template,
    TemplateInfo, ToolDefinition,
};
use std::borrow::Cow;

/// The template.
pub struct Jinja;

/// How one render goes beyond the request itself (from the plugin's settings and the host's
/// per-request settings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// The Unix time (seconds, UTC) that `strftime_now` formats.
    pub now: i64,
    /// The template variable `enable_thinking` (setting `enable-thinking`); unset when `None`.
    pub enable_thinking: Option<bool>,
    /// The template variable `reasoning_effort` (setting `reasoning-effort`); unset when `None`.
    pub reasoning_effort: Option<String>,
    /// Offer the tools as the Hermes `<tools>` block in the system message instead of passing
    /// them to the template (setting `tool-prompt = hermes`, for templates that drop tools).
    pub hermes_tools: bool,
}

impl RenderOptions {
    /// The options the settings give (`now`, `enable-thinking`, `reasoning-effort`,
    /// `tool-prompt`), read through `get`.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Result<Self, PluginError> {
        let enable_thinking = match get("enable-thinking").as_deref().map(str::trim) {
            None | Some("") => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(PluginError::invalid_input(format!(
                    "jinja: setting enable-thinking = \"{other}\" is not true or false"
                )))
            }
        };
        let hermes_tools = match get("tool-prompt").as_deref().map(str::trim) {
            None | Some("") | Some("template") => false,
            Some("hermes") => true,
            Some(other) => {
                return Err(PluginError::invalid_input(format!(
                    "jinja: setting tool-prompt = \"{other}\" is not template or hermes"
                )))
            }
        };
        Ok(RenderOptions {
            now: clock(get("now"))?,
            enable_thinking,
            reasoning_effort: get("reasoning-effort").filter(|e| !e.trim().is_empty()),
            hermes_tools,
        })
    }
}

/// Renders `req` with its model's chat template; `now` is the Unix time (seconds, UTC) that
/// `strftime_now` formats. Pure: no host calls.
pub fn render_with_time(req: &RenderRequest, now: i64) -> Result<Rendered, PluginError> {
    render_with(
        req,
        &RenderOptions {
            now,
            ..RenderOptions::default()
        },
    )
}

/// Renders `req` with its model's chat template and `options`. Pure: no host calls.
pub fn render_with(req: &RenderRequest, options: &RenderOptions) -> Result<Rendered, PluginError> {
    render_in(req, options, markup::Mode::Detect)
}

/// [`render_with`], with jinja2's `Markup` semantics where `markup` says.
fn render_in(
    req: &RenderRequest,
    options: &RenderOptions,
    markup: markup::Mode,
) -> Result<Rendered, PluginError> {
    let lowered;
    let req = if options.hermes_tools {
        lowered = generic_tools::lower(req)?;
        &lowered
    } else {
        req
    };
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
    let prompt = render_prompt(source, req, options, markup)?;

    let eos = req.model.eos_token.clone().unwrap_or_default();
    let bos = req.model.bos_token.clone().unwrap_or_default();
    let stop = stop_strings(source, ToolCallFormat::detect(source), &eos);
    let add_bos = bos.is_empty() || !prompt.starts_with(&bos);
    Ok(Rendered {
        prompt,
        stop,
        add_bos,
    })
}

/// The prompt text `source` renders for `req`.
fn render_prompt(
    source: &str,
    req: &RenderRequest,
    options: &RenderOptions,
    markup: markup::Mode,
) -> Result<String, PluginError> {
    let raised: Raised = Default::default();
    let source = rewrite_generation_tags(source);
    let markup = markup::rewrite(&source, syntax()?, markup);
    let env = environment(options.now, raised.clone(), markup.is_some())?;
    let source = markup.map_or(source, Cow::Owned);
    let template = env
        .template_from_str(&source)
        .map_err(|e| template_error("parsing", &e))?;
    template
        .render(context::context_with(
            req,
            options.enable_thinking,
            options.reasoning_effort.as_deref(),
        )?)
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

/// The time `strftime_now` formats: the setting `now` (Unix seconds, for reproducible
/// prompts, e.g. `--plugin-config jinja:now=1721995200`) or the clock.
pub fn clock(setting: Option<String>) -> Result<i64, PluginError> {
    match setting {
        None => Ok(unix_now()),
        Some(s) => s.trim().parse().map_err(|_| {
            PluginError::invalid_input(format!(
                "jinja: setting now = \"{s}\" is not a Unix time in seconds (e.g. 1721995200)"
            ))
        }),
    }
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

/// Reasoning, answer and (when tools were offered) tool calls in `format`.
pub fn parse_output_with(output: &str, tools: &[ToolDefinition], format: ToolCallFormat) -> Parsed {
    tool_calls::parse(format, output, tools)
}

/// The format the `tool-call-format` setting names (`auto` when unset).
pub fn configured_format(setting: Option<String>) -> Result<ToolCallFormat, PluginError> {
    let Some(name) = setting else {
        return Ok(ToolCallFormat::Auto);
    };
    ToolCallFormat::from_name(&name).ok_or_else(|| {
        let names: Vec<&str> = ALL_FORMATS.iter().map(|f| f.name()).collect();
        PluginError::invalid_input(format!(
            "jinja: setting tool-call-format = \"{name}\" is not one of {}",
            names.join(", ")
        ))
    })
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
        let options = RenderOptions::from_settings(shimmy_plugin_sdk::config::get)?;
        render_with(&req, &options)
    }

    fn parse(output: String, tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        let format = configured_format(shimmy_plugin_sdk::config::get("tool-call-format"))?;
        Ok(parse_output_with(&output, &tools, format))
    }

    /// The SDK's incremental parser of the configured format (what `parse` runs at the end),
    /// started where the rendered prompt left the answer (the host's `prompt-end` setting:
    /// inside reasoning the prompt opened, Apriel's under `auto` too); with a bad
    /// `tool-call-format` setting, the whole-text parser, so each piece reports it.
    fn parser(tools: Vec<ToolDefinition>) -> Box<dyn OutputParser> {
        match configured_format(shimmy_plugin_sdk::config::get("tool-call-format")) {
            Ok(format) => {
                let prompt_end = shimmy_plugin_sdk::config::get("prompt-end").unwrap_or_default();
                let (format, reasoning_open) = tool_calls::stream_start(format, &prompt_end);
                Box::new(Incremental::new(format, tools, reasoning_open))
            }
            Err(_) => Box::new(WholeTextParser::new(tools, Self::parse)),
        }
    }
}

export_template!(Jinja);

#[cfg(test)]
mod compat;
#[cfg(test)]
mod corpus;
#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;
