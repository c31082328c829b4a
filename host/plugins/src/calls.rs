//! The typed calls into plugins: one [`Call`] per export of the contract, run by
//! `Session::call` (in `runtime`), which does what every call needs (the kind
//! check, the time limit, failure classification, the plugin's own errors, the size bound).
//! A call only says which kind of plugin it is for, how to run it on an instance and how big
//! its output is. Templates of contracts 0.1.1 and 0.1.0 are served here too (their chat messages
//! converted by [`crate::v011`]; 0.1.0's spans and streaming parse by [`crate::legacy`]).

use std::future::Future;

use shimmy_core::chat::{ParseDelta, Parsed, ToolDefinition};
use wasmtime::component::ResourceAny;
use wasmtime::Store;

use crate::bindings::template_011::shimmy::plugin::types as oty;
use crate::bindings::{legacy_template, template, template_011};
use crate::host::HostState;
use crate::instance::Instance;
use crate::legacy;
use crate::manifest::PluginKind;
use crate::types::{
    GuestError, RenderRequest, Rendered, RequestSettings, TemplateInfo, WorkflowInfo,
};

/// What a call returns: its output, or the plugin's own `plugin-error`.
pub(crate) type Outcome<T> = Result<T, GuestError>;

/// One typed call of a plugin export.
pub(crate) trait Call: Send {
    /// What the call returns.
    type Output: Send;
    /// The kind of plugin that has this export.
    const KIND: PluginKind;
    /// What the output is, for the error when it is too large (`rendered prompt`).
    const WHAT: &'static str;

    /// Runs the call on `instance` (of kind [`Call::KIND`]).
    fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> impl Future<Output = wasmtime::Result<Outcome<Self::Output>>> + Send;

    /// Bytes of `output` counted against the runtime's output limit.
    fn size(output: &Self::Output) -> usize;
}

/// A template instance of either contract version.
pub(crate) enum TemplateInstance<'a> {
    /// Contract 0.1.2.
    Current(&'a template::TemplatePlugin),
    /// Contract 0.1.1 (chat messages without reasoning).
    V011(&'a template_011::TemplatePlugin),
    /// Contract 0.1.0.
    Legacy(&'a legacy_template::TemplatePlugin),
}

fn other_kind(expected: PluginKind) -> wasmtime::Error {
    wasmtime::format_err!("the instance is not a {expected} plugin")
}

fn template_of(instance: &Instance) -> wasmtime::Result<TemplateInstance<'_>> {
    match instance {
        Instance::Template(t) => Ok(TemplateInstance::Current(t)),
        Instance::Template011(t) => Ok(TemplateInstance::V011(t)),
        Instance::LegacyTemplate(t) => Ok(TemplateInstance::Legacy(t)),
        _ => Err(other_kind(PluginKind::Template)),
    }
}

fn tool_of(instance: &Instance) -> wasmtime::Result<&crate::bindings::tool::ToolPlugin> {
    match instance {
        Instance::Tool(t) => Ok(t),
        _ => Err(other_kind(PluginKind::Tool)),
    }
}

fn workflow_of(
    instance: &Instance,
) -> wasmtime::Result<&crate::bindings::workflow::WorkflowPlugin> {
    match instance {
        Instance::Workflow(w) => Ok(w),
        _ => Err(other_kind(PluginKind::Workflow)),
    }
}

/// A guest result with the plugin's error in the host's terms.
fn guest<T, U: From<T>, E: Into<GuestError>>(r: Result<T, E>) -> Outcome<U> {
    r.map(Into::into).map_err(Into::into)
}

fn text_size(parts: &[&str]) -> usize {
    parts.iter().map(|s| s.len()).sum()
}

fn parsed_size(p: &Parsed) -> usize {
    p.content.len()
        + p.reasoning.as_ref().map_or(0, String::len)
        + p.tool_calls
            .iter()
            .map(|c| c.id.len() + c.name.len() + c.arguments.len())
            .sum::<usize>()
}

/// Tools in the WIT types of one contract version.
fn wit_tools<T: From<ToolDefinition>>(tools: Vec<ToolDefinition>) -> Vec<T> {
    tools.into_iter().map(Into::into).collect()
}

// ---- templates -----------------------------------------------------------------------------

/// `$body` on a template instance of 0.1.2 or 0.1.1 bound to `$t` (the same exports, each with
/// its own types, so `$body` is compiled once per version); `$legacy` on a 0.1.0 one (matched
/// by `$l`).
macro_rules! on_template {
    ($instance:expr, $t:ident => $body:expr, $l:pat => $legacy:expr $(,)?) => {
        match template_of($instance)? {
            TemplateInstance::Current($t) => $body,
            TemplateInstance::V011($t) => $body,
            $l => $legacy,
        }
    };
}

/// What a 0.1.0 template cannot do.
fn no_output_parser() -> wasmtime::Error {
    wasmtime::format_err!("a 0.1.0 template has no output-parser")
}

/// `template.describe`.
pub(crate) struct DescribeTemplate;

impl Call for DescribeTemplate {
    type Output = TemplateInfo;
    const KIND: PluginKind = PluginKind::Template;
    const WHAT: &'static str = "description";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<TemplateInfo>> {
        Ok(Ok(on_template!(
            instance,
            t => t.shimmy_plugin_template().call_describe(store).await?.into(),
            TemplateInstance::Legacy(t) => t.shimmy_plugin_template().call_describe(store).await?.into(),
        )))
    }

    fn size(o: &TemplateInfo) -> usize {
        text_size(&[&o.name, &o.description])
    }
}

/// `template.render-spans` (0.1.0: `render` on the marked request, see [`legacy`]), with the
/// request's settings in front of the plugin's `[config]` for this call.
pub(crate) struct Render(pub RenderRequest, pub RequestSettings);

impl Call for Render {
    type Output = Rendered;
    const KIND: PluginKind = PluginKind::Template;
    const WHAT: &'static str = "rendered prompt";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<Rendered>> {
        store.data_mut().request_settings = self.1;
        Ok(on_template!(
            instance,
            t => {
                let req = self.0.into();
                guest(t.shimmy_plugin_template().call_render_spans(store, &req).await?)
            },
            TemplateInstance::Legacy(t) => {
                let req = legacy::mark_request(&self.0).into();
                let r = t.shimmy_plugin_template().call_render(store, &req).await?;
                r.map(legacy::resolve_rendered).map_err(GuestError::from)
            },
        ))
    }

    fn size(o: &Rendered) -> usize {
        o.prompt.len() + o.stop.iter().map(String::len).sum::<usize>()
    }
}

/// `template.parse`.
pub(crate) struct Parse {
    pub output: String,
    pub tools: Vec<ToolDefinition>,
}

impl Call for Parse {
    type Output = Parsed;
    const KIND: PluginKind = PluginKind::Template;
    const WHAT: &'static str = "parsed output";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<Parsed>> {
        Ok(on_template!(
            instance,
            t => {
                let tools: Vec<_> = wit_tools(self.tools);
                guest(
                    t.shimmy_plugin_template()
                        .call_parse(store, &self.output, tools.as_slice())
                        .await?,
                )
            },
            TemplateInstance::Legacy(t) => {
                let tools: Vec<oty::ToolDefinition> = wit_tools(self.tools);
                guest(t.shimmy_plugin_template().call_parse(store, &self.output, &tools).await?)
            },
        ))
    }

    fn size(o: &Parsed) -> usize {
        parsed_size(o)
    }
}

/// The `output-parser` constructor (0.1.1 and later; the legacy parser is host-side).
pub(crate) struct NewParser(pub Vec<ToolDefinition>);

impl Call for NewParser {
    type Output = ResourceAny;
    const KIND: PluginKind = PluginKind::Template;
    const WHAT: &'static str = "parser";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<ResourceAny>> {
        on_template!(
            instance,
            t => {
                let tools: Vec<_> = wit_tools(self.0);
                let parser = t
                    .shimmy_plugin_template()
                    .output_parser()
                    .call_constructor(store, tools.as_slice())
                    .await?;
                Ok(Ok(parser))
            },
            TemplateInstance::Legacy(_) => Err(no_output_parser()),
        )
    }

    fn size(_: &ResourceAny) -> usize {
        0
    }
}

/// `output-parser.push`.
pub(crate) struct PushParser {
    pub parser: ResourceAny,
    pub text: String,
}

impl Call for PushParser {
    type Output = ParseDelta;
    const KIND: PluginKind = PluginKind::Template;
    const WHAT: &'static str = "parse delta";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<ParseDelta>> {
        on_template!(
            instance,
            t => Ok(guest(
                t.shimmy_plugin_template()
                    .output_parser()
                    .call_push(store, self.parser, &self.text)
                    .await?,
            )),
            TemplateInstance::Legacy(_) => Err(no_output_parser()),
        )
    }

    fn size(o: &ParseDelta) -> usize {
        text_size(&[&o.content, &o.reasoning])
    }
}

/// `output-parser.finish`.
pub(crate) struct FinishParser(pub ResourceAny);

impl Call for FinishParser {
    type Output = Parsed;
    const KIND: PluginKind = PluginKind::Template;
    const WHAT: &'static str = "parsed output";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<Parsed>> {
        on_template!(
            instance,
            t => Ok(guest(
                t.shimmy_plugin_template()
                    .output_parser()
                    .call_finish(store, self.0)
                    .await?,
            )),
            TemplateInstance::Legacy(_) => Err(no_output_parser()),
        )
    }

    fn size(o: &Parsed) -> usize {
        parsed_size(o)
    }
}

// ---- tools ---------------------------------------------------------------------------------

/// `tool.describe`.
pub(crate) struct DescribeTools;

impl Call for DescribeTools {
    type Output = Vec<ToolDefinition>;
    const KIND: PluginKind = PluginKind::Tool;
    const WHAT: &'static str = "tool list";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<Vec<ToolDefinition>>> {
        let tools = tool_of(instance)?
            .shimmy_plugin_tool()
            .call_describe(store)
            .await?;
        Ok(Ok(tools.into_iter().map(Into::into).collect()))
    }

    fn size(o: &Vec<ToolDefinition>) -> usize {
        o.iter()
            .map(|t| text_size(&[&t.name, &t.description, &t.parameters_schema]))
            .sum()
    }
}

/// `tool.invoke`.
pub(crate) struct InvokeTool {
    pub tool: String,
    pub arguments: String,
}

impl Call for InvokeTool {
    type Output = String;
    const KIND: PluginKind = PluginKind::Tool;
    const WHAT: &'static str = "tool result";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<String>> {
        let r = tool_of(instance)?
            .shimmy_plugin_tool()
            .call_invoke(store, &self.tool, &self.arguments)
            .await?;
        Ok(guest(r))
    }

    fn size(o: &String) -> usize {
        o.len()
    }
}

// ---- workflows -----------------------------------------------------------------------------

/// `workflow.describe`.
pub(crate) struct DescribeWorkflow;

impl Call for DescribeWorkflow {
    type Output = WorkflowInfo;
    const KIND: PluginKind = PluginKind::Workflow;
    const WHAT: &'static str = "description";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<WorkflowInfo>> {
        let info = workflow_of(instance)?
            .shimmy_plugin_workflow()
            .call_describe(store)
            .await?;
        Ok(Ok(info.into()))
    }

    fn size(o: &WorkflowInfo) -> usize {
        text_size(&[&o.name, &o.description, &o.input_schema])
    }
}

/// `workflow.run`.
pub(crate) struct RunWorkflow(pub String);

impl Call for RunWorkflow {
    type Output = String;
    const KIND: PluginKind = PluginKind::Workflow;
    const WHAT: &'static str = "workflow output";

    async fn run(
        self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Outcome<String>> {
        let r = workflow_of(instance)?
            .shimmy_plugin_workflow()
            .call_run(store, &self.0)
            .await?;
        Ok(guest(r))
    }

    fn size(o: &String) -> usize {
        o.len()
    }
}
