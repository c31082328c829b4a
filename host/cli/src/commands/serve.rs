//! `shimmy-host serve`: the HTTP server.
//!
//! Discovery, plugins and the backend are set up here (blocking), then a multi-threaded tokio
//! runtime runs `shimmy_server::Server` over the engine. The startup banner goes to stdout
//! whatever `RUST_LOG` says; `NO_COLOR` (or a non-terminal stdout) turns colors off.
//! SIGTERM and SIGINT (Ctrl-C) both stop accepting connections and let running responses
//! finish for at most `--shutdown-timeout`; the process then exits 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use shimmy_core::placement::format_bytes;
use shimmy_server::diagnostics::Colors;
use shimmy_server::Server;
use tokio::signal::unix::{signal, SignalKind};

use super::access::{exposure, server_config};
use super::setup::{engine_config, prepare_without, request_limits, start_engine, workflow_limits};
use super::Context;
use crate::cli::ServeArgs;

/// How long the runtime waits for blocking tasks once the server has stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(2);

/// Runs the server until SIGTERM or Ctrl-C.
pub fn run(ctx: &Context, args: ServeArgs) -> Result<()> {
    if args.max_loaded_models == 0 {
        anyhow::bail!("--max-loaded-models must be at least 1");
    }
    let server_config = server_config(&args.access)?;
    let shutdown_timeout: Duration = args.shutdown_timeout.into();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shimmy-http")
        .build()
        .context("starting the async runtime")?;
    // Bind first: a busy port is reported before anything slow happens.
    let listener = runtime.block_on(shimmy_server::bind(&args.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let without = exposure(addr, &server_config, args.access.allow_remote_tools);
    let parts = prepare_without(ctx, &args.model, &without)?;
    let mut config = engine_config(
        &args.model_args,
        args.parallel,
        args.max_queue,
        parts.operator_templates.clone(),
    )?;
    config.keep_alive = args.keep_alive;
    config.workflow_limits = workflow_limits(&args.workflow_limits)?;
    config.request_limits = request_limits(&args.request_limits)?;
    config.max_loaded_models = args.max_loaded_models;
    config.hub = shimmy_hub::HubSettings::from_env();
    let preload: Vec<String> = if args.preload {
        parts
            .catalog
            .models
            .iter()
            .take(config.max_loaded_models)
            .map(|m| m.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let engine_line = parts.engine_line.clone();
    let rpc_retry = if args.model_args.rpc.is_empty() {
        0
    } else {
        args.rpc_retry
    };
    let result = runtime.block_on(async move {
        let engine = start_engine(parts, config);
        if rpc_retry > 0 {
            // Models on a lost rpc worker come back when it does (docs/scale-out.md).
            tokio::spawn(
                engine
                    .models()
                    .clone()
                    .run_recovery(Duration::from_secs(rpc_retry)),
            );
        }
        let server = Server::with_listener(listener, engine.clone(), server_config)?;
        // The handlers are in place before "listening on" is printed.
        let mut sigterm = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut sigint = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        print!(
            "{}",
            server.banner(env!("CARGO_PKG_VERSION"), Colors::for_stdout())
        );
        println!("{engine_line}");
        let stop = Arc::new(tokio::sync::Notify::new());
        let stop2 = stop.clone();
        let signalled = Arc::new(tokio::sync::Notify::new());
        let signalled2 = signalled.clone();
        let mut serving = tokio::spawn(server.run(async move {
            let name = tokio::select! {
                _ = sigterm.recv() => "SIGTERM",
                _ = sigint.recv() => "SIGINT",
                _ = stop2.notified() => return,
            };
            eprintln!(
                "{name}: no new connections; running responses have {} to finish",
                humantime::format_duration(shutdown_timeout)
            );
            signalled2.notify_one();
        }));
        if !preload.is_empty() {
            if let Err(e) = engine.models().preload(&preload).await {
                stop.notify_one();
                let _ = serving.await;
                return Err(anyhow::Error::new(e).context("--preload"));
            }
            for l in engine.models().loaded_models() {
                println!(
                    "loaded {} in {:.1} s (template {})",
                    l.name,
                    l.load_duration.as_secs_f64(),
                    l.template.name
                );
                println!("  {}", l.model.placement());
                for m in l.model.memory() {
                    println!(
                        "  {} memory: weights {}, KV cache {}, compute {}",
                        m.device,
                        format_bytes(m.model),
                        format_bytes(m.kv_cache),
                        format_bytes(m.compute)
                    );
                }
            }
            println!("ready");
        }
        let deadline = async {
            signalled.notified().await;
            tokio::time::sleep(shutdown_timeout).await;
        };
        tokio::select! {
            done = &mut serving => done.context("the server task failed")??,
            _ = deadline => {
                eprintln!(
                    "responses still running after {}: exiting without them",
                    humantime::format_duration(shutdown_timeout)
                );
                return Ok(());
            }
        }
        eprintln!("shut down");
        Ok(())
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    result
}
