//! One module per subcommand; [`run`] dispatches.

mod bench_serve;
mod discover;
mod generate;
mod gpu_info;
mod make_test_model;
mod plugin;
mod probe;
mod serve;
mod template;
mod tool;
mod workflow;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use shimmy_backend_llama::LlamaEngine;
use shimmy_core::backend::{Backend, LoadedModel, ModelOptions};
use shimmy_core::discovery::{self, DiscoveryConfig, DiscoveryReport};
use shimmy_core::placement::MoeOffload;

use crate::cli::{Cli, Command, ModelArgs, PluginOptions};

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = Context {
        backends_dir: cli.backends_dir,
        model_dirs: cli.model_dirs,
        verbose: cli.verbose,
        plugins: cli.plugins,
    };
    match cli.command {
        Command::Generate(args) => generate::run(&ctx, args),
        Command::List => discover::list(&ctx),
        Command::Discover => discover::discover(&ctx),
        Command::Probe(args) => probe::run(&ctx, args),
        Command::GpuInfo => gpu_info::run(&ctx),
        Command::MakeTestModel(args) => make_test_model::run(args),
        Command::Plugin(command) => plugin::run(&ctx, command),
        Command::Template(command) => template::run(&ctx, command),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::BenchServe(args) => bench_serve::run(&ctx, args),
        Command::Tool(command) => tool::run(&ctx, command),
        Command::Workflow(command) => workflow::run(&ctx, command),
    }
}

/// Global options every command may need.
pub struct Context {
    backends_dir: Option<PathBuf>,
    model_dirs: Option<String>,
    verbose: u8,
    plugins: PluginOptions,
}

impl Context {
    /// Runs model discovery with the environment and `--model-dirs`.
    fn discover(&self) -> DiscoveryReport {
        discovery::discover(&DiscoveryConfig::from_env(self.model_dirs.as_deref()))
    }

    /// Starts llama.cpp with the configured backend libraries.
    fn engine(&self) -> Result<LlamaEngine> {
        Ok(LlamaEngine::new(self.backends_dir.as_deref())?)
    }

    /// Resolves a model name or path and loads it.
    fn load(&self, model: &str, args: &ModelArgs) -> Result<(LlamaEngine, Arc<dyn LoadedModel>)> {
        self.load_with(model, &model_options(args)?)
    }

    /// Resolves a model name or path and loads it with `options`.
    fn load_with(
        &self,
        model: &str,
        options: &ModelOptions,
    ) -> Result<(LlamaEngine, Arc<dyn LoadedModel>)> {
        let path = self.discover().resolve(model)?;
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
        mmap: !args.no_mmap,
        moe: MoeOffload::from_flags(args.cpu_moe, args.n_cpu_moe)?,
    })
}
