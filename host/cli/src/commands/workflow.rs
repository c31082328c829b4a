//! `shimmy-host workflow list|run`: workflow plugins, run in-process against a model with the
//! same scheduler, tools and limits as `POST /api/workflows/{name}/run`.

use std::time::Duration;

use anyhow::{Context as _, Result};
use shimmy_plugins::PluginKind;
use shimmy_server::workflows::{self, RunRequest};
use shimmy_server::{AppState, ServerError, WorkflowLimits};

use super::serve::{prepare, server_config};
use super::Context;
use crate::cli::{WorkflowCommand, WorkflowLimitArgs, WorkflowRunArgs};
use crate::plugin_host::Plugins;
use crate::report::Table;

/// Runs a `workflow` subcommand.
pub fn run(ctx: &Context, command: WorkflowCommand) -> Result<()> {
    match command {
        WorkflowCommand::List => list(ctx),
        WorkflowCommand::Run(args) => run_one(ctx, args),
    }
}

/// The limits from the flags.
pub fn limits(args: &WorkflowLimitArgs) -> Result<WorkflowLimits> {
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

fn list(ctx: &Context) -> Result<()> {
    let plugins = Plugins::load(&ctx.plugins)?;
    let blocking = plugins.registry.blocking()?;
    let mut table = Table::new(&["NAME", "DESCRIPTION", "INPUT"]);
    for name in plugins.registry.names(PluginKind::Workflow) {
        match blocking.describe_workflow(&name) {
            Ok(info) => table.row(vec![name, info.description, info.input_schema]),
            Err(e) => table.row(vec![name, format!("(describe failed: {e})"), "-".into()]),
        }
    }
    print!("{table}");
    Ok(())
}

fn run_one(ctx: &Context, args: WorkflowRunArgs) -> Result<()> {
    let input: serde_json::Value = serde_json::from_str(&args.input).with_context(|| {
        format!(
            "--input is not JSON: {}; quote it for the shell, e.g. --input '{{\"prompt\": \"hi\"}}'",
            args.input
        )
    })?;
    let limits = limits(&args.limits)?;
    let models: Vec<String> = args.model.iter().cloned().collect();
    let parts = prepare(ctx, &models)?;
    let model = match parts.catalog.models.as_slice() {
        [] => anyhow::bail!("no model found; pass one with --model PATH (see `shimmy-host list`)"),
        [one] => one.name.clone(),
        several => anyhow::bail!(
            "{} models found ({}); pick the one the workflow uses with --model NAME",
            several.len(),
            several
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut config = server_config(&args.model_args, 1, 64, parts.operator_templates.clone())?;
    config.workflow_limits = limits;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async move {
        let state = AppState::new(parts.backend, parts.registry, parts.catalog, config);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
        let printer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                eprintln!("{}", step_line(&event["step"]));
            }
        });
        let request = RunRequest {
            workflow: args.name.clone(),
            input,
            model: Some(model),
            limits,
        };
        let outcome = workflows::run(&state, request, Some(tx)).await;
        let _ = printer.await;
        outcome.map(|o| o.to_json(&args.name))
    });
    match outcome {
        Ok(result) => {
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        Err(e) => Err(run_error(e)),
    }
}

/// One line per step for stderr: `step 2 tool calculator ok (3.1 ms)`.
fn step_line(step: &serde_json::Value) -> String {
    let what = step["tool"]
        .as_str()
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    let detail = match (step["status"].as_str(), step["error"].as_str()) {
        (Some("error"), Some(e)) => format!("error: {e}"),
        (Some(s), _) => s.to_string(),
        _ => "?".into(),
    };
    format!(
        "step {} {}{what} {detail} ({:.1} ms)",
        step["step"],
        step["kind"].as_str().unwrap_or("?"),
        step["duration_ms"].as_f64().unwrap_or(0.0)
    )
}

/// The error of a failed run, with the trace so far when there is one.
fn run_error(e: ServerError) -> anyhow::Error {
    let mut message = e.to_string();
    if let Some(trace) = e.trace() {
        message.push_str(&format!(
            "\npartial trace ({} steps):\n{}",
            trace.len(),
            serde_json::to_string_pretty(trace).unwrap_or_default()
        ));
    }
    anyhow::anyhow!(message)
}
