//! # shimmy-plugin-sdk
//!
//! What a shimmy-host plugin depends on. It hides `wit-bindgen` behind three traits and three
//! export macros, one pair per kind of plugin (world of the `shimmy:plugin@0.1.2` contract):
//!
//! | kind       | trait        | macro               | world             | export                          |
//! |------------|--------------|---------------------|-------------------|---------------------------------|
//! | template   | [`Template`] | [`export_template!`] | `template-plugin` | `shimmy:plugin/template@0.1.2`  |
//! | tool       | [`Tool`]     | [`export_tool!`]     | `tool-plugin`     | `shimmy:plugin/tool@0.1.2`      |
//! | workflow   | [`Workflow`] | [`export_workflow!`] | `workflow-plugin` | `shimmy:plugin/workflow@0.1.2`  |
//!
//! The host's imports are wrapped in friendly modules: [`log`], [`config`] (every kind) and
//! [`inference`], [`tools`] (workflow plugins only: a template or tool plugin that calls them
//! builds, but the host refuses to instantiate it because its world does not provide them).
//!
//! A template plugin also exports what contract 0.1.1 added, with defaults built on `render`
//! and `parse`: `render-spans` ([`Template::render_spans`], the prompt marked into template
//! text and request content, see [`spans`]) and the `output-parser` resource
//! ([`Template::parser`], parsing while the answer streams, see [`stream`]).
//!
//! Helpers shared by templates: [`reasoning`] (split `<think>` reasoning from the answer),
//! [`generic_tools`] (Hermes-style tools for templates without a tool format of their own),
//! [`tool_calls`] (find tool calls in model output), [`chatml`] (a ChatML renderer with
//! Qwen-style tools), [`prompt`] (small conversation helpers) and [`pyjson`] (Python
//! `json.dumps`-compatible serialization, the way Hugging Face chat templates print JSON).
//!
//! Everything except the host imports is plain Rust that also compiles for the host target, so a
//! plugin's logic is unit-tested with a native `cargo test`. Natively the imports do not panic:
//! [`log`] prints to stderr, [`config`] is empty, and [`inference`] / [`tools`] return
//! `unsupported`.
//!
//! A complete template plugin:
//!
//! ```no_run
//! use shimmy_plugin_sdk::{export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo};
//!
//! struct Hello;
//!
//! impl Template for Hello {
//!     fn describe() -> TemplateInfo {
//!         TemplateInfo { name: "hello".into(), description: "### User / ### Assistant".into() }
//!     }
//!
//!     fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
//!         let mut prompt = String::new();
//!         for m in &req.messages {
//!             prompt.push_str(&format!("### {}:\n{}\n", m.role, m.content));
//!         }
//!         if req.add_generation_prompt {
//!             prompt.push_str("### assistant:\n");
//!         }
//!         Ok(Rendered { prompt, stop: vec!["### ".into()], add_bos: true })
//!     }
//! }
//!
//! export_template!(Hello);
//! ```
//!
//! The crate must be a `cdylib` built with `cargo build --release --target wasm32-wasip2`; the
//! `.wasm` that comes out is already a component.

extern crate self as shimmy_plugin_sdk;

pub mod bindings;
pub mod chatml;
pub mod config;
pub mod generic_tools;
pub mod inference;
pub mod log;
pub mod prompt;
pub mod pyjson;
pub mod reasoning;
pub mod spans;
pub mod stream;
pub mod testing;
pub mod tool_calls;
pub mod tools;

/// The WIT package this SDK is built against (`package` line of the contract).
pub const WIT_PACKAGE: &str = "shimmy:plugin@0.1.2";

pub use bindings::template::exports::shimmy::plugin::template::{
    ModelContext, ParseDelta, Parsed, PromptSpan, RenderRequest, Rendered, RenderedSpans, SpanKind,
    TemplateInfo,
};
pub use bindings::template::shimmy::plugin::types::{
    ChatMessage, PluginError, SamplingOptions, ToolCall, ToolDefinition, Usage,
};
pub use bindings::workflow::exports::shimmy::plugin::workflow::WorkflowInfo;

/// Implementation details used by the export macros. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use std::boxed::Box;
    pub use std::cell::RefCell;
    pub use std::string::String;
    pub use std::vec::Vec;
    pub use wit_bindgen;
}

// ---------------------------------------------------------------------------------------------
// The three plugin traits
// ---------------------------------------------------------------------------------------------

/// A prompt-template plugin: chat messages to a prompt, and model output back to a message.
///
/// Export it with [`export_template!`].
pub trait Template {
    /// Name and one-line description.
    fn describe() -> TemplateInfo;

    /// Renders the conversation into the exact prompt text.
    fn render(req: RenderRequest) -> Result<Rendered, PluginError>;

    /// Splits raw model output into content, reasoning and tool calls.
    ///
    /// The default separates `<think>...</think>` reasoning (also a dangling `</think>` whose
    /// opening tag was written by the template) from the answer, trims both and finds no tool
    /// calls: see [`reasoning::parse_default`].
    fn parse(output: String, tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        let _ = tools;
        Ok(reasoning::parse_default(&output))
    }

    /// Renders the conversation as spans of template text and request content (contract
    /// 0.1.1). The default renders the marked request with [`Template::render`] and cuts the
    /// prompt at the marks ([`spans::render_marked`]): a template that writes message content
    /// through as it is (trimmed or not) needs nothing more. See [`spans`] for templates that
    /// cut content apart.
    fn render_spans(req: RenderRequest) -> Result<RenderedSpans, PluginError>
    where
        Self: Sized,
    {
        spans::render_marked(&req, Self::render)
    }

    /// A parser for one streamed answer to a chat that offered `tools` (contract 0.1.1). The
    /// default re-runs [`Template::parse`] on the output so far at every piece
    /// ([`stream::WholeTextParser`]) and holds back text from the first tool-call marker of
    /// any known format on.
    fn parser(tools: Vec<ToolDefinition>) -> Box<dyn stream::OutputParser>
    where
        Self: Sized,
    {
        Box::new(stream::WholeTextParser::new(tools, Self::parse))
    }
}

/// A tool plugin: one or more functions the model may call. Export it with [`export_tool!`].
pub trait Tool {
    /// The tools this plugin provides.
    fn describe() -> Vec<ToolDefinition>;

    /// Runs the tool `name` with JSON `arguments` (already validated against its schema by the
    /// host) and returns its JSON result.
    fn invoke(name: String, arguments: String) -> Result<String, PluginError>;
}

/// A workflow plugin: a JSON-in, JSON-out program that may call [`inference`] and [`tools`].
/// Export it with [`export_workflow!`].
pub trait Workflow {
    /// Name, description and input schema.
    fn describe() -> WorkflowInfo;

    /// Runs the workflow on a JSON input and returns a JSON output.
    fn run(input: String) -> Result<String, PluginError>;
}

/// Exports a type implementing [`Template`] as the component's `shimmy:plugin/template@0.1.2`.
///
/// Use it once, at the top level of a `cdylib` crate: `export_template!(MyTemplate);`
#[macro_export]
macro_rules! export_template {
    ($ty:ty) => {
        const _: () = {
            struct __ShimmyTemplateExport;

            /// The `output-parser` resource: the template's parser behind a `RefCell`.
            struct __ShimmyOutputParser(
                $crate::__private::RefCell<
                    $crate::__private::Box<dyn $crate::stream::OutputParser>,
                >,
            );

            impl $crate::bindings::template::exports::shimmy::plugin::template::GuestOutputParser
                for __ShimmyOutputParser
            {
                fn new(tools: $crate::__private::Vec<$crate::ToolDefinition>) -> Self {
                    __ShimmyOutputParser($crate::__private::RefCell::new(
                        <$ty as $crate::Template>::parser(tools),
                    ))
                }

                fn push(
                    &self,
                    text: $crate::__private::String,
                ) -> ::core::result::Result<$crate::ParseDelta, $crate::PluginError> {
                    self.0.borrow_mut().push(&text)
                }

                fn finish(&self) -> ::core::result::Result<$crate::Parsed, $crate::PluginError> {
                    self.0.borrow_mut().finish()
                }
            }

            impl $crate::bindings::template::exports::shimmy::plugin::template::Guest
                for __ShimmyTemplateExport
            {
                type OutputParser = __ShimmyOutputParser;

                fn describe() -> $crate::TemplateInfo {
                    <$ty as $crate::Template>::describe()
                }

                fn render(
                    request: $crate::RenderRequest,
                ) -> ::core::result::Result<$crate::Rendered, $crate::PluginError> {
                    <$ty as $crate::Template>::render(request)
                }

                fn parse(
                    output: $crate::__private::String,
                    tools: $crate::__private::Vec<$crate::ToolDefinition>,
                ) -> ::core::result::Result<$crate::Parsed, $crate::PluginError> {
                    <$ty as $crate::Template>::parse(output, tools)
                }

                fn render_spans(
                    request: $crate::RenderRequest,
                ) -> ::core::result::Result<$crate::RenderedSpans, $crate::PluginError> {
                    <$ty as $crate::Template>::render_spans(request)
                }
            }

            $crate::bindings::template::__export_template_world!(
                __ShimmyTemplateExport with_types_in $crate::bindings::template
            );
        };
    };
}

/// Exports a type implementing [`Tool`] as the component's `shimmy:plugin/tool@0.1.2`.
#[macro_export]
macro_rules! export_tool {
    ($ty:ty) => {
        const _: () = {
            struct __ShimmyToolExport;

            impl $crate::bindings::tool::exports::shimmy::plugin::tool::Guest for __ShimmyToolExport {
                fn describe() -> $crate::__private::Vec<$crate::ToolDefinition> {
                    <$ty as $crate::Tool>::describe()
                }

                fn invoke(
                    name: $crate::__private::String,
                    arguments: $crate::__private::String,
                ) -> ::core::result::Result<$crate::__private::String, $crate::PluginError> {
                    <$ty as $crate::Tool>::invoke(name, arguments)
                }
            }

            $crate::bindings::tool::__export_tool_world!(
                __ShimmyToolExport with_types_in $crate::bindings::tool
            );
        };
    };
}

/// Exports a type implementing [`Workflow`] as the component's `shimmy:plugin/workflow@0.1.2`.
#[macro_export]
macro_rules! export_workflow {
    ($ty:ty) => {
        const _: () = {
            struct __ShimmyWorkflowExport;

            impl $crate::bindings::workflow::exports::shimmy::plugin::workflow::Guest
                for __ShimmyWorkflowExport
            {
                fn describe() -> $crate::WorkflowInfo {
                    <$ty as $crate::Workflow>::describe()
                }

                fn run(
                    input: $crate::__private::String,
                ) -> ::core::result::Result<$crate::__private::String, $crate::PluginError>
                {
                    <$ty as $crate::Workflow>::run(input)
                }
            }

            $crate::bindings::workflow::__export_workflow_world!(
                __ShimmyWorkflowExport with_types_in $crate::bindings::workflow
            );
        };
    };
}

// ---------------------------------------------------------------------------------------------
// Conveniences on the generated types
// ---------------------------------------------------------------------------------------------

impl PluginError {
    /// `invalid-input`: the input was malformed or violated a documented rule.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        PluginError::InvalidInput(message.into())
    }

    /// `not-found`: something named does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        PluginError::NotFound(message.into())
    }

    /// `unsupported`: not supported by this plugin or host.
    pub fn unsupported(message: impl Into<String>) -> Self {
        PluginError::Unsupported(message.into())
    }

    /// `denied`: a capability was not granted.
    pub fn denied(message: impl Into<String>) -> Self {
        PluginError::Denied(message.into())
    }

    /// `limit-exceeded`: a limit was reached.
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        PluginError::LimitExceeded(message.into())
    }

    /// `failed`: anything else.
    pub fn failed(message: impl Into<String>) -> Self {
        PluginError::Failed(message.into())
    }

    /// The WIT case name: `invalid-input`, `not-found`, `unsupported`, `denied`,
    /// `limit-exceeded` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::InvalidInput(_) => "invalid-input",
            PluginError::NotFound(_) => "not-found",
            PluginError::Unsupported(_) => "unsupported",
            PluginError::Denied(_) => "denied",
            PluginError::LimitExceeded(_) => "limit-exceeded",
            PluginError::Failed(_) => "failed",
        }
    }

    /// The message carried by any case.
    pub fn message(&self) -> &str {
        match self {
            PluginError::InvalidInput(m)
            | PluginError::NotFound(m)
            | PluginError::Unsupported(m)
            | PluginError::Denied(m)
            | PluginError::LimitExceeded(m)
            | PluginError::Failed(m) => m,
        }
    }
}

impl ChatMessage {
    /// A message with a role and text, no tool calls, no id, no name.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            reasoning_content: None,
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }

    /// A `tool` message answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new("tool", content)
        }
    }
}

impl ToolDefinition {
    /// A tool definition; `parameters_schema` is a serialized JSON schema.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters_schema: impl Into<String>,
    ) -> Self {
        ToolDefinition {
            name: name.into(),
            description: description.into(),
            parameters_schema: parameters_schema.into(),
        }
    }
}

impl ToolCall {
    /// A tool call; `arguments` is a serialized JSON object.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

impl Default for SamplingOptions {
    /// Every setting `none` (the host's default) and no stop strings.
    fn default() -> Self {
        SamplingOptions {
            max_tokens: None,
            temperature: None,
            top_p: None,
            top_k: None,
            min_p: None,
            repeat_penalty: None,
            seed: None,
            stop: Vec::new(),
            json_schema: None,
        }
    }
}

impl ModelContext {
    /// A model context with only the architecture set (handy in tests).
    pub fn new(architecture: impl Into<String>) -> Self {
        ModelContext {
            architecture: architecture.into(),
            chat_template: None,
            bos_token: None,
            eos_token: None,
        }
    }
}

impl RenderRequest {
    /// A request for `messages` with no tools, a generation prompt, and `model`.
    pub fn new(messages: Vec<ChatMessage>, model: ModelContext) -> Self {
        RenderRequest {
            messages,
            tools: Vec::new(),
            add_generation_prompt: true,
            model,
        }
    }
}

impl Rendered {
    /// A rendered prompt.
    pub fn new(prompt: impl Into<String>, stop: &[&str], add_bos: bool) -> Self {
        Rendered {
            prompt: prompt.into(),
            stop: stop.iter().map(|s| s.to_string()).collect(),
            add_bos,
        }
    }
}

impl RenderedSpans {
    /// The prompt text (the spans' texts concatenated).
    pub fn prompt(&self) -> String {
        spans::join(&self.spans)
    }
}

impl Parsed {
    /// Plain content, no reasoning, no tool calls.
    pub fn text(content: impl Into<String>) -> Self {
        Parsed {
            content: content.into(),
            reasoning: None,
            tool_calls: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_helpers() {
        let e = PluginError::invalid_input("bad");
        assert_eq!(e.kind(), "invalid-input");
        assert_eq!(e.message(), "bad");
        assert_eq!(PluginError::failed("x"), PluginError::Failed("x".into()));
    }

    #[test]
    fn native_imports_do_not_panic() {
        log::info("hello from a native test");
        assert_eq!(config::get("anything"), None);
        assert!(config::all().is_empty());
        assert_eq!(config::get_or("k", "d"), "d");
        assert!(matches!(
            inference::generate("x", &SamplingOptions::default()),
            Err(PluginError::Unsupported(_))
        ));
        assert!(tools::list().is_empty());
        assert!(matches!(
            tools::invoke("t", "{}"),
            Err(PluginError::Unsupported(_))
        ));
    }
}
