//! What `serve`, `bench-serve`, `generate` and `workflow run` share: the models found, the
//! plugins, the backend, the engine configuration from the flags, and the engine itself
//! (with the load spinner on a terminal).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use shimmy_core::backend::{Backend, ModelOptions};
use shimmy_engine::{Catalog, Engine, EngineConfig, RequestLimits, WorkflowLimits};
use shimmy_plugins::PluginRegistry;

use super::{model_options, Context};
use crate::cli::{ModelArgs, RequestLimitArgs, WorkflowLimitArgs};
use crate::plugin_host::{model_name, Plugins};
use crate::progress::LoadSpinner;

/// What an engine needs besides its configuration.
pub(super) struct Parts {
    pub backend: Arc<dyn Backend>,
    pub registry: Arc<PluginRegistry>,
    pub catalog: Catalog,
    pub operator_templates: BTreeMap<String, String>,
    /// The backend and device in use (see `engine_line`).
    pub engine_line: String,
}

/// Discovers the models (all of them, or those named), loads the plugins and the backend.
pub(super) fn prepare(ctx: &Context, models: &[String]) -> Result<Parts> {
    prepare_without(ctx, models, &[])
}

/// Like [`prepare`], with the built-in plugins named in `without` left out.
pub(super) fn prepare_without(ctx: &Context, models: &[String], without: &[&str]) -> Result<Parts> {
    let report = ctx.discover();
    let chosen: Vec<(String, std::path::PathBuf)> = if models.is_empty() {
        report
            .models
            .iter()
            .map(|m| (m.name.clone(), m.path.clone()))
            .collect()
    } else {
        models
            .iter()
            .map(|asked| {
                let path = ctx.resolve(&report, asked)?;
                let name = report
                    .find(asked)
                    .map_or_else(|| model_name(asked), |m| m.name.clone());
                Ok((name, path))
            })
            .collect::<Result<_>>()?
    };
    let plugins = Plugins::load_from(&ctx.plugins, None, without)?;
    let operator_templates = plugins.operator_templates();
    let catalog = Catalog::build(chosen, &plugins.registry, &operator_templates);
    let engine = ctx.engine()?;
    let engine_line = super::engine_line(&engine);
    let backend: Arc<dyn Backend> = Arc::new(engine);
    Ok(Parts {
        engine_line,
        backend,
        registry: Arc::new(plugins.registry),
        catalog,
        operator_templates,
    })
}

/// The engine configuration from the model flags, the slots and the queue length.
pub(super) fn engine_config(
    model_args: &ModelArgs,
    parallel: u32,
    max_queue: usize,
    operator_templates: BTreeMap<String, String>,
) -> Result<EngineConfig> {
    if parallel == 0 {
        anyhow::bail!("--parallel must be at least 1");
    }
    let model_options = model_options(model_args)?;
    Ok(EngineConfig {
        ctx_per_sequence: model_args.ctx_size,
        parallel,
        max_queue,
        prompt_chunk: model_args.batch_size,
        operator_templates,
        model_options: ModelOptions {
            parallel,
            ..model_options
        },
        ..EngineConfig::default()
    })
}

/// The request limits from the flags.
pub(super) fn request_limits(args: &RequestLimitArgs) -> Result<RequestLimits> {
    if args.max_messages == 0
        || args.max_prompt_bytes == 0
        || args.max_grammar_bytes == 0
        || args.max_grammar_breadth == 0
    {
        anyhow::bail!(
            "--max-messages, --max-prompt-bytes, --max-grammar-bytes and --max-grammar-breadth \
             must be at least 1"
        );
    }
    Ok(RequestLimits {
        max_messages: args.max_messages,
        max_prompt_bytes: args.max_prompt_bytes,
        max_grammar_bytes: args.max_grammar_bytes,
        max_grammar_breadth: args.max_grammar_breadth,
        ..RequestLimits::default()
    })
}

/// The workflow limits from the flags.
pub(super) fn workflow_limits(args: &WorkflowLimitArgs) -> Result<WorkflowLimits> {
    if args.workflow_max_steps == 0 || args.workflow_max_tokens == 0 {
        anyhow::bail!("--workflow-max-steps and --workflow-max-tokens must be at least 1");
    }
    let timeout: Duration = args.workflow_timeout.into();
    if timeout.is_zero() {
        anyhow::bail!("--workflow-timeout must be longer than 0");
    }
    Ok(WorkflowLimits {
        max_steps: args.workflow_max_steps,
        max_tokens: args.workflow_max_tokens,
        timeout,
    })
}

/// The engine over `parts`; on a terminal, model loads show a spinner on stderr.
pub(super) fn start_engine(parts: Parts, config: EngineConfig) -> Arc<Engine> {
    let engine = Engine::new(parts.backend, parts.registry, parts.catalog, config);
    if std::io::stderr().is_terminal() {
        engine.subscribe(Arc::new(LoadSpinner::default()));
    }
    engine
}
