//! `shimmy-host workflow list|run`: workflow plugins, run in-process by the engine against a
//! model with the same scheduler, tools and limits as `POST /api/workflows/{name}/run`.

use anyhow::{Context as _, Result};
use shimmy_engine::workflow::RunRequest;
use shimmy_engine::EngineError;
use shimmy_plugins::PluginKind;

use super::setup::{engine_config, prepare, start_engine, workflow_limits};
use super::Context;
use crate::cli::{WorkflowCommand, WorkflowRunArgs};
use crate::plugin_host::Plugins;
use crate::report::Table;

/// Runs a `workflow` subcommand.
pub fn run(ctx: &Context, command: WorkflowCommand) -> Result<()> {
    match command {
        WorkflowCommand::List => list(ctx),
        WorkflowCommand::Run(args) => run_one(ctx, *args),
    }
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
    let limits = workflow_limits(&args.limits)?;
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
    let mut config = engine_config(&args.model_args, 1, 64, parts.operator_templates.clone())?;
    config.workflow_limits = limits;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async move {
        let engine = start_engine(parts, config);
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
        let outcome = engine.run_workflow(request, Some(tx)).await;
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
fn run_error(e: EngineError) -> anyhow::Error {
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
