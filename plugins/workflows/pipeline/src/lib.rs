//! `pipeline`: a declarative DAG of steps, given as JSON, run in dependency order.
//!
//! ```json
//! {"input": {"city": "Paris"},
//!  "steps": [
//!    {"id": "ask", "kind": "llm", "prompt": "Weather word for {{input.city}}?", "max_tokens": 8},
//!    {"id": "norm", "kind": "transform", "op": "lower", "value": "{{ask.output}}"},
//!    {"id": "sunny", "kind": "branch", "condition": {"value": "{{norm.output}}", "contains": "sun"},
//!     "then": ["yes"], "else": ["no"]},
//!    {"id": "yes", "kind": "tool", "tool": "calculator", "arguments": {"expression": "1+1"}},
//!    {"id": "no", "kind": "transform", "op": "template", "template": "no sun in {{input.city}}"}]}
//! ```
//!
//! Steps (every step has `id` — letters, digits, `_`, `-` — `kind` and optional
//! `depends_on: [ids]`):
//!
//! * `llm`: `prompt` (templated), optional `system` (templated), `max_tokens`, `temperature`,
//!   `json_schema` (object or its text: output constrained, then parsed, so the output is JSON).
//!   Output: the answer text (or the parsed JSON).
//! * `tool`: `tool` (name), `arguments` (object, templated in every string). Output: the tool's
//!   JSON result.
//! * `transform`: `op` one of `template` (`template` string → text), `json_get` (`value`,
//!   `pointer` as RFC 6901, e.g. `/items/0/name`; a string value holding JSON is parsed first),
//!   `json_parse` (`value` text → JSON), `upper` / `lower` / `trim` (`value` → text), `concat`
//!   (`values` array, optional `separator`).
//! * `branch`: `condition` `{"value": ..., OP: operand}` with OP one of `equals`,
//!   `not_equals` (JSON equality), `contains` (substring of a string, element of an array, key
//!   of an object), `matches_json` (the value — a string holding JSON is parsed — contains the
//!   operand: objects key by key, recursively); `then` / `else` lists of step ids. Output:
//!   `true` / `false`. The steps of the list not taken are skipped.
//!
//! Templating (see [`template`]): `{{input}}`, `{{input.field}}`, `{{STEP.output}}`,
//! `{{STEP.output.field.0}}`. A reference to a step makes the step wait for it (like
//! `depends_on`); a branch's `then` / `else` steps wait for the branch. A step whose
//! dependencies were all skipped is skipped; a skipped step's output is `null`.
//!
//! Validation before anything runs (`invalid-input`): JSON shape, ids (valid, unique), kinds,
//! fields of each kind, unknown ids in `depends_on` / `then` / `else` / references, a step in
//! both `then` and `else`, more than [`spec::MAX_STEPS`] steps, cycles (the message names the
//! cycle: `a -> b -> a`). Steps run in topological order (ties: the order written).
//!
//! Output: `{"result": <output of the last step that ran>, "outputs": {id: output},
//! "trace": [{"id", "kind", "status": "ok"|"skipped"|"error", "output"?, "error"?}],
//! "usage": {"prompt_tokens", "completion_tokens"}}`. A failing step ends the run with an error
//! of the step's error kind (`failed` for a transform / template error) whose message is
//! `pipeline: step "ID" (KIND) failed: MESSAGE; trace: [...]`.

pub mod exec;
pub mod spec;
pub mod template;

use shimmy_plugin_sdk::{
    export_workflow, inference, tools, ChatMessage, PluginError, SamplingOptions, Workflow,
    WorkflowInfo,
};

/// The host's real imports.
pub struct RealBackend;

impl exec::Backend for RealBackend {
    fn llm(
        &mut self,
        messages: &[ChatMessage],
        options: &SamplingOptions,
    ) -> Result<(String, u32, u32), PluginError> {
        let r = inference::chat(messages, &[], options)?;
        Ok((r.content, r.usage.prompt_tokens, r.usage.completion_tokens))
    }

    fn tool(&mut self, name: &str, arguments: &str) -> Result<String, PluginError> {
        tools::invoke(name, arguments)
    }
}

/// Validates and runs a pipeline document with `backend`.
pub fn run_pipeline(text: &str, backend: &mut dyn exec::Backend) -> Result<String, PluginError> {
    let p = spec::Pipeline::parse(text)?;
    Ok(exec::run(&p, backend)?.to_string())
}

/// The input schema (the shape; the rules are checked by the workflow itself).
pub const INPUT_SCHEMA: &str = r#"{"type":"object","properties":{"input":{},"steps":{"type":"array","minItems":1,"items":{"type":"object","properties":{"id":{"type":"string"},"kind":{"enum":["llm","tool","transform","branch"]},"depends_on":{"type":"array","items":{"type":"string"}}},"required":["id","kind"]}}},"required":["steps"]}"#;

/// The plugin.
pub struct PipelineWorkflow;

impl Workflow for PipelineWorkflow {
    fn describe() -> WorkflowInfo {
        WorkflowInfo {
            name: "pipeline".into(),
            description: "Runs a declarative DAG of llm, tool, transform and branch steps".into(),
            input_schema: INPUT_SCHEMA.into(),
        }
    }

    fn run(input: String) -> Result<String, PluginError> {
        run_pipeline(&input, &mut RealBackend)
    }
}

export_workflow!(PipelineWorkflow);

#[cfg(test)]
mod tests;
