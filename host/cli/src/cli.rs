//! Command-line interface definitions (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// shimmy-host: a local LLM inference server built on llama.cpp, with Mixture-of-Experts CPU
/// offload and WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "shimmy-host", version, about, propagate_version = true)]
pub struct Cli {
    /// More logging (-v: info incl. llama.cpp's own lines, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Folder holding the ggml backend libraries (libggml-cpu-*.so, libggml-cuda.so).
    /// Default: next to the shimmy-host binary.
    #[arg(long, env = "SHIMMY_BACKENDS_DIR", global = true, value_name = "DIR")]
    pub backends_dir: Option<PathBuf>,
    /// Extra model folders, separated by ';' (SHIMMY_MODEL_PATHS is also read).
    #[arg(long, global = true, value_name = "\"A;B\"")]
    pub model_dirs: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate text from a prompt, streaming it to stdout (timings go to stderr).
    Generate(GenerateArgs),
    /// List the models found (name, size, architecture, quantization, parameters, path).
    List,
    /// Show where models were looked for, what was found and what was skipped and why.
    Discover,
    /// Load a model and print its facts and where its weights went.
    Probe(ProbeArgs),
    /// Show the compute devices ggml sees and the backend libraries found.
    GpuInfo,
    /// Write a small random-weight GGUF model (dense or MoE) to try everything without a download.
    MakeTestModel(MakeTestModelArgs),
}

/// Options that shape how a model is loaded.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Context window in tokens (default: the model's, capped at 4096).
    #[arg(long, value_name = "N")]
    pub ctx_size: Option<u32>,
    /// Tokens evaluated per batch; longer prompts are fed in chunks.
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub batch_size: u32,
    /// Layers to put on the GPU (default: all when a GPU exists, else 0).
    #[arg(long, value_name = "N")]
    pub gpu_layers: Option<u32>,
    /// CPU threads (default: all available cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Read the model into memory instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
    /// Keep every MoE expert tensor in host memory.
    #[arg(long, conflicts_with = "n_cpu_moe")]
    pub cpu_moe: bool,
    /// Keep the MoE expert tensors of the first N layers in host memory.
    #[arg(long, value_name = "N")]
    pub n_cpu_moe: Option<u32>,
}

/// `generate` arguments.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model file path or discovered name (see `list`).
    #[arg(long, short)]
    pub model: String,
    /// The prompt text (special tokens such as <|im_start|> are honoured).
    #[arg(long, short)]
    pub prompt: String,
    /// Maximum tokens to generate.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_tokens: u32,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Nucleus sampling mass (1.0 disables).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Keep the K most likely tokens (0 disables).
    #[arg(long, default_value_t = 40)]
    pub top_k: i32,
    /// Minimum probability relative to the best token (0 disables).
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalty for repeating recent tokens (1.0 disables).
    #[arg(long, default_value_t = 1.1)]
    pub repeat_penalty: f32,
    /// Random seed (default: a new one each run, printed with the timings).
    #[arg(long)]
    pub seed: Option<u32>,
    /// Stop when this text appears (repeatable); it is not printed.
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Do not add the BOS token in front of the prompt.
    #[arg(long)]
    pub no_bos: bool,
    /// Model loading options.
    #[command(flatten)]
    pub model_args: ModelArgs,
}

/// `probe` arguments.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Model file path or discovered name.
    pub model: String,
    /// Model loading options.
    #[command(flatten)]
    pub model_args: ModelArgs,
}

/// Layouts the test kit can write.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TestArch {
    /// Dense llama layout.
    Dense,
    /// Mixtral-style MoE (`llama` with experts).
    Mixtral,
    /// Qwen3-MoE layout.
    Qwen3moe,
}

/// Weight types the test kit can write.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TestWeights {
    /// 32-bit floats.
    F32,
    /// 16-bit floats.
    F16,
    /// 8-bit blocks.
    #[value(name = "q8_0")]
    Q8_0,
}

/// `make-test-model` arguments.
#[derive(Debug, Args)]
pub struct MakeTestModelArgs {
    /// Where to write the .gguf file.
    pub path: PathBuf,
    /// Write a Mixture-of-Experts model (same as --arch qwen3moe).
    #[arg(long, conflicts_with = "arch")]
    pub moe: bool,
    /// Model layout.
    #[arg(long, value_enum)]
    pub arch: Option<TestArch>,
    /// Weight type of the matrices.
    #[arg(long, value_enum, default_value = "f16")]
    pub weights: TestWeights,
    /// Number of layers.
    #[arg(long, value_name = "N")]
    pub layers: Option<u32>,
    /// Seed for the random weights (same seed, same file).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}
