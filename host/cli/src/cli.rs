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
    /// Which compute backend runs models: auto (the first GPU, else the CPU), cpu, cuda or
    /// vulkan. Asking for one that is not available is an error listing what is.
    #[arg(
        long,
        env = "SHIMMY_GPU_BACKEND",
        global = true,
        default_value = "auto",
        value_name = "auto|cpu|cuda|vulkan"
    )]
    pub gpu_backend: shimmy_core::backend::GpuBackend,
    /// Extra model folders, separated by ';' (SHIMMY_MODEL_PATHS is also read).
    #[arg(long, global = true, value_name = "\"A;B\"")]
    pub model_dirs: Option<String>,
    /// Plugin runtime options.
    #[command(flatten)]
    pub plugins: PluginOptions,
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
    /// Show the compute devices ggml sees, the backend libraries found and the backend
    /// `--gpu-backend` selects (with --rpc, the workers' devices too).
    GpuInfo(GpuInfoArgs),
    /// Serve this machine's CPU (or a GPU) to a head over ggml's RPC protocol, so one model
    /// can span several machines (`--rpc HOST:PORT` on the head). No authentication or
    /// encryption: keep it on a trusted network (docs/scale-out.md).
    RpcWorker(RpcWorkerArgs),
    /// Benchmark model placements: prompt and decode tok/s, time to first token, memory per
    /// device, host RSS; each against a plain llama.cpp decode loop with the same placement.
    Bench(BenchArgs),
    /// Write a small random-weight GGUF model (dense or MoE) to try everything without a download.
    MakeTestModel(MakeTestModelArgs),
    /// List, inspect and check WebAssembly plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Prompt templates: render a chat the way a model will see it.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Serve models over HTTP: OpenAI-compatible, Ollama-compatible and native routes.
    Serve(ServeArgs),
    /// Benchmark the HTTP server in-process: concurrent streaming clients on a loopback port.
    BenchServe(BenchServeArgs),
    /// Soak the HTTP server in-process: N clients for a while, some hanging up mid-request;
    /// prints requests, statuses, RSS at start and end and the slots free at the end.
    Soak(SoakArgs),
    /// Tools of the tool plugins: list them, run one.
    #[command(subcommand)]
    Tool(ToolCommand),
    /// Workflow plugins: list them, run one against a model.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Download a GGUF model from Hugging Face into the hub cache (HF_HUB_CACHE), where
    /// discovery, `serve` and huggingface-cli find it. Resumes an interrupted download.
    Pull(PullArgs),
}

/// `gpu-info` arguments.
#[derive(Debug, Args)]
pub struct GpuInfoArgs {
    /// rpc workers whose devices to list too (HOST:PORT, comma separated or repeated).
    #[arg(long, value_name = "HOST:PORT,...")]
    pub rpc: Vec<String>,
}

/// `rpc-worker` arguments.
#[derive(Debug, Args)]
pub struct RpcWorkerArgs {
    /// Where to listen, HOST:PORT. Anything but a loopback address exposes the machine's
    /// devices to whoever can reach the port (ggml RPC has no authentication or encryption).
    #[arg(
        long,
        default_value = "127.0.0.1:50052",
        env = "SHIMMY_RPC_BIND",
        value_name = "HOST:PORT"
    )]
    pub bind: String,
    /// ggml device to serve, e.g. CPU, CUDA0 (repeatable; see `gpu-info`). Default: the CPU.
    #[arg(long, value_name = "NAME")]
    pub device: Vec<String>,
    /// CPU threads for computing on the CPU device (default: all available cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Memory to offer the head, in MiB (default: the device's free memory). The head splits
    /// layers across devices in proportion to the memory they offer.
    #[arg(long, value_name = "MB")]
    pub mem: Option<u64>,
    /// Folder where ggml caches large tensors by hash, so a head that loads the same model
    /// again sends only the hashes (created if missing).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// `pull` arguments.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// ORG/NAME[:QUANT] (e.g. bartowski/Qwen_Qwen3-0.6B-GGUF:Q4_K_M; without QUANT the only
    /// model, else Q4_K_M), or ORG/NAME/FILE.gguf; `hf.co/` in front and `@REVISION` after
    /// NAME are accepted. The hub is HF_ENDPOINT (default https://huggingface.co), the token
    /// HF_TOKEN.
    #[arg(value_name = "REPO[:QUANT]")]
    pub model: String,
}

/// `tool` subcommands.
#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Every tool: name, plugin, description, arguments.
    List {
        /// Print JSON (the `GET /api/tools` body) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run one tool; its JSON result goes to stdout.
    Invoke {
        /// The tool's name (see `tool list`).
        name: String,
        /// The arguments as a JSON object, checked against the tool's schema.
        #[arg(long, default_value = "{}", value_name = "JSON")]
        args: String,
    },
}

/// `workflow` subcommands.
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Every workflow plugin: name, description, input schema.
    List,
    /// Run a workflow; its result (output, trace, usage) goes to stdout as JSON, the steps to
    /// stderr as they end.
    Run(Box<WorkflowRunArgs>),
}

/// `workflow run` arguments.
#[derive(Debug, Args)]
pub struct WorkflowRunArgs {
    /// The workflow plugin (see `workflow list`).
    pub name: String,
    /// The workflow's input as JSON.
    #[arg(long, default_value = "null", value_name = "JSON")]
    pub input: String,
    /// The model its inference uses (path or discovered name). Default: the only model found.
    #[arg(long, short)]
    pub model: Option<String>,
    /// Limits of the run.
    #[command(flatten)]
    pub limits: WorkflowLimitArgs,
    /// Model loading options.
    #[command(flatten)]
    pub model_args: ModelArgs,
}

/// Limits of a workflow run (for `serve`: the most a request may use).
#[derive(Debug, Args)]
pub struct WorkflowLimitArgs {
    /// Most steps (generations and tool calls) of a workflow run.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub workflow_max_steps: u32,
    /// Most tokens (prompt and generated, over all its generations) of a workflow run.
    #[arg(long, default_value_t = 32768, value_name = "N")]
    pub workflow_max_tokens: u64,
    /// Longest wall-clock time of a workflow run: 30s, 5m...
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub workflow_timeout: humantime::Duration,
}

/// Bounds on what one request may ask the server to prepare before its first token (see
/// docs/server.md, "Limits"); over them a request gets 400 or 413 naming the limit.
#[derive(Debug, Args)]
pub struct RequestLimitArgs {
    /// Most messages in one chat.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub max_messages: usize,
    /// Most bytes of a prompt: a chat's text before and after the template renders it, a raw
    /// prompt.
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_name = "BYTES")]
    pub max_prompt_bytes: usize,
    /// Most bytes of a JSON schema or GBNF grammar constraining an answer.
    #[arg(long, default_value_t = 256 * 1024, value_name = "BYTES")]
    pub max_grammar_bytes: usize,
    /// Most places a grammar may be in at once (the choices of an `enum` or `anyOf`): each
    /// token of a constrained answer costs the model's other requests time growing with its
    /// square.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_grammar_breadth: u64,
}

/// `serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen: HOST:PORT, a port, or `auto` (127.0.0.1:11435, else a free port).
    #[arg(long, default_value = shimmy_server::DEFAULT_BIND, env = "SHIMMY_BIND", value_name = "ADDR|auto")]
    pub bind: String,
    /// A model to serve: a .gguf path or a discovered name (repeatable). Default: every model
    /// discovery finds (see `list`).
    #[arg(long, short, value_name = "PATH|NAME")]
    pub model: Vec<String>,
    /// Sequences decoded together per loaded model (slots).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: u32,
    /// Requests that may wait for a slot, per model; one more is answered 503 with Retry-After.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_queue: usize,
    /// Which models the --rpc workers serve layers of, comma separated (names or paths;
    /// default: every model). The others run on this machine alone.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...", requires = "rpc")]
    pub rpc_models: Vec<String>,
    /// When an --rpc worker was lost: how often to check whether it is back and reload the
    /// models that use it (seconds; 0: only when a request asks for the model).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub rpc_retry: u64,
    /// How long an idle model stays loaded: 5m, 1h30m, 300 (seconds), 0 (unload when idle),
    /// -1 (forever).
    #[arg(
        long,
        default_value = "5m",
        allow_hyphen_values = true,
        value_name = "DURATION"
    )]
    pub keep_alive: shimmy_engine::KeepAlive,
    /// Most models loaded at once; the least recently used idle one is unloaded to make room.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub max_loaded_models: usize,
    /// Load the models (--model, else every model up to --max-loaded-models) at startup
    /// instead of on first use.
    #[arg(long)]
    pub preload: bool,
    /// Model loading options (--ctx-size is the context of each slot).
    #[command(flatten)]
    pub model_args: ModelArgs,
    /// Workflow run limits.
    #[command(flatten)]
    pub workflow_limits: WorkflowLimitArgs,
    /// How much preparation one request may ask for.
    #[command(flatten)]
    pub request_limits: RequestLimitArgs,
    /// Who may use the server.
    #[command(flatten)]
    pub access: AccessArgs,
    /// On SIGTERM or Ctrl-C: how long running responses may take to finish before the server
    /// exits anyway (30s, 2m...).
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub shutdown_timeout: humantime::Duration,
}

/// Who may use `serve`: API keys, the `Host` check, CORS, tools on a public address.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// An API key requests must carry (`Authorization: Bearer KEY` or `x-api-key: KEY`);
    /// repeatable. /health and the chat page stay open. Without any key nothing is asked.
    #[arg(
        long = "api-key",
        env = "SHIMMY_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_keys: Vec<String>,
    /// A file of API keys, one per line (blank lines and # comments ignored).
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// A Host name answered besides localhost, 127.0.0.1 and [::1] while bound to a loopback
    /// address (repeatable; `*`: any host). Others get 403 (DNS rebinding).
    #[arg(long = "allowed-hosts", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// A web origin (scheme://host[:port]) whose pages may call the API, besides the
    /// localhost ones (repeatable; `*`: every origin).
    #[arg(long = "cors-origins", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Keep the built-in `files` tool on when listening on a non-loopback address without an
    /// API key.
    #[arg(long)]
    pub allow_remote_tools: bool,
}

/// `bench-serve` arguments.
#[derive(Debug, Args)]
pub struct BenchServeArgs {
    /// Model file path or discovered name.
    #[arg(long, short)]
    pub model: String,
    /// Concurrent streaming clients per round, comma separated.
    #[arg(
        long,
        default_value = "1,4,8,16",
        value_delimiter = ',',
        value_name = "N,N,..."
    )]
    pub clients: Vec<usize>,
    /// Tokens each client generates.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub gen_tokens: u32,
    /// Slots of the server (default: the largest client count).
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Model loading options (--ctx-size is the context of each slot; default 512).
    #[command(flatten)]
    pub model_args: ModelArgs,
}

/// `soak` arguments.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Model file path or discovered name.
    #[arg(long, short)]
    pub model: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub clients: usize,
    /// Share of requests whose client hangs up early (0 to 1).
    #[arg(long, default_value_t = 0.2, value_name = "RATIO")]
    pub disconnect_ratio: f64,
    /// How long the clients keep sending: 30s, 2m...
    #[arg(long, default_value = "2m", value_name = "DURATION")]
    pub duration: humantime::Duration,
    /// Most tokens a request asks for (each draws between 8 and this).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub gen_tokens: u32,
    /// Slots of the server (default: the client count, at most 8).
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,
    /// Seed of the clients' draws (request sizes, who hangs up and when).
    #[arg(long, default_value_t = 13, value_name = "N")]
    pub seed: u64,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Model loading options (--ctx-size is the context of each slot; default 512).
    #[command(flatten)]
    pub model_args: ModelArgs,
}

/// `bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model file path or discovered name.
    #[arg(long, short)]
    pub model: String,
    /// MoE placements to compare, comma separated: none, all, N (layers), auto.
    #[arg(
        long,
        default_value = "none,all,auto",
        value_delimiter = ',',
        value_name = "MODE,..."
    )]
    pub moe: Vec<shimmy_core::placement::MoeOffload>,
    /// Measured runs per placement (after one warm-up run).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub runs: u32,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub prompt_tokens: u32,
    /// Tokens generated per run.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub gen_tokens: u32,
    /// Print the results as JSON (on stdout; the table goes to stderr then).
    #[arg(long)]
    pub json: bool,
    /// Skip the plain llama-cpp-2 decode loop baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Context size, batch size, GPU layers, threads, memory mapping, VRAM margin and budget
    /// (the MoE flags are replaced by --moe).
    #[command(flatten)]
    pub model_args: ModelArgs,
}

/// Options of the plugin runtime (global).
#[derive(Debug, Clone, Args)]
pub struct PluginOptions {
    /// Load plugins from this folder too (repeatable; after the built-ins and
    /// ~/.local/share/shimmy/plugins).
    #[arg(long = "plugin-dir", global = true, value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Time limit of one plugin call, in milliseconds.
    #[arg(long, global = true, default_value_t = 2000, value_name = "MS")]
    pub plugin_timeout_ms: u64,
    /// Memory limit of one plugin instance, in MiB.
    #[arg(long, global = true, default_value_t = 64, value_name = "MB")]
    pub plugin_memory_mb: u64,
    /// Grant a capability a plugin asks for in its plugin.toml (memory, dirs, hosts or *).
    #[arg(long = "plugin-grant", global = true, value_name = "NAME:CAPABILITY")]
    pub plugin_grants: Vec<String>,
    /// Override a plugin setting (its [config] table).
    #[arg(long = "plugin-config", global = true, value_name = "NAME:KEY=VALUE")]
    pub plugin_settings: Vec<String>,
    /// Operator configuration file (TOML): per-model templates, plugin grants and settings.
    #[arg(long, global = true, env = "SHIMMY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Every plugin loaded: name, kind, version, source, capabilities requested/granted.
    List,
    /// A plugin's world, imports, exports and manifest.
    Inspect {
        /// Plugin name, or the path of a .wasm file / plugin folder.
        target: String,
    },
    /// Load a plugin from a path and exercise it (exit 0 when it works).
    Check {
        /// The .wasm file (with its plugin.toml or X.toml beside it) or plugin folder.
        path: PathBuf,
    },
}

/// `template` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Print the exact prompt a chat renders to for a model.
    Render(TemplateRenderArgs),
}

/// `template render` arguments.
#[derive(Debug, Args)]
pub struct TemplateRenderArgs {
    /// Model file path or discovered name.
    #[arg(long, short)]
    pub model: String,
    /// Chat as JSON: a list of OpenAI-style messages, or an object with "messages".
    #[arg(long, value_name = "FILE.json")]
    pub messages: PathBuf,
    /// Tools offered, as JSON: a list of OpenAI-style tools, or an object with "tools".
    #[arg(long, value_name = "FILE.json")]
    pub tools: Option<PathBuf>,
    /// Template plugin to use (default: chosen for the model; see `probe`).
    #[arg(long)]
    pub template: Option<String>,
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
    /// Tokens per micro-batch (llama.cpp's n_ubatch), 1 to --ctx-size. Default: 512 with every
    /// weight on the GPU, up to 4096 when MoE experts live in host memory (each micro-batch
    /// copies them to the GPU once, so prompts run several times faster).
    #[arg(long, value_name = "N")]
    pub ubatch_size: Option<u32>,
    /// Draw tokens on the device (llama.cpp's backend sampling) for requests that allow it
    /// (greedy, top-k/top-p/min-p/temperature; not grammars, penalties or logprobs): auto (on
    /// a GPU), on or off.
    #[arg(long, default_value = "auto", value_name = "auto|on|off")]
    pub device_sampling: shimmy_core::backend::DeviceSampling,
    /// Layers to put on the GPU (default: all when a GPU exists, else 0).
    #[arg(long, value_name = "N")]
    pub gpu_layers: Option<u32>,
    /// CPU threads (default: all available cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Read the model into memory instead of memory-mapping it. Default: mapped, except when
    /// weights stay in host memory beside a GPU (MoE experts, --gpu-layers below all): those
    /// are read into pinned memory, which makes prompts several times faster.
    #[arg(long, conflicts_with = "mmap")]
    pub no_mmap: bool,
    /// Memory-map the model file even when weights stay in host memory beside a GPU (faster
    /// loads and shared page cache, slower prompts).
    #[arg(long)]
    pub mmap: bool,
    /// Keep every MoE expert tensor in host memory.
    #[arg(long, conflicts_with = "n_cpu_moe")]
    pub cpu_moe: bool,
    /// Keep the MoE expert tensors of the first N layers in host memory.
    #[arg(long, value_name = "N")]
    pub n_cpu_moe: Option<u32>,
    /// MoE placement: none, all (= --cpu-moe), N (= --n-cpu-moe N), or auto: llama.cpp fits
    /// as much as possible on the GPU (leaving --vram-margin-mb free) and keeps the rest of the
    /// experts in host memory.
    #[arg(long, value_name = "none|all|N|auto", conflicts_with_all = ["cpu_moe", "n_cpu_moe", "fit"])]
    pub moe_offload: Option<shimmy_core::placement::MoeOffload>,
    /// Same as --moe-offload auto.
    #[arg(long, conflicts_with_all = ["cpu_moe", "n_cpu_moe"])]
    pub fit: bool,
    /// ggml RPC workers (`shimmy-host rpc-worker`, or llama.cpp's rpc-server) to spread the
    /// model's layers over, HOST:PORT, comma separated or repeated. Layers are split across
    /// the GPU (if any) and the workers by the memory each offers; --gpu-layers N keeps the
    /// first layers on this machine.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub rpc: Vec<String>,
    /// Memory to leave free on the GPU with --moe-offload auto, in MiB.
    #[arg(long, default_value_t = shimmy_core::backend::DEFAULT_VRAM_MARGIN_MB, value_name = "MB")]
    pub vram_margin_mb: u64,
    /// Most GPU memory the model may use, in MiB. With --moe-offload auto the fit keeps
    /// weights, KV cache and compute buffers within it; with the fixed modes the weights placed
    /// on the GPU are checked against it before loading. With several GPUs, one number per
    /// GPU in device order (8192,16384); a single number applies to each.
    #[arg(long, value_name = "MB[,MB...]", value_delimiter = ',')]
    pub vram_budget_mb: Vec<u64>,
    /// The share of layers of each device, in device order (3,1: three quarters on the first).
    /// Default: split by each device's budget (or free memory).
    #[arg(long, value_name = "W[,W...]", value_delimiter = ',')]
    pub tensor_split: Vec<f32>,
    /// How a model is split over several GPUs: layer (whole layers per GPU), row (rows of
    /// each layer across the GPUs) or none (one GPU, --main-gpu, runs it all).
    #[arg(long, default_value = "layer", value_name = "none|layer|row")]
    pub split_mode: shimmy_core::backend::SplitMode,
    /// The GPU (0 = the first of the chosen backend) that runs the model with --split-mode
    /// none, and holds llama.cpp's shared buffers otherwise.
    #[arg(long, value_name = "N")]
    pub main_gpu: Option<u32>,
}

/// `generate` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).multiple(false)))]
pub struct GenerateArgs {
    /// Model file path or discovered name (see `list`).
    #[arg(long, short)]
    pub model: String,
    /// The raw prompt text (special tokens such as <|im_start|> are honoured).
    #[arg(long, short, group = "input")]
    pub prompt: Option<String>,
    /// A chat (JSON list of OpenAI-style messages, or {"messages": [...]}) rendered by the
    /// model's template plugin.
    #[arg(long, value_name = "FILE.json", group = "input")]
    pub chat: Option<PathBuf>,
    /// A one-turn chat: the user's message (rendered by the template plugin).
    #[arg(long, group = "input")]
    pub user: Option<String>,
    /// System message for --user or --chat.
    #[arg(long, conflicts_with = "prompt")]
    pub system: Option<String>,
    /// Template plugin for --chat/--user (default: chosen for the model).
    #[arg(long, conflicts_with = "prompt")]
    pub template: Option<String>,
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
    /// Print the placement plan for a GPU (the budget, else this machine's GPU) without
    /// loading the model. Without a GPU, `--moe-offload auto --vram-budget-mb N` plans for a
    /// CUDA device of N MiB this way too.
    #[arg(long)]
    pub plan_only: bool,
    /// Slots to plan the KV cache for (as `serve --parallel`).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub parallel: u32,
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
    /// A BERT-style embedding model (WordPiece vocabulary, mean pooling; it embeds and never
    /// generates).
    Bert,
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
    /// Leave out the embedded chat template (the host then picks a template by architecture).
    #[arg(long)]
    pub no_template: bool,
    /// Write a full-size model shape with random Q4_K weights instead: qwen3-30b-a3b (16 GiB)
    /// or mixtral-8x7b (26 GB); --layers shortens it, --seed is ignored.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["moe", "arch", "no_template"])]
    pub shape: Option<String>,
    /// Writer threads for --shape (default: one per core).
    #[arg(long, value_name = "N", requires = "shape")]
    pub threads: Option<usize>,
    /// Vocabulary size for --shape (default: the shape's own).
    #[arg(long, value_name = "N", requires = "shape")]
    pub vocab: Option<u32>,
    /// With --shape: write only the header and leave the weights a sparse hole (for dry runs
    /// and `probe --plan-only`; the file cannot generate).
    #[arg(long, requires = "shape")]
    pub header_only: bool,
}
