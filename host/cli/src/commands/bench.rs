//! `shimmy-host bench`: compares MoE placements of one model.
//!
//! For each `--moe` mode: load the model, warm up, then `--runs` times a generation through
//! the host (`LoadedModel::generate`, greedy) and the same prompt through a plain llama-cpp-2
//! decode loop on the same loaded model ([`shimmy_backend_llama::bench::plain_decode`]).
//! Reported per mode: prompt tok/s, decode tok/s, time to first token (median and min–max
//! over the runs), memory per device as llama.cpp allocated it, host RSS, and the host's
//! decode speed relative to the plain loop.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;
use shimmy_backend_llama::bench::plain_decode;
use shimmy_backend_llama::{LlamaEngine, LlamaLoaded};
use shimmy_core::backend::{
    DeviceMemory, Flow, GenerateEvent, GenerateRequest, LoadedModel, ModelOptions, SamplingOptions,
};
use shimmy_core::placement::{format_bytes, MoeOffload, HOST_DEVICE};

use super::{engine_line, model_options, Context};
use crate::cli::BenchArgs;

/// Median, smallest and largest of a series.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (all zero when empty).
    pub fn of(values: &[f64]) -> Spread {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Spread::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// The figures of one path (host or plain loop) over the runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PathFigures {
    /// Prompt tokens per second (context creation included).
    pub prompt_tok_s: Spread,
    /// Generated tokens per second after the prompt.
    pub decode_tok_s: Spread,
    /// Start → first generated token (host: first text out of `generate`), milliseconds.
    pub ttft_ms: Spread,
    /// Tokens generated in the last run.
    pub generated_tokens: usize,
}

/// One placement's results.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResult {
    /// The `--moe` value.
    pub moe: String,
    /// Why this placement could not be measured (e.g. over the VRAM budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The placement line (as `probe` prints it).
    pub placement: String,
    /// Transformer blocks of the model.
    pub n_layer: u32,
    /// Layers on the GPU (output layer included).
    pub gpu_layers: u32,
    /// Layers whose expert tensors (some or all) are in host memory.
    pub expert_layers_in_host_memory: u32,
    /// Expert tensors in host memory, of `expert_tensors_total`.
    pub expert_tensors_in_host_memory: usize,
    /// Expert tensors in the model.
    pub expert_tensors_total: usize,
    /// Seconds to load the model.
    pub load_seconds: f64,
    /// Memory per device (weights, KV cache, compute), llama.cpp's buffer sizes.
    pub memory: Vec<DeviceMemory>,
    /// Bytes on GPU devices together (all of `memory` but host memory).
    pub vram_bytes: u64,
    /// Weight bytes on GPU devices.
    pub vram_model_bytes: u64,
    /// Whether `vram_bytes` plus the planned backend context (CUDA context and pool) is within
    /// `--vram-budget-mb` (absent without a budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_budget: Option<bool>,
    /// Resident memory of this process after the runs, with the model loaded.
    pub host_rss_bytes: u64,
    /// The host's generation (`LoadedModel::generate`).
    pub host: PathFigures,
    /// The plain llama-cpp-2 loop, if measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain: Option<PathFigures>,
    /// Host median decode tok/s relative to the plain loop's, in percent (negative: slower).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_vs_plain_pct: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The model file.
    pub model: String,
    /// Backend and device in use.
    pub backend: String,
    /// Prompt tokens per run (as tokenized).
    pub prompt_tokens: usize,
    /// Tokens asked for per run.
    pub gen_tokens: u32,
    /// Measured runs per placement.
    pub runs: u32,
    /// `--vram-budget-mb`, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vram_budget_mb: Option<u64>,
    /// Per placement.
    pub configs: Vec<ConfigResult>,
    /// Comparisons between placements.
    pub summary: Summary,
}

/// Comparisons between placements.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// GPU weight bytes of `all` relative to `none`: how much `--cpu-moe` saves, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_moe_vram_model_reduction_pct: Option<f64>,
    /// The fastest fixed placement (none, all, N) within the budget (or overall without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_fixed: Option<String>,
    /// `auto`'s median decode tok/s relative to `best_fixed`, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_vs_best_fixed_pct: Option<f64>,
    /// Largest |decode_vs_plain_pct| over the placements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_decode_vs_plain_pct: Option<f64>,
}

/// Runs the benchmark and prints the table (and JSON with `--json`).
pub fn run(ctx: &Context, args: BenchArgs) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.prompt_tokens == 0 || args.gen_tokens == 0 {
        bail!("--prompt-tokens and --gen-tokens must be at least 1");
    }
    if args.moe.is_empty() {
        bail!("--moe needs at least one mode: none, all, N or auto");
    }
    if args.model_args.cpu_moe
        || args.model_args.n_cpu_moe.is_some()
        || args.model_args.moe_offload.is_some()
        || args.model_args.fit
    {
        bail!("bench chooses the MoE placement with --moe MODE,...; leave out --cpu-moe, --n-cpu-moe, --moe-offload and --fit");
    }
    let path = ctx.discover().resolve(&args.model)?;
    let engine = ctx.engine()?;
    let backend = engine_line(&engine);
    let mut base = model_options(&args.model_args)?;
    if base.ctx_size.is_none() {
        // Room for the prompt (its tokenization may differ slightly), the answer and the warm-up.
        base.ctx_size = Some((args.prompt_tokens + args.gen_tokens + 64).max(256));
    }
    let mut configs = Vec::new();
    let mut prompt_tokens = 0;
    for mode in &args.moe {
        let options = ModelOptions {
            moe: *mode,
            ..base.clone()
        };
        eprintln!("bench: --moe {} ...", mode.flag_value());
        let result = match measure(&engine, &path, &options, &args) {
            Ok((result, n)) => {
                prompt_tokens = n;
                result
            }
            Err(err) => failed(mode, format!("{err:#}")),
        };
        configs.push(result);
    }
    let summary = summarize(&configs);
    let report = BenchReport {
        model: path.display().to_string(),
        backend,
        prompt_tokens,
        gen_tokens: args.gen_tokens,
        runs: args.runs,
        vram_budget_mb: base.vram_budget_mb,
        configs,
        summary,
    };
    let table = render_table(&report);
    if args.json {
        eprint!("{table}");
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{table}");
    }
    Ok(())
}

fn failed(mode: &MoeOffload, error: String) -> ConfigResult {
    ConfigResult {
        moe: mode.flag_value(),
        error: Some(error),
        placement: String::new(),
        n_layer: 0,
        gpu_layers: 0,
        expert_layers_in_host_memory: 0,
        expert_tensors_in_host_memory: 0,
        expert_tensors_total: 0,
        load_seconds: 0.0,
        memory: Vec::new(),
        vram_bytes: 0,
        vram_model_bytes: 0,
        within_budget: None,
        host_rss_bytes: 0,
        host: PathFigures::default(),
        plain: None,
        decode_vs_plain_pct: None,
    }
}

/// A prompt of about `n` tokens for `model` (its tokenizer decides the exact count).
fn make_prompt(model: &LlamaLoaded, n: u32) -> Result<String> {
    const TEXT: &str =
        "The ships sailed out of the harbour at dawn, and the sea was calm and grey. ";
    let mut text = String::new();
    loop {
        text.push_str(TEXT);
        let tokens = model.tokenize(&text, false, false)?;
        if tokens.len() >= n as usize {
            let cut = &tokens[..n.saturating_sub(1).max(1) as usize];
            return Ok(model.detokenize(cut)?);
        }
        if text.len() > 64 * (n as usize + 16) {
            // A tokenizer that makes almost no tokens of text: use what there is.
            return Ok(text);
        }
    }
}

/// One host generation: (prompt tok/s, decode tok/s, ms to first text, tokens).
fn host_run(model: &LlamaLoaded, prompt: &str, gen: u32) -> Result<(f64, f64, f64, usize)> {
    let request = GenerateRequest {
        add_bos: true,
        parse_special: false,
        max_tokens: gen,
        sampling: SamplingOptions {
            temperature: 0.0,
            repeat_penalty: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: Some(1),
            ..SamplingOptions::default()
        },
        ..GenerateRequest::new(prompt)
    };
    let started = Instant::now();
    let mut first: Option<Duration> = None;
    let summary = model.generate(&request, &mut |event| {
        if let GenerateEvent::Text(_) = event {
            first.get_or_insert_with(|| started.elapsed());
        }
        Flow::Continue
    })?;
    let first = first.unwrap_or_else(|| started.elapsed());
    Ok((
        summary.prompt_tokens_per_second(),
        summary.decode_tokens_per_second(),
        first.as_secs_f64() * 1000.0,
        summary.completion_tokens,
    ))
}

fn rate(n: usize, s: f64) -> f64 {
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

/// Loads with `options`, warms up and measures.
fn measure(
    engine: &LlamaEngine,
    path: &std::path::Path,
    options: &ModelOptions,
    args: &BenchArgs,
) -> Result<(ConfigResult, usize)> {
    let started = Instant::now();
    let model = engine.load_llama(path, options)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let prompt = make_prompt(&model, args.prompt_tokens)?;
    let n_prompt = model.tokenize(&prompt, true, false)?.len();
    // Warm-up: both paths once (first CUDA kernels, page faults of mapped weights).
    host_run(&model, &prompt, args.gen_tokens.min(16))?;
    if !args.no_baseline {
        plain_decode(&model, &prompt, args.gen_tokens.min(16))?;
    }
    let (mut hp, mut hd, mut ht) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pp, mut pd, mut pt) = (Vec::new(), Vec::new(), Vec::new());
    let (mut host_tokens, mut plain_tokens) = (0, 0);
    for _ in 0..args.runs {
        let (p, d, t, n) = host_run(&model, &prompt, args.gen_tokens)?;
        hp.push(p);
        hd.push(d);
        ht.push(t);
        host_tokens = n;
        if !args.no_baseline {
            let r = plain_decode(&model, &prompt, args.gen_tokens)?;
            pp.push(rate(r.prompt_tokens, r.prompt_seconds));
            pd.push(rate(r.generated, r.decode_seconds));
            pt.push(r.first_token_seconds * 1000.0);
            plain_tokens = r.generated;
        }
    }
    let host = PathFigures {
        prompt_tok_s: Spread::of(&hp),
        decode_tok_s: Spread::of(&hd),
        ttft_ms: Spread::of(&ht),
        generated_tokens: host_tokens,
    };
    let plain = (!args.no_baseline).then(|| PathFigures {
        prompt_tok_s: Spread::of(&pp),
        decode_tok_s: Spread::of(&pd),
        ttft_ms: Spread::of(&pt),
        generated_tokens: plain_tokens,
    });
    let decode_vs_plain_pct = plain
        .as_ref()
        .filter(|p| p.decode_tok_s.median > 0.0)
        .map(|p| (host.decode_tok_s.median / p.decode_tok_s.median - 1.0) * 100.0);
    // The generate context is gone by now; memory() reports the last context's buffers,
    // which the host and the plain loop share the parameters of.
    let memory = model.memory();
    let on_gpu = |m: &&DeviceMemory| m.device != HOST_DEVICE;
    let vram_bytes: u64 = memory.iter().filter(on_gpu).map(DeviceMemory::total).sum();
    let vram_model_bytes: u64 = memory.iter().filter(on_gpu).map(|m| m.model).sum();
    let placement = model.placement().clone();
    let result = ConfigResult {
        moe: options.moe.flag_value(),
        error: None,
        placement: placement.to_string(),
        n_layer: placement.n_layer,
        gpu_layers: placement.gpu_layers,
        expert_layers_in_host_memory: placement.layers_offloaded_by_moe,
        expert_tensors_in_host_memory: placement.expert_tensors_host,
        expert_tensors_total: placement.expert_tensors_total,
        load_seconds,
        memory,
        vram_bytes,
        vram_model_bytes,
        within_budget: within_budget(
            vram_bytes,
            placement.estimate.as_ref().map_or(0, |e| e.context),
            options.vram_budget_mb,
        ),
        host_rss_bytes: host_rss(),
        host,
        plain,
        decode_vs_plain_pct,
    };
    drop(model);
    Ok((result, n_prompt))
}

/// VmRSS of this process (0 when /proc is not there).
pub(super) fn host_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Whether llama.cpp's GPU buffers (`vram_bytes`) plus the backend's own context that the
/// planner counts (`context_bytes`: the CUDA context and pool, which nvidia-smi shows and the
/// buffers do not) fit `--vram-budget-mb`; `None` without a budget.
fn within_budget(vram_bytes: u64, context_bytes: u64, budget_mb: Option<u64>) -> Option<bool> {
    budget_mb.map(|b| vram_bytes.saturating_add(context_bytes) <= b.saturating_mul(1 << 20))
}

/// The comparisons of the summary.
pub fn summarize(configs: &[ConfigResult]) -> Summary {
    let ok = |c: &&ConfigResult| c.error.is_none();
    let find = |moe: &str| configs.iter().filter(ok).find(|c| c.moe == moe);
    let mut s = Summary::default();
    if let (Some(none), Some(all)) = (find("none"), find("all")) {
        if none.vram_model_bytes > 0 {
            s.cpu_moe_vram_model_reduction_pct =
                Some((1.0 - all.vram_model_bytes as f64 / none.vram_model_bytes as f64) * 100.0);
        }
    }
    let best = configs
        .iter()
        .filter(ok)
        .filter(|c| c.moe != "auto" && c.within_budget != Some(false))
        .max_by(|a, b| {
            a.host
                .decode_tok_s
                .median
                .total_cmp(&b.host.decode_tok_s.median)
        });
    if let Some(best) = best {
        s.best_fixed = Some(best.moe.clone());
        if let Some(auto) = find("auto") {
            if best.host.decode_tok_s.median > 0.0 {
                s.auto_vs_best_fixed_pct = Some(
                    (auto.host.decode_tok_s.median / best.host.decode_tok_s.median - 1.0) * 100.0,
                );
            }
        }
    }
    s.worst_decode_vs_plain_pct = configs
        .iter()
        .filter_map(|c| c.decode_vs_plain_pct)
        .max_by(|a, b| a.abs().total_cmp(&b.abs()));
    s
}

fn spread(s: &Spread, decimals: usize) -> String {
    format!(
        "{:.d$} ({:.d$}-{:.d$})",
        s.median,
        s.min,
        s.max,
        d = decimals
    )
}

/// The report as a text table.
pub fn render_table(r: &BenchReport) -> String {
    let mut out = format!(
        "model: {}\n{}\nprompt {} tokens, {} generated tokens asked, {} runs (median (min-max)){}\n\n",
        r.model,
        r.backend,
        r.prompt_tokens,
        r.gen_tokens,
        r.runs,
        r.vram_budget_mb
            .map(|b| format!(", VRAM budget {b} MiB"))
            .unwrap_or_default()
    );
    out.push_str(&format!(
        "{:<6} {:>4} {:>9} {:>24} {:>24} {:>24} {:>8} {:>22} {:>10} {:>10}\n",
        "moe",
        "ngl",
        "cpu-exp",
        "prompt tok/s",
        "decode tok/s",
        "plain decode tok/s",
        "vs plain",
        "TTFT ms",
        "VRAM",
        "host RSS"
    ));
    for c in &r.configs {
        if let Some(e) = &c.error {
            out.push_str(&format!("{:<6} failed: {e}\n", c.moe));
            continue;
        }
        let plain = c
            .plain
            .as_ref()
            .map_or("-".to_string(), |p| spread(&p.decode_tok_s, 1));
        let vs = c
            .decode_vs_plain_pct
            .map_or("-".to_string(), |v| format!("{v:+.1}%"));
        let budget = match c.within_budget {
            Some(false) => " (over)",
            _ => "",
        };
        out.push_str(&format!(
            "{:<6} {:>4} {:>9} {:>24} {:>24} {:>24} {:>8} {:>22} {:>10} {:>10}\n",
            c.moe,
            c.gpu_layers,
            format!("{}/{}", c.expert_layers_in_host_memory, c.n_layer),
            spread(&c.host.prompt_tok_s, 1),
            spread(&c.host.decode_tok_s, 1),
            plain,
            vs,
            spread(&c.host.ttft_ms, 1),
            format!("{}{budget}", format_bytes(c.vram_bytes)),
            format_bytes(c.host_rss_bytes)
        ));
    }
    out.push('\n');
    for c in r.configs.iter().filter(|c| c.error.is_none()) {
        out.push_str(&format!("{:<6} {}\n", c.moe, c.placement));
        for m in &c.memory {
            out.push_str(&format!(
                "       {:<6} weights {}, KV cache {}, compute {}\n",
                m.device,
                format_bytes(m.model),
                format_bytes(m.kv_cache),
                format_bytes(m.compute)
            ));
        }
    }
    let s = &r.summary;
    if let Some(v) = s.cpu_moe_vram_model_reduction_pct {
        out.push_str(&format!(
            "--cpu-moe cuts the weights on the GPU by {v:.1}%\n"
        ));
    }
    if let (Some(best), Some(v)) = (&s.best_fixed, s.auto_vs_best_fixed_pct) {
        out.push_str(&format!(
            "auto vs the best fixed placement ({best}): {v:+.1}% decode tok/s\n"
        ));
    }
    if let Some(v) = s.worst_decode_vs_plain_pct {
        out.push_str(&format!("largest host vs plain decode gap: {v:+.1}%\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads() {
        assert_eq!(Spread::of(&[]), Spread::default());
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Spread::of(&[f64::NAN, 5.0]).median, 5.0);
    }

    fn config(moe: &str, decode: f64, vram_model: u64, within: Option<bool>) -> ConfigResult {
        let mut c = failed(&MoeOffload::None, String::new());
        c.error = None;
        c.moe = moe.into();
        c.vram_model_bytes = vram_model;
        c.within_budget = within;
        c.host.decode_tok_s = Spread::of(&[decode]);
        c
    }

    #[test]
    fn the_budget_counts_the_backend_context_too() {
        let mib = 1 << 20;
        assert_eq!(within_budget(7000 * mib, 0, None), None);
        assert_eq!(
            within_budget(7000 * mib, 1000 * mib, Some(8192)),
            Some(true)
        );
        // Buffers alone fit, with the CUDA context they do not (as nvidia-smi would show).
        assert_eq!(
            within_budget(7800 * mib, 700 * mib, Some(8192)),
            Some(false)
        );
    }

    #[test]
    fn summary_picks_the_best_fixed_placement_within_budget() {
        let mut configs = vec![
            config("none", 400.0, 1000, Some(false)),
            config("all", 80.0, 60, Some(true)),
            config("4", 300.0, 800, Some(true)),
            config("auto", 310.0, 820, Some(true)),
        ];
        configs[1].decode_vs_plain_pct = Some(-2.0);
        configs[2].decode_vs_plain_pct = Some(1.0);
        let s = summarize(&configs);
        assert_eq!(s.best_fixed.as_deref(), Some("4"));
        assert!((s.auto_vs_best_fixed_pct.unwrap() - 3.333).abs() < 0.01);
        assert!((s.cpu_moe_vram_model_reduction_pct.unwrap() - 94.0).abs() < 1e-9);
        assert_eq!(s.worst_decode_vs_plain_pct, Some(-2.0));
    }
}
