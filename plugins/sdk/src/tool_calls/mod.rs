//! Tool calls and reasoning in raw model output, one module per model family's format.
//!
//! [`ToolCallFormat`] names the formats; [`ToolCallFormat::detect`] picks one from a chat
//! template's text (the way llama-server's chat layer detects a template's family) and
//! [`ToolCallFormat::from_name`] from a setting. Two entry points per format:
//!
//! * [`parse`]: the whole output → [`Parsed`] (content, reasoning, tool calls). What a
//!   template's `parse` returns.
//! * [`stream_view`]: a growing prefix of the output → [`StreamView`]: the reasoning and the
//!   content that are certain so far and whether call markup has started. Views of growing
//!   prefixes grow (each view's `content` and `reasoning` start with the previous view's), so a
//!   streaming parser sends the growth and stops streaming text once `markup_started` is set;
//!   [`parse`] of the whole output gives the calls at the end. [`markup_start`] and
//!   [`partial_marker`] are the two halves of that decision for callers that keep their own
//!   buffer, and [`incremental::Incremental`] wraps it all (push pieces, get the growth,
//!   finish with the calls).
//!
//! | format | family | calls | reasoning |
//! |---|---|---|---|
//! | [`Hermes`](ToolCallFormat::Hermes) | Hermes 2/3, Qwen 2.5/3, QwQ, MiMo | `<tool_call>{"name", "arguments"}</tool_call>` | `<think>` |
//! | [`Qwen3Coder`](ToolCallFormat::Qwen3Coder) | Qwen3-Coder, Qwen3.5, Nemotron 3 Nano, StepFun 3.5 | `<tool_call><function=NAME><parameter=K>V</parameter></function></tool_call>` | `<think>` |
//! | [`Llama3`](ToolCallFormat::Llama3) | Llama 3.1–3.3 | `<\|python_tag\|>{"name", "parameters"}` (`;`-separated) or a bare JSON call | – |
//! | [`Mistral`](ToolCallFormat::Mistral) | Mistral Nemo, Small 3.2, Devstral, Ministral 3 / Magistral | `[TOOL_CALLS][{..}]`, `[TOOL_CALLS]NAME[CALL_ID]id[ARGS]{..}` | `[THINK]…[/THINK]` |
//! | [`Harmony`](ToolCallFormat::Harmony) | gpt-oss | `<\|channel\|>commentary to=functions.NAME<\|message\|>{..}` | the `analysis` channel |
//! | [`DeepSeek`](ToolCallFormat::DeepSeek) | DeepSeek R1, V3.1+ | `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>…<｜tool▁call▁end｜>` | `<think>` |
//! | [`KimiK2`](ToolCallFormat::KimiK2) | Kimi K2 Instruct / Thinking | `<\|tool_call_begin\|>functions.NAME:0<\|tool_call_argument_begin\|>{..}` | `<think>` |
//! | [`Glm`](ToolCallFormat::Glm) | GLM 4.5–4.7 | `<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>` | `<think>` |
//! | [`FunctionaryV31`](ToolCallFormat::FunctionaryV31) | Functionary v3.1 | `<function=NAME>{..}</function>`, `<\|python_tag\|>code` | – |
//! | [`FunctionaryV32`](ToolCallFormat::FunctionaryV32) | Functionary v3.2 | `NAME\n{..}` after `>>>` (`all\n` is the answer) | – |
//! | [`CommandR7B`](ToolCallFormat::CommandR7B) | Command R7B, Command A / Cohere2 | `<\|START_ACTION\|>[{"tool_name", "parameters"}]<\|END_ACTION\|>` | `<\|START_THINKING\|>…<\|END_THINKING\|>` |
//! | [`Granite`](ToolCallFormat::Granite) | Granite 3.3, 4.x | `<\|tool_call\|>[{..}]`, `<tool_call>{..}</tool_call>` | `<think>` (+ `<response>`) |
//! | [`MiniMaxM2`](ToolCallFormat::MiniMaxM2) | MiniMax M2 | `<minimax:tool_call><invoke name="NAME"><parameter name="K">V</parameter></invoke>` | `<think>` |
//! | [`MiniMaxM3`](ToolCallFormat::MiniMaxM3) | MiniMax M3 | `]<]minimax[>[<tool_call>`, `<invoke name="NAME">`, `<K>V</K>` (nested values as elements) | `<mm:think>` |
//! | [`DeepSeekDsml`](ToolCallFormat::DeepSeekDsml) | DeepSeek V3.2, V4 | `<｜DSML｜function_calls><｜DSML｜invoke name="NAME"><｜DSML｜parameter name="K" string="true">V…` | `<think>` |
//! | [`Apriel`](ToolCallFormat::Apriel) | Apriel 1.5, 1.6 | `<tool_calls>[{"name", "arguments"}]</tool_calls>` | before `[BEGIN FINAL RESPONSE]` |
//! | [`Json`](ToolCallFormat::Json) | any | the whole output (maybe in a `` ```json `` fence) is a call, a list or `{"tool_calls": [..]}` | `<think>` |
//! | [`Auto`](ToolCallFormat::Auto) | unknown | the format whose markup the output carries, else JSON | all of the above |
//!
//! Rules shared by all formats: ids are `call_0`, `call_1`, … in order (the host makes them
//! unique); `arguments` is the JSON object serialized compactly (kept verbatim when the model
//! wrote it as a string, `{}` when missing); text that is not a call is never dropped: a block
//! that does not parse stays in the text untouched. No calls are taken out when no tools were
//! offered, and calls written without any marker (bare JSON) only count when every name is an
//! offered tool, so a JSON answer is not mistaken for a call.

pub mod apriel;
pub mod command_r7b;
pub mod deepseek;
pub mod dsml;
pub mod functionary;
pub mod glm;
pub mod granite;
pub mod harmony;
pub mod hermes;
pub mod incremental;
mod invoke;
pub mod json;
pub mod kimi_k2;
pub mod llama3;
pub mod minimax;
pub mod mistral;
pub mod qwen3_coder;
mod text;

pub use json::{call_from_value, parse_call_object};

use crate::reasoning::{self, THINK_CLOSE, THINK_OPEN};
use crate::{Parsed, ToolCall, ToolDefinition};

/// Opening tag of a Hermes tool call.
pub const HERMES_OPEN: &str = hermes::OPEN;
/// Closing tag of a Hermes tool call.
pub const HERMES_CLOSE: &str = hermes::CLOSE;
/// Llama 3.1's marker in front of a tool call.
pub const PYTHON_TAG: &str = llama3::PYTHON_TAG;
/// Mistral's marker in front of tool calls.
pub const MISTRAL_TOOL_CALLS: &str = mistral::TOOL_CALLS;
/// Mistral's separator between a function name and its arguments (newer tokenizers).
pub const MISTRAL_ARGS: &str = mistral::ARGS;
/// Mistral's optional call id marker between name and `[ARGS]`.
pub const MISTRAL_CALL_ID: &str = mistral::CALL_ID;

/// A way models write tool calls (and reasoning); see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ToolCallFormat {
    /// Hermes 2 Pro / Qwen 2.5 / Qwen 3: `<tool_call>{"name", "arguments"}</tool_call>`.
    Hermes,
    /// Qwen3-Coder XML: `<tool_call><function=NAME><parameter=K>V</parameter>…`.
    Qwen3Coder,
    /// Llama 3.1 / 3.2 / 3.3: `<|python_tag|>` JSON calls, or one bare JSON call.
    Llama3,
    /// Mistral / Devstral / Ministral: `[TOOL_CALLS]`.
    Mistral,
    /// gpt-oss harmony channels.
    Harmony,
    /// DeepSeek R1 and V3.1+: `<｜tool▁calls▁begin｜>`.
    DeepSeek,
    /// Kimi K2: `<|tool_calls_section_begin|>`.
    KimiK2,
    /// GLM 4.5–4.7: `<tool_call>NAME<arg_key>…`.
    Glm,
    /// Functionary v3.1: `<function=NAME>{..}</function>`.
    FunctionaryV31,
    /// Functionary v3.2: `>>>NAME\n{..}`.
    FunctionaryV32,
    /// Command R7B / Cohere2: `<|START_ACTION|>`.
    CommandR7B,
    /// Granite 3.3 / 4.x: `<|tool_call|>` or `<tool_call>`.
    Granite,
    /// MiniMax M2: `<minimax:tool_call><invoke name=…>`.
    MiniMaxM2,
    /// MiniMax M3: `]<]minimax[>[<tool_call>`.
    MiniMaxM3,
    /// DeepSeek V3.2 / V4 DSML: `<｜DSML｜function_calls>`.
    DeepSeekDsml,
    /// Apriel 1.5 / 1.6: `<tool_calls>[…]</tool_calls>`.
    Apriel,
    /// The whole output is JSON: a call, an array of calls or `{"tool_calls": [...]}`.
    Json,
    /// The format whose markup the output carries, else JSON.
    Auto,
}

/// Every format, in the order [`ToolCallFormat::name`] lists them.
pub const ALL_FORMATS: &[ToolCallFormat] = &[
    ToolCallFormat::Hermes,
    ToolCallFormat::Qwen3Coder,
    ToolCallFormat::Llama3,
    ToolCallFormat::Mistral,
    ToolCallFormat::Harmony,
    ToolCallFormat::DeepSeek,
    ToolCallFormat::KimiK2,
    ToolCallFormat::Glm,
    ToolCallFormat::FunctionaryV31,
    ToolCallFormat::FunctionaryV32,
    ToolCallFormat::CommandR7B,
    ToolCallFormat::Granite,
    ToolCallFormat::MiniMaxM2,
    ToolCallFormat::MiniMaxM3,
    ToolCallFormat::DeepSeekDsml,
    ToolCallFormat::Apriel,
    ToolCallFormat::Json,
    ToolCallFormat::Auto,
];

impl ToolCallFormat {
    /// The format's name: `hermes`, `qwen3-coder`, `llama3`, `mistral`, `harmony`,
    /// `deepseek`, `kimi-k2`, `glm`, `functionary-v3.1`, `functionary-v3.2`, `command-r7b`,
    /// `granite`, `minimax-m2`, `minimax-m3`, `deepseek-dsml`, `apriel`, `json` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            ToolCallFormat::Hermes => "hermes",
            ToolCallFormat::Qwen3Coder => "qwen3-coder",
            ToolCallFormat::Llama3 => "llama3",
            ToolCallFormat::Mistral => "mistral",
            ToolCallFormat::Harmony => "harmony",
            ToolCallFormat::DeepSeek => "deepseek",
            ToolCallFormat::KimiK2 => "kimi-k2",
            ToolCallFormat::Glm => "glm",
            ToolCallFormat::FunctionaryV31 => "functionary-v3.1",
            ToolCallFormat::FunctionaryV32 => "functionary-v3.2",
            ToolCallFormat::CommandR7B => "command-r7b",
            ToolCallFormat::Granite => "granite",
            ToolCallFormat::MiniMaxM2 => "minimax-m2",
            ToolCallFormat::MiniMaxM3 => "minimax-m3",
            ToolCallFormat::DeepSeekDsml => "deepseek-dsml",
            ToolCallFormat::Apriel => "apriel",
            ToolCallFormat::Json => "json",
            ToolCallFormat::Auto => "auto",
        }
    }

    /// The format named `name` (as [`ToolCallFormat::name`], case-insensitive; also `qwen`
    /// and `chatml` for Hermes, `llama` for Llama 3, `gpt-oss` for harmony, `kimi` for
    /// Kimi K2).
    pub fn from_name(name: &str) -> Option<ToolCallFormat> {
        let name = name.trim().to_ascii_lowercase();
        let alias = match name.as_str() {
            "qwen" | "chatml" => "hermes",
            "llama" => "llama3",
            "gpt-oss" => "harmony",
            "kimi" => "kimi-k2",
            other => other,
        };
        ALL_FORMATS.iter().copied().find(|f| f.name() == alias)
    }

    /// The format a model's own (Jinja) chat template teaches, checked in the order
    /// llama-server's chat layer checks the same markers; `Auto` when none is found.
    pub fn detect(chat_template: &str) -> ToolCallFormat {
        let has = |s: &str| chat_template.contains(s);
        if has("<|channel|>") {
            ToolCallFormat::Harmony
        } else if has(">>>all") {
            ToolCallFormat::FunctionaryV32
        } else if has(kimi_k2::SECTION_BEGIN) {
            ToolCallFormat::KimiK2
        } else if has(minimax::NS) && has("<invoke name=") {
            ToolCallFormat::MiniMaxM3
        } else if has("dsml_token") || has(dsml::TOKEN) {
            ToolCallFormat::DeepSeekDsml
        } else if has(deepseek::CALLS_BEGIN) {
            ToolCallFormat::DeepSeek
        } else if has(minimax::M2_OPEN) || has("<invoke name=") {
            ToolCallFormat::MiniMaxM2
        } else if has(apriel::CALLS_OPEN)
            && (has("<|begin_assistant|>") || has(apriel::REASONING_CLOSE))
        {
            ToolCallFormat::Apriel
        } else if has(qwen3_coder::FUNCTION_OPEN) && has(qwen3_coder::PARAMETER_OPEN) {
            ToolCallFormat::Qwen3Coder
        } else if has(glm::KEY_OPEN) {
            ToolCallFormat::Glm
        } else if has(command_r7b::ACTION_OPEN) {
            ToolCallFormat::CommandR7B
        } else if has(granite::TOOL_CALL) || (has("<|start_of_role|>") && has(HERMES_OPEN)) {
            ToolCallFormat::Granite
        } else if has(functionary::V31_OPEN) {
            ToolCallFormat::FunctionaryV31
        } else if has(MISTRAL_TOOL_CALLS) {
            ToolCallFormat::Mistral
        } else if has(HERMES_OPEN) {
            ToolCallFormat::Hermes
        } else if has(PYTHON_TAG) || (has("ipython") && has("<|start_header_id|>")) {
            ToolCallFormat::Llama3
        } else {
            ToolCallFormat::Auto
        }
    }

    /// The format whose markup `output` carries (what `Auto` parses with), else `Json`.
    pub fn detect_output(output: &str) -> ToolCallFormat {
        let has = |s: &str| output.contains(s);
        if harmony::looks_like_harmony(output) {
            ToolCallFormat::Harmony
        } else if has(deepseek::CALLS_BEGIN) || has(deepseek::CALL_BEGIN) {
            ToolCallFormat::DeepSeek
        } else if has(dsml::FUNCTION_CALLS_OPEN) || has(dsml::TOOL_CALLS_OPEN) {
            ToolCallFormat::DeepSeekDsml
        } else if has(minimax::M3_OPEN) {
            ToolCallFormat::MiniMaxM3
        } else if has(minimax::M2_OPEN) {
            ToolCallFormat::MiniMaxM2
        } else if has(apriel::CALLS_OPEN) {
            ToolCallFormat::Apriel
        } else if has(kimi_k2::SECTION_BEGIN) || has(kimi_k2::CALL_BEGIN) {
            ToolCallFormat::KimiK2
        } else if has(command_r7b::ACTION_OPEN) || has(command_r7b::THINKING_OPEN) {
            ToolCallFormat::CommandR7B
        } else if has(granite::TOOL_CALL) {
            ToolCallFormat::Granite
        } else if has(qwen3_coder::FUNCTION_OPEN) && has(qwen3_coder::PARAMETER_OPEN) {
            ToolCallFormat::Qwen3Coder
        } else if has(functionary::V31_OPEN) {
            ToolCallFormat::FunctionaryV31
        } else if has(HERMES_OPEN) && has(glm::KEY_OPEN) {
            ToolCallFormat::Glm
        } else if has(HERMES_OPEN) {
            ToolCallFormat::Hermes
        } else if has(MISTRAL_TOOL_CALLS) || has(mistral::THINK_OPEN) || has(mistral::THINK_CLOSE) {
            ToolCallFormat::Mistral
        } else if has(PYTHON_TAG) {
            ToolCallFormat::Llama3
        } else if has(minimax::M3_THINK_CLOSE) {
            ToolCallFormat::MiniMaxM3
        } else if has(apriel::REASONING_CLOSE) {
            ToolCallFormat::Apriel
        } else {
            ToolCallFormat::Json
        }
    }

    /// The reasoning delimiters of the format.
    pub fn reasoning_tags(self) -> (&'static str, &'static str) {
        match self {
            ToolCallFormat::Mistral => (mistral::THINK_OPEN, mistral::THINK_CLOSE),
            ToolCallFormat::CommandR7B => (command_r7b::THINKING_OPEN, command_r7b::THINKING_CLOSE),
            ToolCallFormat::Harmony => ("<|channel|>analysis<|message|>", harmony::END),
            ToolCallFormat::MiniMaxM3 => (minimax::M3_THINK_OPEN, minimax::M3_THINK_CLOSE),
            ToolCallFormat::Apriel => (apriel::REASONING_OPEN, apriel::REASONING_CLOSE),
            _ => (THINK_OPEN, THINK_CLOSE),
        }
    }

    /// The texts where this format's call markup starts.
    pub fn markers(self) -> Vec<&'static str> {
        match self {
            ToolCallFormat::Hermes => hermes::MARKERS.to_vec(),
            ToolCallFormat::Qwen3Coder => qwen3_coder::MARKERS.to_vec(),
            ToolCallFormat::Llama3 => llama3::MARKERS.to_vec(),
            ToolCallFormat::Mistral => mistral::MARKERS.to_vec(),
            ToolCallFormat::Harmony => harmony::MARKERS.to_vec(),
            ToolCallFormat::DeepSeek => deepseek::MARKERS.to_vec(),
            ToolCallFormat::KimiK2 => kimi_k2::MARKERS.to_vec(),
            ToolCallFormat::Glm => glm::MARKERS.to_vec(),
            ToolCallFormat::FunctionaryV31 => functionary::V31_MARKERS.to_vec(),
            ToolCallFormat::FunctionaryV32 => functionary::V32_MARKERS.to_vec(),
            ToolCallFormat::CommandR7B => command_r7b::MARKERS.to_vec(),
            ToolCallFormat::Granite => granite::MARKERS.to_vec(),
            ToolCallFormat::MiniMaxM2 => minimax::M2_MARKERS.to_vec(),
            ToolCallFormat::MiniMaxM3 => minimax::M3_MARKERS.to_vec(),
            ToolCallFormat::DeepSeekDsml => dsml::MARKERS.to_vec(),
            ToolCallFormat::Apriel => apriel::MARKERS.to_vec(),
            ToolCallFormat::Json => Vec::new(),
            ToolCallFormat::Auto => {
                let mut all: Vec<&'static str> = ALL_FORMATS
                    .iter()
                    .filter(|f| {
                        !matches!(
                            f,
                            ToolCallFormat::Auto
                                | ToolCallFormat::Harmony
                                | ToolCallFormat::FunctionaryV32
                        )
                    })
                    .flat_map(|f| f.markers())
                    .collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        }
    }

    /// Whether a call in this format may be written without any marker (bare JSON at the
    /// start of the output).
    fn allows_bare_json(self) -> bool {
        matches!(
            self,
            ToolCallFormat::Llama3 | ToolCallFormat::Json | ToolCallFormat::Auto
        )
    }
}

/// What a prefix of the output shows so far (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamView {
    /// The reasoning that is certain so far (trimmed).
    pub reasoning: String,
    /// The answer text that is certain so far: before any call markup, without a trailing
    /// cut-off marker, leading and trailing whitespace held back.
    pub content: String,
    /// Whether tool-call markup has started (text after it belongs to the calls).
    pub markup_started: bool,
}

/// What [`stream_view`] needs to know besides the text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// Tools were offered (else nothing is call markup).
    pub tools_offered: bool,
    /// The rendered prompt already opened the reasoning block (it ends with `<think>`, see
    /// [`prompt_opens_reasoning`]), so the output starts inside it.
    pub reasoning_open: bool,
}

/// Whether a rendered prompt ends inside an opened reasoning block (DeepSeek R1, GLM 4.7,
/// Qwen3 thinking templates end the generation prompt with `<think>` and a newline).
pub fn prompt_opens_reasoning(prompt: &str, format: ToolCallFormat) -> bool {
    let (open, close) = format.reasoning_tags();
    let tail = prompt.trim_end();
    format != ToolCallFormat::Harmony
        && tail.ends_with(open)
        && !tail.ends_with(&format!("{open}{close}"))
}

/// The format and reasoning state a streamed answer starts in, from the configured `format`
/// and the end of the rendered prompt (`prompt_end`; empty when unknown): `Auto` becomes
/// `Apriel` when the prompt opened Apriel's reasoning (`Here are my reasoning steps:`; its
/// output carries no tag of its own that `Auto` could find while it streams), and the
/// reasoning is open when the prompt opened it ([`prompt_opens_reasoning`]).
pub fn stream_start(format: ToolCallFormat, prompt_end: &str) -> (ToolCallFormat, bool) {
    let format = match format {
        ToolCallFormat::Auto if prompt_opens_reasoning(prompt_end, ToolCallFormat::Apriel) => {
            ToolCallFormat::Apriel
        }
        f => f,
    };
    (format, prompt_opens_reasoning(prompt_end, format))
}

/// Splits `output` into the remaining text (trimmed) and the tool calls found in it, in order,
/// accepting any function name (see the module documentation for the formats).
pub fn extract_tool_calls(output: &str, format: ToolCallFormat) -> (String, Vec<ToolCall>) {
    extract(output, format, None).unwrap_or_else(|| (output.trim().to_string(), Vec::new()))
}

/// What a template's `parse` wants: like [`extract_tool_calls`], but no calls at all when
/// `tools` is empty (the text is only trimmed), and calls written without any marker (bare
/// JSON) only when every name is one of `tools`.
pub fn extract_offered(
    output: &str,
    format: ToolCallFormat,
    tools: &[ToolDefinition],
) -> (String, Vec<ToolCall>) {
    if tools.is_empty() {
        return (output.trim().to_string(), Vec::new());
    }
    extract(output, format, Some(tools)).unwrap_or_else(|| (output.trim().to_string(), Vec::new()))
}

fn extract(
    output: &str,
    format: ToolCallFormat,
    known: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    let non_empty =
        |(text, calls): (String, Vec<ToolCall>)| (!calls.is_empty()).then_some((text, calls));
    match format {
        ToolCallFormat::Hermes => non_empty(hermes::extract(output)),
        ToolCallFormat::Qwen3Coder => qwen3_coder::extract(output, known),
        ToolCallFormat::Llama3 => llama3::extract(output, known),
        ToolCallFormat::Mistral => mistral::extract(output),
        ToolCallFormat::Harmony => {
            let p = harmony::parse(output, true);
            non_empty((p.content, p.tool_calls))
        }
        ToolCallFormat::DeepSeek => deepseek::extract(output),
        ToolCallFormat::KimiK2 => kimi_k2::extract(output),
        ToolCallFormat::Glm => glm::extract(output, known),
        ToolCallFormat::FunctionaryV31 => functionary::extract_v31(output),
        ToolCallFormat::FunctionaryV32 => functionary::extract_v32(output),
        ToolCallFormat::CommandR7B => command_r7b::extract(output),
        ToolCallFormat::Granite => granite::extract(output),
        ToolCallFormat::MiniMaxM2 => minimax::extract_m2(output, known),
        ToolCallFormat::MiniMaxM3 => minimax::extract_m3(output, known),
        ToolCallFormat::DeepSeekDsml => dsml::extract(output, known),
        ToolCallFormat::Apriel => apriel::extract(output),
        ToolCallFormat::Json => json::extract(output, known),
        ToolCallFormat::Auto => match ToolCallFormat::detect_output(output) {
            ToolCallFormat::Json => {
                llama3::extract(output, known).or_else(|| json::extract(output, known))
            }
            found => extract(output, found, known).or_else(|| json::extract(output, known)),
        },
    }
}

/// The answer as the user sees it: the format's answer wrappers taken off.
fn clean_content(format: ToolCallFormat, text: &str) -> String {
    match format {
        ToolCallFormat::CommandR7B => command_r7b::clean(text),
        ToolCallFormat::Granite => granite::clean(text),
        ToolCallFormat::Apriel => apriel::clean(text),
        ToolCallFormat::FunctionaryV32 if text.starts_with(functionary::V32_ALL) => {
            functionary::v32_answer(text)
        }
        _ => text.trim().to_string(),
    }
}

/// Reasoning and the rest, at the format's reasoning tags (`<think>` is understood by every
/// format).
fn split_reasoning(format: ToolCallFormat, output: &str) -> (Option<String>, String) {
    let (open, close) = format.reasoning_tags();
    match format {
        ToolCallFormat::Apriel if output.contains(apriel::THINKING_OPEN) => {
            reasoning::split_tagged(output, apriel::THINKING_OPEN, apriel::THINKING_CLOSE)
        }
        ToolCallFormat::Mistral
        | ToolCallFormat::CommandR7B
        | ToolCallFormat::MiniMaxM3
        | ToolCallFormat::Apriel => {
            let (r, rest) = reasoning::split_tagged(output, open, close);
            match r {
                Some(r) => (Some(r), rest),
                None => reasoning::split_reasoning(output),
            }
        }
        _ => reasoning::split_reasoning(output),
    }
}

/// The whole output → content, reasoning and (when `tools` were offered) tool calls.
pub fn parse(format: ToolCallFormat, output: &str, tools: &[ToolDefinition]) -> Parsed {
    let format = match format {
        ToolCallFormat::Auto => ToolCallFormat::detect_output(output),
        f => f,
    };
    if format == ToolCallFormat::Harmony {
        return harmony::parse(output, !tools.is_empty());
    }
    let (reasoning, rest) = split_reasoning(format, output);
    let (content, tool_calls) = if format == ToolCallFormat::Json {
        extract_offered(&rest, ToolCallFormat::Auto, tools)
    } else {
        extract_offered(&rest, format, tools)
    };
    Parsed {
        content: clean_content(format, &content),
        reasoning,
        tool_calls,
    }
}

/// Where call markup has started in `text` (a prefix of the output, after any reasoning):
/// the first marker of the format, or 0 when the format allows bare JSON calls and the text
/// opens like one.
pub fn markup_start(format: ToolCallFormat, text: &str) -> Option<usize> {
    if format == ToolCallFormat::Harmony {
        return harmony::markup_start(text);
    }
    if format.allows_bare_json() && json::opens_like_json(text) {
        return Some(0);
    }
    if format == ToolCallFormat::FunctionaryV32 {
        if v32_recipient(text) == Some(false) {
            return Some(0);
        }
        return text
            .match_indices(functionary::V32_RECIPIENT)
            .map(|(i, _)| i)
            .find(|&i| {
                v32_recipient(&text[i + functionary::V32_RECIPIENT.len()..]) == Some(false)
            });
    }
    format.markers().iter().filter_map(|m| text.find(m)).min()
}

/// Functionary v3.2: whether `after` (the text after a `>>>`, or the whole output) is
/// addressed to `all` (`Some(true)`), to a function (`Some(false)`), or cannot tell yet.
fn v32_recipient(after: &str) -> Option<bool> {
    let all = functionary::V32_ALL;
    match after.split_once('\n') {
        Some((recipient, _)) => Some(recipient.trim() == all),
        None if all.starts_with(after) || after == all => None,
        None => Some(false),
    }
}

/// Where a trailing, cut-off beginning of one of `markers` starts in `text` (it may become
/// the marker with the next piece of output), if one does.
pub fn partial_marker_among(markers: &[&str], text: &str) -> Option<usize> {
    let mut best: Option<usize> = None;
    for m in markers {
        for (i, _) in m.char_indices().skip(1) {
            if text.ends_with(&m[..i]) {
                let at = text.len() - i;
                best = Some(best.map_or(at, |b| b.min(at)));
            }
        }
    }
    best
}

/// [`partial_marker_among`] the format's call markers.
pub fn partial_marker(format: ToolCallFormat, text: &str) -> Option<usize> {
    if format.allows_bare_json() {
        let t = text.trim_start();
        if !t.is_empty() && "```".starts_with(t) {
            return Some(text.len() - t.len());
        }
    }
    if format == ToolCallFormat::FunctionaryV32 {
        // `>>>` not yet followed by a whole recipient may start a call.
        if let Some(i) = text.rfind(functionary::V32_RECIPIENT) {
            if v32_recipient(&text[i + functionary::V32_RECIPIENT.len()..]).is_none() {
                return Some(i);
            }
        }
    }
    partial_marker_among(&format.markers(), text)
}

/// The text of `text` that is the format's answer so far, for streaming: answer wrappers
/// removed (also cut-off ones at the end).
fn stream_content(format: ToolCallFormat, text: &str) -> String {
    let wrappers: &[&str] = match format {
        ToolCallFormat::CommandR7B => command_r7b::RESPONSE_TAGS,
        ToolCallFormat::Granite => granite::RESPONSE_TAGS,
        ToolCallFormat::Apriel => apriel::RESPONSE_TAGS,
        _ => &[],
    };
    let mut s = text.to_string();
    for w in wrappers {
        s = s.replace(w, "");
    }
    if let Some(i) = partial_marker_among(wrappers, &s) {
        s.truncate(i);
    }
    if format == ToolCallFormat::FunctionaryV32 {
        let all = format!("{}\n", functionary::V32_ALL);
        let t = s.trim_start();
        if all.starts_with(t) {
            return String::new();
        }
        if let Some(rest) = t.strip_prefix(&all) {
            return rest.trim().to_string();
        }
    }
    s.trim().to_string()
}

/// `Auto`'s reasoning tags for an output that starts with `trimmed`: those of the family whose
/// opening tag it starts with (or may still become), else `<think>`.
fn auto_reasoning_tags(trimmed: &str) -> (&'static str, &'static str) {
    let tags = [
        ToolCallFormat::Mistral,
        ToolCallFormat::CommandR7B,
        ToolCallFormat::MiniMaxM3,
    ]
    .map(ToolCallFormat::reasoning_tags);
    tags.iter()
        .find(|(open, _)| trimmed.starts_with(open))
        .or_else(|| {
            tags.iter()
                .find(|(open, _)| !trimmed.is_empty() && open.starts_with(trimmed))
        })
        .copied()
        .unwrap_or((THINK_OPEN, THINK_CLOSE))
}

/// What a growing prefix of the output shows so far (see the module documentation).
pub fn stream_view(format: ToolCallFormat, text: &str, options: StreamOptions) -> StreamView {
    if format == ToolCallFormat::Harmony
        || (format == ToolCallFormat::Auto && text.contains(harmony::CHANNEL))
    {
        let mut view = harmony::stream_view(text);
        view.markup_started &= options.tools_offered;
        return view;
    }
    let trimmed = text.trim_start();
    let (open, close) = match format {
        ToolCallFormat::Auto => auto_reasoning_tags(trimmed),
        f => f.reasoning_tags(),
    };
    let mut view = StreamView::default();
    let rest = if options.reasoning_open || trimmed.starts_with(open) {
        let body = trimmed.strip_prefix(open).unwrap_or(trimmed);
        match body.find(close) {
            Some(end) => {
                view.reasoning = body[..end].trim().to_string();
                &body[end + close.len()..]
            }
            None => {
                let held = partial_marker_among(&[close], body).unwrap_or(body.len());
                view.reasoning = body[..held].trim().to_string();
                return view;
            }
        }
    } else if open.starts_with(trimmed) && !trimmed.is_empty() {
        // `<thi` may become `<think>`.
        return view;
    } else {
        text
    };
    let mut cut = rest.len();
    if let Some(i) = rest.find(open) {
        cut = cut.min(i);
    }
    if let Some(i) = partial_marker_among(&[open], rest) {
        cut = cut.min(i);
    }
    if options.tools_offered {
        if let Some(i) = markup_start(format, rest) {
            view.markup_started = true;
            cut = cut.min(i);
        }
        if let Some(i) = partial_marker(format, rest) {
            cut = cut.min(i);
        }
    }
    view.content = stream_content(format, &rest[..cut]);
    view
}

#[cfg(test)]
pub(crate) mod tests;
