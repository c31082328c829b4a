//! One module per subcommand; [`run`] dispatches.

mod access;
mod bench;
mod bench_serve;
mod discover;
mod generate;
mod gpu_info;
mod make_test_model;
mod plugin;
mod probe;
mod pull;
mod rpc_worker;
mod serve;
mod setup;
mod soak;
mod template;
mod tool;
mod workflow;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use shimmy_backend_llama::LlamaEngine;
use shimmy_core::backend::{Backend, GpuBackend, LoadedModel, ModelOptions};
use shimmy_core::discovery::{self, DiscoveryConfig, DiscoveryReport};
use shimmy_core::placement::{format_bytes, MoeOffload};

use crate::cli::{Cli, Command, ModelArgs, PluginOptions};

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    let (rpc, rpc_models) = match &cli.command {
        Command::Generate(a) => (a.model_args.rpc.clone(), Vec::new()),
        Command::Probe(a) => (a.model_args.rpc.clone(), Vec::new()),
        Command::Bench(a) => (a.model_args.rpc.clone(), Vec::new()),
        Command::Serve(a) => {
            // A name in --rpc-models may be that of a --model given as a path.
            let named = a.rpc_models.iter().map(|m| {
                a.model
                    .iter()
                    .find(|p| {
                        std::path::Path::new(p)
                            .file_stem()
                            .is_some_and(|s| s == m.as_str())
                    })
                    .cloned()
                    .unwrap_or_else(|| m.clone())
            });
            (a.model_args.rpc.clone(), named.collect())
        }
        Command::GpuInfo(a) => (a.rpc.clone(), Vec::new()),
        _ => (Vec::new(), Vec::new()),
    };
    let ctx = Context {
        rpc,
        rpc_models,
        backends_dir: cli.backends_dir,
        model_dirs: cli.model_dirs,
        verbose: cli.verbose,
        plugins: cli.plugins,
        gpu_backend: cli.gpu_backend,
    };
    match cli.command {
        Command::Generate(args) => generate::run(&ctx, args),
        Command::List => discover::list(&ctx),
        Command::Discover => discover::discover(&ctx),
        Command::Probe(args) => probe::run(&ctx, args),
        Command::GpuInfo(_) => gpu_info::run(&ctx),
        Command::RpcWorker(args) => rpc_worker::run(&ctx, args),
        Command::MakeTestModel(args) => make_test_model::run(args),
        Command::Plugin(command) => plugin::run(&ctx, command),
        Command::Template(command) => template::run(&ctx, command),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::BenchServe(args) => bench_serve::run(&ctx, args),
        Command::Soak(args) => soak::run(&ctx, args),
        Command::Bench(args) => bench::run(&ctx, args),
        Command::Tool(command) => tool::run(&ctx, command),
        Command::Workflow(command) => workflow::run(&ctx, command),
        Command::Pull(args) => pull::run(args),
    }
}

/// Global options every command may need.
pub struct Context {
    backends_dir: Option<PathBuf>,
    model_dirs: Option<String>,
    verbose: u8,
    plugins: PluginOptions,
    gpu_backend: GpuBackend,
    /// `--rpc` workers (HOST:PORT lists as given).
    rpc: Vec<String>,
    /// `serve --rpc-models`: the models that use them (names or paths; empty: all).
    rpc_models: Vec<String>,
}

impl Context {
    /// Runs model discovery with the environment and `--model-dirs`.
    fn discover(&self) -> DiscoveryReport {
        discovery::discover(&DiscoveryConfig::from_env(self.model_dirs.as_deref()))
    }

    /// The file for a model name, a path, or a pulled hub reference (`org/name:QUANT`, found
    /// in the Hugging Face cache without asking the hub).
    fn resolve(&self, report: &DiscoveryReport, asked: &str) -> Result<PathBuf> {
        match report.resolve(asked) {
            Ok(path) => Ok(path),
            Err(err) => {
                let Ok(reference) = shimmy_hub::ModelRef::parse(asked) else {
                    return Err(err.into());
                };
                if !shimmy_hub::ModelRef::looks_like(asked) {
                    return Err(err.into());
                }
                let hub = DiscoveryConfig::from_env(self.model_dirs.as_deref()).hub_cache();
                match hub.and_then(|h| shimmy_hub::find_local(&h, &reference)) {
                    Some(path) => Ok(path),
                    None => anyhow::bail!(
                        "{reference} is not in the Hugging Face cache; download it with `shimmy-host pull {reference}`"
                    ),
                }
            }
        }
    }

    /// Starts llama.cpp with the configured backend libraries and `--gpu-backend`.
    fn engine(&self) -> Result<LlamaEngine> {
        let engine = LlamaEngine::with_gpu_backend(self.backends_dir.as_deref(), self.gpu_backend)?;
        let endpoints = shimmy_backend_llama::rpc::parse_endpoints(&self.rpc)?;
        let rpc_models = if self.rpc_models.is_empty() {
            None
        } else {
            let report = self.discover();
            Some(
                self.rpc_models
                    .iter()
                    .map(|m| self.resolve(&report, m))
                    .collect::<Result<Vec<_>>>()?,
            )
        };
        let engine = engine.with_rpc(&endpoints, rpc_models)?;
        if self.verbose > 0 {
            eprintln!("{}", engine_line(&engine));
        }
        Ok(engine)
    }

    /// Resolves a model name or path and loads it with `options`.
    fn load_with(
        &self,
        model: &str,
        options: &ModelOptions,
    ) -> Result<(LlamaEngine, Arc<dyn LoadedModel>)> {
        let path = self.resolve(&self.discover(), model)?;
        let engine = self.engine()?;
        let loaded = engine.load(&path, options)?;
        Ok((engine, loaded))
    }
}

/// Turns the CLI flags into [`ModelOptions`].
fn model_options(args: &ModelArgs) -> Result<ModelOptions> {
    Ok(ModelOptions {
        ctx_size: args.ctx_size,
        batch_size: args.batch_size,
        gpu_layers: args.gpu_layers,
        threads: args.threads,
        mmap: match (args.mmap, args.no_mmap) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        moe: MoeOffload::from_all_flags(
            args.cpu_moe,
            args.n_cpu_moe,
            if args.fit {
                Some(MoeOffload::Auto)
            } else {
                args.moe_offload
            },
        )?,
        vram_margin_mb: args.vram_margin_mb,
        vram_budget_mb: args.vram_budget_mb.first().copied(),
        parallel: 1,
        ubatch_size: args.ubatch_size,
        device_sampling: args.device_sampling,
        split_mode: args.split_mode,
        main_gpu: args.main_gpu,
        tensor_split: (!args.tensor_split.is_empty()).then(|| args.tensor_split.clone()),
        vram_budgets_mb: if args.vram_budget_mb.len() > 1 {
            args.vram_budget_mb.clone()
        } else {
            Vec::new()
        },
    })
}

/// One line naming the backend in use and its device with free/total memory, e.g.
/// `backend: cuda (auto), device CUDA0 NVIDIA H100 80GB HBM3, 78.7 GiB free of 79.2 GiB`.
pub(crate) fn engine_line(engine: &LlamaEngine) -> String {
    let asked = engine.gpu_backend();
    match engine.selected_gpu() {
        Some(d) => format!(
            "backend: {} ({asked}), device {} {}, {} free of {}",
            d.backend.to_ascii_lowercase(),
            d.name,
            d.description,
            format_bytes(d.memory_free),
            format_bytes(d.memory_total)
        ),
        None => {
            let cpu = engine.devices().into_iter().find(|d| d.kind == "cpu");
            match cpu {
                Some(d) => format!(
                    "backend: cpu ({asked}), device {} {}, {} free of {}",
                    d.name,
                    d.description,
                    format_bytes(d.memory_free),
                    format_bytes(d.memory_total)
                ),
                None => format!("backend: cpu ({asked})"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use shimmy_core::backend::{GpuBackend, DEFAULT_VRAM_MARGIN_MB};
    use shimmy_core::placement::MoeOffload;

    use super::model_options;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("shimmy-host").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn moe_of(args: &[&str]) -> (MoeOffload, u64, Option<u64>) {
        match parse(args).command {
            Command::Probe(p) => {
                let o = model_options(&p.model_args).unwrap();
                (o.moe, o.vram_margin_mb, o.vram_budget_mb)
            }
            other => panic!("not probe: {other:?}"),
        }
    }

    #[test]
    fn moe_flags_become_model_options() {
        assert_eq!(
            moe_of(&["probe", "m"]),
            (MoeOffload::None, DEFAULT_VRAM_MARGIN_MB, None)
        );
        assert_eq!(moe_of(&["probe", "m", "--fit"]).0, MoeOffload::Auto);
        assert_eq!(
            moe_of(&[
                "probe",
                "m",
                "--moe-offload",
                "auto",
                "--vram-margin-mb",
                "512",
                "--vram-budget-mb",
                "2000"
            ]),
            (MoeOffload::Auto, 512, Some(2000))
        );
        assert_eq!(
            moe_of(&["probe", "m", "--moe-offload", "6"]).0,
            MoeOffload::FirstLayers(6)
        );
        assert_eq!(moe_of(&["probe", "m", "--cpu-moe"]).0, MoeOffload::All);
        for bad in [
            &["probe", "m", "--fit", "--cpu-moe"][..],
            &["probe", "m", "--moe-offload", "all", "--n-cpu-moe", "2"],
            &["probe", "m", "--moe-offload", "some"],
        ] {
            let with_bin = std::iter::once("shimmy-host").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(with_bin).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn gpu_backend_is_global_and_checked() {
        assert_eq!(parse(&["gpu-info"]).gpu_backend, GpuBackend::Auto);
        assert_eq!(
            parse(&["gpu-info", "--gpu-backend", "cuda"]).gpu_backend,
            GpuBackend::Cuda
        );
        assert_eq!(
            parse(&["--gpu-backend", "CPU", "probe", "m"]).gpu_backend,
            GpuBackend::Cpu
        );
        let err = Cli::try_parse_from(["shimmy-host", "--gpu-backend", "metal", "gpu-info"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auto, cpu, cuda, vulkan"), "{err}");
    }

    #[test]
    fn bench_takes_a_list_of_placements() {
        match parse(&[
            "bench",
            "--model",
            "m",
            "--moe",
            "none,all,4,auto",
            "--runs",
            "1",
        ])
        .command
        {
            Command::Bench(b) => {
                assert_eq!(
                    b.moe,
                    [
                        MoeOffload::None,
                        MoeOffload::All,
                        MoeOffload::FirstLayers(4),
                        MoeOffload::Auto
                    ]
                );
                assert_eq!((b.runs, b.prompt_tokens, b.gen_tokens), (1, 512, 128));
            }
            other => panic!("not bench: {other:?}"),
        }
    }
}
