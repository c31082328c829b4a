//! Full-size model shapes written fast: random Q4_K blocks.
//!
//! The small models of [`crate::write_model`] are fine for tests, but GPU placement has to be
//! measured on the shapes people run: a Qwen3-30B-A3B-shaped qwen3moe (48 layers, 128 experts,
//! 16 GiB) and a Mixtral-8x7B-shaped llama MoE (32 layers, 8 experts, 26 GB). [`write_shape`]
//! writes such a file in seconds: every big matrix is Q4_K (`GGML_TYPE_Q4_K`, 256 values per
//! 144-byte block) with random 4-bit values and 6-bit scales and a per-tensor f16 block scale
//! that keeps the weights within about ±1/sqrt(row length) (token embeddings ±1); norms are 1,
//! the MoE router is f32 and random, so every expert gets used. Tensors are written in parallel
//! with positioned writes, so the disk is the limit.
//!
//! The tokenizer is the test kit's SentencePiece vocabulary ([`crate::vocabulary`]) padded with
//! unused tokens to the shape's vocabulary size, so the embedding and output matrices, the
//! logits and the compute buffers have the real model's size. As in the small models, the
//! output rows of control, unknown and unused tokens are zero, so greedy decoding runs until
//! the token limit.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use half::f16;

use crate::gguf::{GgufValue, GgufWriter};
use crate::vocab::{TokenType, Vocab};
use crate::{
    tokenizer_metadata, vocabulary, Arch, ModelSummary, TensorSummary, ALIGNMENT, CHATML_TEMPLATE,
};

/// `GGML_TYPE_Q4_K`.
pub const Q4_K_TYPE_ID: u32 = 12;
/// Values per Q4_K block.
pub const Q4_K_BLOCK_VALUES: u64 = 256;
/// Bytes per Q4_K block: f16 `d`, f16 `dmin`, 12 bytes of 6-bit scales/mins, 128 bytes of
/// 4-bit values.
pub const Q4_K_BLOCK_BYTES: u64 = 144;
/// `GGML_TYPE_F32`.
const F32_TYPE_ID: u32 = 0;
/// `LLAMA_FTYPE_MOSTLY_Q4_K_S` (every matrix Q4_K).
const FILE_TYPE_Q4_K_S: u32 = 14;

/// A model shape: the hyper-parameters that decide its tensors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShapeSpec {
    /// Layout: [`Arch::Qwen3Moe`], [`Arch::LlamaMoe`] (Mixtral) or [`Arch::Llama`] (dense).
    pub arch: Arch,
    /// Transformer blocks.
    pub n_layer: u32,
    /// Hidden size.
    pub n_embd: u32,
    /// Dense FFN width (`feed_forward_length`); for [`Arch::LlamaMoe`] the width of each expert.
    pub n_ff: u32,
    /// Query heads.
    pub n_head: u32,
    /// Key/value heads.
    pub n_head_kv: u32,
    /// Size of one head (`attention.key_length`); may differ from `n_embd / n_head`
    /// (Qwen3-30B-A3B: 2048 / 32 heads of 128).
    pub head_dim: u32,
    /// Experts per MoE layer (0 for dense).
    pub n_expert: u32,
    /// Experts used per token.
    pub n_expert_used: u32,
    /// Width of each expert for [`Arch::Qwen3Moe`] (`expert_feed_forward_length`).
    pub n_ff_exp: u32,
    /// Vocabulary size (the test kit's vocabulary padded with unused tokens).
    pub n_vocab: u32,
    /// Training context (`context_length`).
    pub context_length: u32,
    /// Seed of the random blocks.
    pub seed: u64,
    /// `general.name`.
    pub name: String,
}

impl ShapeSpec {
    /// Qwen3-30B-A3B: qwen3moe, 48 layers, n_embd 2048, 32 query / 4 KV heads of 128, 128
    /// experts of width 768 (8 used), vocabulary 151936: 16.0 GiB in Q4_K.
    pub fn qwen3_30b_a3b() -> Self {
        ShapeSpec {
            arch: Arch::Qwen3Moe,
            n_layer: 48,
            n_embd: 2048,
            n_ff: 6144,
            n_head: 32,
            n_head_kv: 4,
            head_dim: 128,
            n_expert: 128,
            n_expert_used: 8,
            n_ff_exp: 768,
            n_vocab: 151_936,
            context_length: 40_960,
            seed: 0x5EED_0030,
            name: "shimmy-shape-qwen3-30b-a3b".into(),
        }
    }

    /// Mixtral-8x7B: llama with experts, 32 layers, n_embd 4096, 32 query / 8 KV heads of 128,
    /// 8 experts of width 14336 (2 used), vocabulary 32000: about 26 GB in Q4_K.
    pub fn mixtral_8x7b() -> Self {
        ShapeSpec {
            arch: Arch::LlamaMoe,
            n_layer: 32,
            n_embd: 4096,
            n_ff: 14_336,
            n_head: 32,
            n_head_kv: 8,
            head_dim: 128,
            n_expert: 8,
            n_expert_used: 2,
            n_ff_exp: 0,
            n_vocab: 32_000,
            context_length: 32_768,
            seed: 0x5EED_0087,
            name: "shimmy-shape-mixtral-8x7b".into(),
        }
    }

    /// Looks a preset up by name: `qwen3-30b-a3b` or `mixtral-8x7b`.
    pub fn preset(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "qwen3-30b-a3b" | "qwen3moe" => Some(Self::qwen3_30b_a3b()),
            "mixtral-8x7b" | "mixtral" => Some(Self::mixtral_8x7b()),
            _ => None,
        }
    }

    /// The names [`ShapeSpec::preset`] knows.
    pub const PRESETS: [&'static str; 2] = ["qwen3-30b-a3b", "mixtral-8x7b"];

    /// Sets the number of layers (e.g. a few layers of a real shape for a quick check).
    pub fn with_layers(mut self, n_layer: u32) -> Self {
        self.n_layer = n_layer;
        self
    }

    /// Sets the vocabulary size (at least the test kit's own tokens).
    pub fn with_vocab(mut self, n_vocab: u32) -> Self {
        self.n_vocab = n_vocab;
        self
    }

    /// Width of each expert (0 for dense).
    pub fn expert_ff(&self) -> u32 {
        match self.arch {
            Arch::Llama => 0,
            Arch::LlamaMoe => self.n_ff,
            Arch::Qwen3Moe => self.n_ff_exp,
        }
    }

    /// Checks the shape against what the writer and llama.cpp accept.
    pub fn validate(&self) -> io::Result<()> {
        let err = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.n_layer == 0 || self.n_layer > 512 {
            return err(format!("n_layer must be in 1..=512, got {}", self.n_layer));
        }
        if self.n_head == 0 || self.n_head_kv == 0 || self.n_head % self.n_head_kv != 0 {
            return err(format!(
                "n_head {} must be a positive multiple of n_head_kv {}",
                self.n_head, self.n_head_kv
            ));
        }
        if self.head_dim == 0 || self.head_dim % 2 != 0 {
            return err(format!("head_dim must be even, got {}", self.head_dim));
        }
        if self.arch == Arch::Llama && self.head_dim * self.n_head != self.n_embd {
            return err("the llama layout needs head_dim * n_head == n_embd".into());
        }
        if self.arch.is_moe() {
            if self.n_expert < 2 || self.n_expert_used == 0 || self.n_expert_used > self.n_expert {
                return err(format!(
                    "experts: {} used of {} is not a MoE layout",
                    self.n_expert_used, self.n_expert
                ));
            }
        } else if self.n_expert != 0 {
            return err("a dense layout has no experts".into());
        }
        let base = vocabulary().len() as u32;
        if self.n_vocab < base {
            return err(format!(
                "n_vocab must be at least the test kit's {base} tokens"
            ));
        }
        for (what, v) in [
            ("n_embd", self.n_embd),
            ("n_ff", self.n_ff),
            ("expert width", self.expert_ff()),
            ("head_dim * n_head", self.head_dim * self.n_head),
        ] {
            if u64::from(v) % Q4_K_BLOCK_VALUES != 0 {
                return err(format!(
                    "Q4_K needs {what} to be a multiple of 256, got {v}"
                ));
            }
        }
        Ok(())
    }

    /// The tensors of this shape, in file order.
    pub fn tensor_plan(&self) -> io::Result<Vec<TensorSummary>> {
        self.validate()?;
        Ok(plan(self).iter().map(Planned::summary).collect())
    }

    /// The exact size of the file [`write_shape`] writes.
    pub fn expected_file_size(&self) -> io::Result<u64> {
        self.validate()?;
        let plan = plan(self);
        let header = header_bytes(self, &vocab(self), &plan)?;
        Ok(header.len() as u64 + plan.iter().map(Planned::padded).sum::<u64>())
    }
}

/// How a tensor is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// f32 ones (norms).
    Ones,
    /// f32 uniform in ±1/sqrt(ne0) (the router).
    RandomF32,
    /// Q4_K blocks, values within about ±`amplitude`.
    Q4K {
        /// 1.0 for token embeddings, 1/sqrt(ne0) otherwise (as 1/ne0.sqrt() is not `Eq`,
        /// the flag says which).
        unit: bool,
        /// Rows of suppressed tokens are zero (output matrix).
        suppress_rows: bool,
    },
}

#[derive(Debug, Clone)]
struct Planned {
    name: String,
    dims: Vec<u64>,
    fill: Fill,
}

impl Planned {
    fn n_values(&self) -> u64 {
        self.dims.iter().product()
    }
    fn type_id(&self) -> u32 {
        match self.fill {
            Fill::Q4K { .. } => Q4_K_TYPE_ID,
            _ => F32_TYPE_ID,
        }
    }
    fn n_bytes(&self) -> u64 {
        match self.fill {
            Fill::Q4K { .. } => self.n_values() / Q4_K_BLOCK_VALUES * Q4_K_BLOCK_BYTES,
            _ => self.n_values() * 4,
        }
    }
    fn padded(&self) -> u64 {
        self.n_bytes().div_ceil(ALIGNMENT) * ALIGNMENT
    }
    fn summary(&self) -> TensorSummary {
        TensorSummary {
            name: self.name.clone(),
            ggml_type: if self.type_id() == Q4_K_TYPE_ID {
                "q4_K"
            } else {
                "f32"
            },
            dims: self.dims.clone(),
            n_bytes: self.n_bytes(),
        }
    }
}

fn plan(s: &ShapeSpec) -> Vec<Planned> {
    let embd = u64::from(s.n_embd);
    let q_dim = u64::from(s.head_dim * s.n_head);
    let kv_dim = u64::from(s.head_dim * s.n_head_kv);
    let ff = u64::from(s.n_ff);
    let ff_exp = u64::from(s.expert_ff());
    let n_exp = u64::from(s.n_expert);
    let vocab = u64::from(s.n_vocab);
    let q4 = Fill::Q4K {
        unit: false,
        suppress_rows: false,
    };
    let mut out = Vec::new();
    let mut t = |name: String, dims: Vec<u64>, fill: Fill| out.push(Planned { name, dims, fill });
    t(
        "token_embd.weight".into(),
        vec![embd, vocab],
        Fill::Q4K {
            unit: true,
            suppress_rows: false,
        },
    );
    for i in 0..s.n_layer {
        let b = |x: &str| format!("blk.{i}.{x}.weight");
        t(b("attn_norm"), vec![embd], Fill::Ones);
        t(b("attn_q"), vec![embd, q_dim], q4);
        t(b("attn_k"), vec![embd, kv_dim], q4);
        t(b("attn_v"), vec![embd, kv_dim], q4);
        t(b("attn_output"), vec![q_dim, embd], q4);
        if s.arch == Arch::Qwen3Moe {
            t(b("attn_q_norm"), vec![u64::from(s.head_dim)], Fill::Ones);
            t(b("attn_k_norm"), vec![u64::from(s.head_dim)], Fill::Ones);
        }
        t(b("ffn_norm"), vec![embd], Fill::Ones);
        if s.arch.is_moe() {
            t(b("ffn_gate_inp"), vec![embd, n_exp], Fill::RandomF32);
            t(b("ffn_gate_exps"), vec![embd, ff_exp, n_exp], q4);
            t(b("ffn_up_exps"), vec![embd, ff_exp, n_exp], q4);
            t(b("ffn_down_exps"), vec![ff_exp, embd, n_exp], q4);
        } else {
            t(b("ffn_gate"), vec![embd, ff], q4);
            t(b("ffn_up"), vec![embd, ff], q4);
            t(b("ffn_down"), vec![ff, embd], q4);
        }
    }
    t("output_norm.weight".into(), vec![embd], Fill::Ones);
    t(
        "output.weight".into(),
        vec![embd, vocab],
        Fill::Q4K {
            unit: false,
            suppress_rows: true,
        },
    );
    out
}

/// The test kit's vocabulary padded with unused tokens to `n_vocab`.
fn vocab(s: &ShapeSpec) -> Vocab {
    let mut v = vocabulary();
    let mut n = v.len();
    while v.len() < s.n_vocab as usize {
        v.tokens.push(format!("<unused_pad_{n}>"));
        v.scores.push(0.0);
        v.types.push(TokenType::Unused);
        n += 1;
    }
    v
}

fn metadata(s: &ShapeSpec, vocab: &Vocab) -> Vec<(String, GgufValue)> {
    use GgufValue as V;
    let a = s.arch.gguf_name();
    let k = |x: &str| format!("{a}.{x}");
    let qwen = s.arch == Arch::Qwen3Moe;
    let mut m: Vec<(String, GgufValue)> = vec![
        ("general.architecture".into(), V::String(a.into())),
        ("general.name".into(), V::String(s.name.clone())),
        ("general.file_type".into(), V::U32(FILE_TYPE_Q4_K_S)),
        ("general.quantization_version".into(), V::U32(2)),
        (k("vocab_size"), V::U32(s.n_vocab)),
        (k("context_length"), V::U32(s.context_length)),
        (k("embedding_length"), V::U32(s.n_embd)),
        (k("block_count"), V::U32(s.n_layer)),
        (k("feed_forward_length"), V::U32(s.n_ff)),
        (k("attention.head_count"), V::U32(s.n_head)),
        (k("attention.head_count_kv"), V::U32(s.n_head_kv)),
        (
            k("attention.layer_norm_rms_epsilon"),
            V::F32(if qwen { 1e-6 } else { 1e-5 }),
        ),
        (k("rope.freq_base"), V::F32(1_000_000.0)),
        (k("rope.dimension_count"), V::U32(s.head_dim)),
        (k("attention.key_length"), V::U32(s.head_dim)),
        (k("attention.value_length"), V::U32(s.head_dim)),
    ];
    if s.arch.is_moe() {
        m.push((k("expert_count"), V::U32(s.n_expert)));
        m.push((k("expert_used_count"), V::U32(s.n_expert_used)));
    }
    if qwen {
        m.push((k("expert_feed_forward_length"), V::U32(s.n_ff_exp)));
    }
    m.extend(tokenizer_metadata(vocab, Some(CHATML_TEMPLATE)));
    m
}

fn header_bytes(s: &ShapeSpec, vocab: &Vocab, plan: &[Planned]) -> io::Result<Vec<u8>> {
    let meta = metadata(s, vocab);
    let mut w = GgufWriter::new(Vec::new());
    w.header(plan.len() as u64, meta.len() as u64)?;
    for (key, value) in &meta {
        w.kv(key, value)?;
    }
    let mut offset = 0u64;
    for p in plan {
        w.tensor_info(&p.name, &p.dims, p.type_id(), offset)?;
        offset += p.padded();
    }
    w.pad(ALIGNMENT)?;
    Ok(w.into_inner())
}

/// Bytes written per positioned write (and generated at once).
const CHUNK_BYTES: u64 = 8 << 20;

/// SplitMix64: fast, seedable, good enough for random weights.
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64, name: &str, chunk: u64) -> Self {
        // FNV-1a of the tensor name, mixed with the seed and the chunk index.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut s = SplitMix(seed ^ h ^ chunk.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        s.next();
        s
    }
    #[inline(always)]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next().to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&last[..n]);
    }
}

/// Fills `out` (whole Q4_K blocks) with random blocks whose values stay within about
/// ±`amplitude`: `y = d * sc * q - dmin * m` with q in 0..16 and sc, m in 0..64, so
/// `d = amplitude / 600` and `dmin = 7.5 d` centre them.
fn q4k_blocks(out: &mut [u8], rng: &mut SplitMix, amplitude: f32) {
    rng.fill(out);
    let d = f16::from_f32(amplitude / 600.0).to_le_bytes();
    let dmin = f16::from_f32(amplitude * 7.5 / 600.0).to_le_bytes();
    for block in out.chunks_exact_mut(Q4_K_BLOCK_BYTES as usize) {
        block[0..2].copy_from_slice(&d);
        block[2..4].copy_from_slice(&dmin);
    }
}

/// Bytes `[from, to)` of tensor `p`, whose data starts `base` bytes into the file.
#[derive(Clone, Copy)]
struct Job<'a> {
    base: u64,
    p: &'a Planned,
    from: u64,
    to: u64,
}

/// Writes one [`Job`].
fn write_range(
    file: &File,
    job: Job<'_>,
    seed: u64,
    vocab: &Vocab,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let Job { base, p, from, to } = job;
    buf.resize((to - from) as usize, 0);
    let ne0 = p.dims[0];
    match p.fill {
        Fill::Ones => {
            for c in buf.chunks_exact_mut(4) {
                c.copy_from_slice(&1.0f32.to_le_bytes());
            }
        }
        Fill::RandomF32 => {
            let mut rng = SplitMix::new(seed, &p.name, from / CHUNK_BYTES);
            let amp = 1.0 / (ne0 as f32).sqrt();
            for c in buf.chunks_exact_mut(4) {
                let u = (rng.next() >> 40) as f32 / (1u64 << 24) as f32;
                c.copy_from_slice(&(amp * (2.0 * u - 1.0)).to_le_bytes());
            }
        }
        Fill::Q4K {
            unit,
            suppress_rows,
        } => {
            let mut rng = SplitMix::new(seed, &p.name, from / CHUNK_BYTES);
            let amp = if unit { 1.0 } else { 1.0 / (ne0 as f32).sqrt() };
            q4k_blocks(buf, &mut rng, amp);
            if suppress_rows {
                let row_bytes = ne0 / Q4_K_BLOCK_VALUES * Q4_K_BLOCK_BYTES;
                let first = from / row_bytes;
                for (i, row) in buf.chunks_exact_mut(row_bytes as usize).enumerate() {
                    if vocab.is_suppressed((first + i as u64) as u32) {
                        row.fill(0);
                    }
                }
            }
        }
    }
    file.write_all_at(buf, base + from)
}

/// Writes the model of `shape` to `path` with `threads` writers (0: one per core) and returns
/// its summary. The file is written under a temporary name next to `path` and renamed into
/// place when complete. Same shape, same bytes.
pub fn write_shape(shape: &ShapeSpec, path: &Path, threads: usize) -> io::Result<ModelSummary> {
    write_shape_with(shape, path, threads, true)
}

/// Like [`write_shape`], but writes only the header and leaves the tensor data a hole of the
/// right size (a sparse file, all zeros): enough for llama.cpp's metadata-only dry runs
/// (`no_alloc`) and for planning, instant at any size. Not for inference.
pub fn write_shape_header_only(shape: &ShapeSpec, path: &Path) -> io::Result<ModelSummary> {
    write_shape_with(shape, path, 1, false)
}

fn write_shape_with(
    shape: &ShapeSpec,
    path: &Path,
    threads: usize,
    data: bool,
) -> io::Result<ModelSummary> {
    shape.validate()?;
    let vocab = vocab(shape);
    let plan = plan(shape);
    let header = header_bytes(shape, &vocab, &plan)?;
    let mut jobs = Vec::new();
    let mut base = header.len() as u64;
    for p in &plan {
        // Chunks hold whole rows (so suppressed rows are whole) of whole blocks.
        let row = match p.fill {
            Fill::Q4K { .. } => p.dims[0] / Q4_K_BLOCK_VALUES * Q4_K_BLOCK_BYTES,
            _ => p.dims[0] * 4,
        };
        let step = (CHUNK_BYTES / row).max(1) * row;
        let mut from = 0;
        while from < p.n_bytes() {
            let to = (from + step).min(p.n_bytes());
            jobs.push(Job { base, p, from, to });
            from = to;
        }
        base += p.padded();
    }
    let file_size = base;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> io::Result<()> {
        let file = File::create(&tmp)?;
        file.set_len(file_size)?;
        file.write_all_at(&header, 0)?;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(4, |n| n.get())
        } else {
            threads
        };
        let next = AtomicUsize::new(if data { 0 } else { jobs.len() });
        let failed: Mutex<Option<io::Error>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..threads.min(jobs.len()).max(1) {
                scope.spawn(|| {
                    let mut buf = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&job) = jobs.get(i) else {
                            break;
                        };
                        if let Err(e) = write_range(&file, job, shape.seed, &vocab, &mut buf) {
                            *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                            next.store(jobs.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        file.sync_data()
    })();
    if let Err(e) = result.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(ModelSummary {
        path: path.to_path_buf(),
        arch_name: shape.arch.gguf_name().to_string(),
        n_vocab: shape.n_vocab,
        tensors: plan.iter().map(Planned::summary).collect(),
        file_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_header;

    /// The presets' layouts, a few MiB large.
    fn small(preset: ShapeSpec) -> ShapeSpec {
        let n_vocab = vocabulary().len() as u32 + 64;
        ShapeSpec {
            n_layer: 2,
            n_embd: 256,
            n_ff: 512,
            n_head: 2,
            n_head_kv: 1,
            head_dim: 128,
            n_expert: 4,
            n_expert_used: 2,
            n_ff_exp: if preset.arch == Arch::Qwen3Moe {
                256
            } else {
                0
            },
            n_vocab,
            ..preset
        }
    }

    #[test]
    fn presets_have_the_real_sizes() {
        let q = ShapeSpec::qwen3_30b_a3b();
        let size = q.expected_file_size().unwrap();
        // 16.0 GiB, as the model.
        assert!(
            (16.0..16.2).contains(&(size as f64 / (1u64 << 30) as f64)),
            "{size}"
        );
        let experts: u64 = q
            .tensor_plan()
            .unwrap()
            .iter()
            .filter(|t| t.is_expert())
            .map(|t| t.n_bytes)
            .sum();
        assert_eq!(experts, 48 * 3 * 128 * 768 * 2048 / 256 * 144);
        let m = ShapeSpec::mixtral_8x7b().expected_file_size().unwrap();
        assert!((26.0e9..26.7e9).contains(&(m as f64)), "{m}");
    }

    #[test]
    fn written_file_matches_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        for shape in [
            small(ShapeSpec::qwen3_30b_a3b()),
            small(ShapeSpec::mixtral_8x7b()),
        ] {
            let path = dir.path().join(format!("{}.gguf", shape.name));
            let summary = write_shape(&shape, &path, 3).unwrap();
            let len = fs::metadata(&path).unwrap().len();
            assert_eq!(len, shape.expected_file_size().unwrap());
            assert_eq!(summary.file_size, len);
            let header = read_header(&path).unwrap();
            assert_eq!(header.tensors.len(), summary.tensors.len());
            let embd = header.tensor("token_embd.weight").unwrap();
            assert_eq!(embd.ggml_type, Q4_K_TYPE_ID);
            assert_eq!(
                embd.dims,
                vec![u64::from(shape.n_embd), u64::from(shape.n_vocab)]
            );
            assert_eq!(
                header
                    .get("tokenizer.ggml.tokens")
                    .and_then(GgufValue::array_len),
                Some(shape.n_vocab as usize)
            );
            // Deterministic: a second write gives the same bytes.
            let again = dir.path().join("again.gguf");
            write_shape(&shape, &again, 1).unwrap();
            assert_eq!(fs::read(&path).unwrap(), fs::read(&again).unwrap());
        }
    }

    #[test]
    fn blocks_are_finite_and_suppressed_rows_zero() {
        let mut buf = vec![0u8; 144 * 4];
        q4k_blocks(&mut buf, &mut SplitMix::new(1, "x", 0), 0.05);
        let d = f16::from_le_bytes([buf[0], buf[1]]).to_f32();
        assert!(d > 0.0 && d.is_finite());
        assert!(buf[16..144].iter().any(|&b| b != 0));
        let bad = ShapeSpec {
            n_embd: 2000,
            ..ShapeSpec::qwen3_30b_a3b()
        };
        assert!(bad.validate().is_err());
    }
}
