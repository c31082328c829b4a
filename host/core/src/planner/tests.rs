use std::collections::BTreeMap;

use regex::RegexSet;

use super::*;
use crate::gguf::{GgmlType, GgufValue, TensorInfo};

fn tensor(name: &str, dims: &[u64], ty: GgmlType) -> TensorInfo {
    let n: u64 = dims.iter().product();
    TensorInfo {
        name: name.into(),
        dims: dims.to_vec(),
        ggml_type: ty,
        offset: 0,
        n_bytes: ty.bytes_for(n).unwrap(),
    }
}

/// A qwen3moe-shaped model in Q4_K: `n_layer` layers of `n_expert` experts of width 512,
/// n_embd 1024, 8 query / 2 KV heads of 128, vocabulary 4096.
pub(super) fn qwen_like(n_layer: u32, n_expert: u64) -> GgufFile {
    let (embd, ff, vocab, hd) = (1024u64, 512u64, 4096u64, 128u64);
    let q4 = GgmlType::Q4_K;
    let mut t = vec![tensor("token_embd.weight", &[embd, vocab], q4)];
    for i in 0..n_layer {
        let b = |s: &str| format!("blk.{i}.{s}.weight");
        t.push(tensor(&b("attn_norm"), &[embd], GgmlType::F32));
        t.push(tensor(&b("attn_q"), &[embd, 8 * hd], q4));
        t.push(tensor(&b("attn_k"), &[embd, 2 * hd], q4));
        t.push(tensor(&b("attn_v"), &[embd, 2 * hd], q4));
        t.push(tensor(&b("attn_output"), &[8 * hd, embd], q4));
        t.push(tensor(&b("ffn_norm"), &[embd], GgmlType::F32));
        t.push(tensor(&b("ffn_gate_inp"), &[embd, n_expert], GgmlType::F32));
        t.push(tensor(&b("ffn_gate_exps"), &[embd, ff, n_expert], q4));
        t.push(tensor(&b("ffn_up_exps"), &[embd, ff, n_expert], q4));
        t.push(tensor(&b("ffn_down_exps"), &[ff, embd, n_expert], q4));
    }
    t.push(tensor("output_norm.weight", &[embd], GgmlType::F32));
    t.push(tensor("output.weight", &[embd, vocab], q4));
    let mut metadata = BTreeMap::new();
    let mut put = |k: &str, v: GgufValue| {
        metadata.insert(k.to_string(), v);
    };
    put("general.architecture", GgufValue::String("qwen3moe".into()));
    put("qwen3moe.block_count", GgufValue::U32(n_layer));
    put("qwen3moe.embedding_length", GgufValue::U32(embd as u32));
    put("qwen3moe.attention.head_count", GgufValue::U32(8));
    put("qwen3moe.attention.head_count_kv", GgufValue::U32(2));
    put("qwen3moe.attention.key_length", GgufValue::U32(hd as u32));
    put("qwen3moe.attention.value_length", GgufValue::U32(hd as u32));
    put("qwen3moe.vocab_size", GgufValue::U32(vocab as u32));
    put("qwen3moe.expert_count", GgufValue::U32(n_expert as u32));
    put("qwen3moe.expert_used_count", GgufValue::U32(2));
    put("qwen3moe.feed_forward_length", GgufValue::U32(3072));
    put(
        "qwen3moe.expert_feed_forward_length",
        GgufValue::U32(ff as u32),
    );
    GgufFile {
        path: "qwen-like.gguf".into(),
        version: 3,
        file_size: 0,
        alignment: 32,
        data_offset: 0,
        metadata,
        tensors: t,
    }
}

pub(super) fn request(mode: MoeOffload, budget: Option<u64>) -> PlanRequest {
    PlanRequest {
        mode,
        budget,
        ctx_per_seq: 4096,
        parallel: 1,
        ubatch: None,
        device: DeviceProfile::CUDA,
        device_name: "CUDA0".into(),
    }
}

/// `request` with a fixed micro-batch (so `auto` and `--cpu-moe` have the same base).
fn request_ub(mode: MoeOffload, budget: Option<u64>, ubatch: u32) -> PlanRequest {
    PlanRequest {
        ubatch: Some(ubatch),
        ..request(mode, budget)
    }
}

fn tensor_bytes(g: &GgufFile) -> u64 {
    memory::device_tensor_bytes(g.tensor("blk.0.ffn_down_exps.weight").unwrap())
}

fn gpu_experts(p: &Plan) -> usize {
    p.expert_tensors_total - p.expert_tensors_host
}

/// The names the plan's patterns send to host memory (llama.cpp's `regex_search`).
fn host_names(g: &GgufFile, p: &Plan) -> Vec<String> {
    let set = RegexSet::new(&p.patterns).unwrap();
    g.tensors
        .iter()
        .filter(|t| set.is_match(&t.name))
        .map(|t| t.name.clone())
        .collect()
}

#[test]
fn everything_fits_without_a_budget_or_with_a_large_one() {
    let g = qwen_like(8, 16);
    for budget in [None, Some(64 << 30)] {
        let p = plan(&g, &request(MoeOffload::Auto, budget)).unwrap();
        assert!(p.patterns.is_empty());
        assert_eq!(p.expert_tensors_host, 0);
        assert_eq!(p.ubatch, DEFAULT_UBATCH);
        assert_eq!(p.estimate.budget, budget);
    }
}

#[test]
fn monotonic_in_the_budget_and_never_over_it() {
    let g = qwen_like(8, 16);
    let all = plan(&g, &request(MoeOffload::Auto, None)).unwrap();
    let hi = all.estimate.total() + 8 * MIB;
    let tensor = tensor_bytes(&g);
    let mut last = 0;
    let mut seen_split = false;
    let mut fitted = false;
    for budget in (hi - 400 * MIB..hi).step_by((MIB / 4) as usize) {
        let p = match plan(&g, &request(MoeOffload::Auto, Some(budget))) {
            Ok(p) => p,
            Err(err) => {
                // Too small, until the first budget that works; never after it.
                assert!(
                    !fitted,
                    "budget {budget} refused after a smaller one worked: {err}"
                );
                continue;
            }
        };
        fitted = true;
        assert!(
            p.estimate.total() <= budget,
            "{} over the budget {budget}: {p}",
            p.estimate.total()
        );
        let n = gpu_experts(&p);
        assert!(
            n >= last,
            "budget {budget}: {n} expert tensors on the GPU, fewer than {last}"
        );
        last = n;
        seen_split |= p.split_layer.is_some();
        if p.expert_tensors_host > 0 {
            // The whole budget is used, up to the gate+up pair of a split layer.
            assert!(
                budget - p.estimate.total() < 2 * tensor,
                "budget {budget}: {} left unused: {p}",
                budget - p.estimate.total()
            );
        }
    }
    assert_eq!(
        last, all.expert_tensors_total,
        "the largest budget holds every expert"
    );
    assert!(seen_split, "some budgets split a layer");
}

#[test]
fn the_host_keeps_leading_layers_and_splits_at_most_one() {
    let g = qwen_like(8, 16);
    let min = plan(&g, &request_ub(MoeOffload::All, None, 512)).unwrap();
    let tensor = tensor_bytes(&g);
    let at = |room_tensors: f64| {
        let budget = min.estimate.total() + (room_tensors * tensor as f64) as u64;
        let p = plan(&g, &request_ub(MoeOffload::Auto, Some(budget), 512)).unwrap();
        let mut host = host_names(&g, &p);
        host.sort();
        (p, host)
    };
    let names = |layers: std::ops::Range<u32>, kinds: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = layers
            .flat_map(|i| {
                kinds
                    .iter()
                    .map(move |k| format!("blk.{i}.ffn_{k}_exps.weight"))
            })
            .collect();
        v.sort();
        v
    };
    // Room for 6.5 tensors: layers 7 and 6 on the GPU, nothing of layer 5.
    let (p, host) = at(6.5);
    assert_eq!((gpu_experts(&p), p.split_layer), (6, None), "{p}");
    assert_eq!(host, names(0..6, &["down", "gate", "up"]));
    // 7.5: and layer 5's down projection.
    let (p, host) = at(7.5);
    assert_eq!(
        (gpu_experts(&p), p.expert_layers_host, p.split_layer),
        (7, 5, Some(5))
    );
    let mut expected = names(0..5, &["down", "gate", "up"]);
    expected.extend(names(5..6, &["gate", "up"]));
    expected.sort();
    assert_eq!(host, expected);
    assert!(
        p.to_string().starts_with(
            "plan for CUDA0: experts of 5 of 8 layers in host memory (+2 tensors of layer 5), \
             micro-batch 512"
        ),
        "{p}"
    );
    // 8.5: its gate and up projections instead (they feed one product; measured faster).
    let (p, host) = at(8.5);
    assert_eq!(gpu_experts(&p), 8, "{p}");
    let mut expected = names(0..5, &["down", "gate", "up"]);
    expected.extend(names(5..6, &["down"]));
    expected.sort();
    assert_eq!(host, expected);
}

#[test]
fn a_too_small_budget_names_the_smallest_that_works() {
    let g = qwen_like(8, 16);
    let min = plan(&g, &request_ub(MoeOffload::All, None, 1024)).unwrap();
    let err = plan(
        &g,
        &request_ub(MoeOffload::Auto, Some(min.estimate.total() - 1), 1024),
    )
    .unwrap_err()
    .to_string();
    let needed = min.estimate.total().div_ceil(MIB);
    assert!(
        err.contains(&format!("--vram-budget-mb {needed} or more")),
        "{err}"
    );
    assert!(
        err.contains("KV cache for one slot of 4096 tokens"),
        "{err}"
    );
    assert!(err.contains("--ubatch-size 512"), "{err}");
    // That budget works, with every expert in host memory.
    let p = plan(&g, &request_ub(MoeOffload::Auto, Some(needed * MIB), 1024)).unwrap();
    assert_eq!(gpu_experts(&p), 0);
    // More slots: more KV cache, named per slot.
    let mut four = request_ub(MoeOffload::Auto, Some(needed * MIB), 1024);
    four.parallel = 4;
    let err = plan(&g, &four).unwrap_err().to_string();
    assert!(err.contains("for 4 slots of 4096 tokens ("), "{err}");
}

#[test]
fn the_micro_batch_follows_the_placement() {
    let g = qwen_like(8, 16);
    assert_eq!(
        plan(&g, &request(MoeOffload::None, None)).unwrap().ubatch,
        512
    );
    assert_eq!(
        plan(&g, &request(MoeOffload::All, None)).unwrap().ubatch,
        4096
    );
    assert_eq!(
        plan(&g, &request(MoeOffload::FirstLayers(2), None))
            .unwrap()
            .ubatch,
        4096
    );
    let mut short = request(MoeOffload::All, None);
    short.ctx_per_seq = 1024;
    assert_eq!(
        plan(&g, &short).unwrap().ubatch,
        1024,
        "at most the context"
    );
    let mut fixed = request(MoeOffload::All, None);
    fixed.ubatch = Some(2048);
    let p = plan(&g, &fixed).unwrap();
    assert_eq!(p.ubatch, 2048);
    // A larger micro-batch needs a larger compute buffer.
    let big = plan(&g, &request(MoeOffload::All, None)).unwrap();
    assert!(big.estimate.compute > p.estimate.compute);
    for (u, what) in [(0, "at least 1"), (4097, "larger than the context of 4096")] {
        let mut bad = request(MoeOffload::All, None);
        bad.ubatch = Some(u);
        let err = plan(&g, &bad).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
}

#[test]
fn fixed_modes_are_estimated_as_they_are() {
    let g = qwen_like(8, 16);
    let all = plan(&g, &request(MoeOffload::All, None)).unwrap();
    assert_eq!(all.expert_tensors_host, 24);
    assert_eq!(all.expert_layers_host, 8);
    let first = plan(&g, &request(MoeOffload::FirstLayers(3), None)).unwrap();
    assert_eq!(first.expert_tensors_host, 9);
    assert_eq!(first.split_layer, None);
    let names = host_names(&g, &first);
    assert!(names
        .iter()
        .all(|n| n.starts_with("blk.0.") || n.starts_with("blk.1.") || n.starts_with("blk.2.")));
    let none = plan(&g, &request(MoeOffload::None, None)).unwrap();
    assert!(none.patterns.is_empty());
    assert!(none.estimate.weights > all.estimate.weights);
}

#[test]
fn kv_cache_and_context_padding() {
    let g = qwen_like(8, 16);
    let shape = ModelShape::from_gguf(&g).unwrap();
    let ctx = ContextShape {
        ctx_per_seq: 1000,
        parallel: 3,
        ubatch: 512,
        kv_value_bytes: 2,
        flash_attn: true,
    };
    assert_eq!(ctx.kv_cells(), 3072, "3000 cells padded to 256");
    // 8 layers x 3072 cells x 2 KV heads x (128 + 128) x 2 bytes.
    assert_eq!(memory::kv_cache_bytes(&shape, &ctx), 8 * 3072 * 2 * 256 * 2);
    assert_eq!(ctx.outputs(), 3);
}

#[test]
fn the_shape_of_the_issue_s_qwen3_model() {
    // Qwen3-30B-A3B: the KV cache of one 4096-token slot is 384 MiB.
    let mut g = qwen_like(48, 128);
    g.metadata
        .insert("qwen3moe.attention.head_count_kv".into(), GgufValue::U32(4));
    let shape = ModelShape::from_gguf(&g).unwrap();
    let ctx = ContextShape {
        ctx_per_seq: 4096,
        parallel: 1,
        ubatch: 512,
        kv_value_bytes: 2,
        flash_attn: true,
    };
    assert_eq!(memory::kv_cache_bytes(&shape, &ctx), 384 * MIB);
}

#[test]
fn a_missing_key_is_named() {
    let mut g = qwen_like(2, 4);
    g.metadata.remove("qwen3moe.embedding_length");
    let err = plan(&g, &request(MoeOffload::Auto, Some(1 << 30)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("qwen3moe.embedding_length"), "{err}");
}

#[test]
fn device_sizes_pad_quantized_rows() {
    // ne0 768 is not a multiple of 512: one padding of 256 values (one Q4_K block) is added.
    let t = tensor(
        "blk.0.ffn_down_exps.weight",
        &[768, 2048, 128],
        GgmlType::Q4_K,
    );
    assert_eq!(
        memory::device_tensor_bytes(&t),
        (t.n_bytes + 144).div_ceil(128) * 128
    );
    let f = tensor("x", &[3], GgmlType::F32);
    assert_eq!(memory::device_tensor_bytes(&f), 128);
}

#[test]
fn auto_never_trades_an_expert_for_a_larger_micro_batch() {
    let g = qwen_like(48, 128);
    let everything = plan(&g, &request(MoeOffload::Auto, None)).unwrap();
    let top = everything.estimate.total();
    let at = |b: u64, ubatch: Option<u32>| {
        let r = match ubatch {
            Some(u) => request_ub(MoeOffload::Auto, Some(b), u),
            None => request(MoeOffload::Auto, Some(b)),
        };
        plan(&g, &r)
    };
    let (mut larger, mut kept, mut fitted) = (0, 0, 0);
    for b in (top / 4..top).step_by((8 * MIB) as usize) {
        let Ok(base) = at(b, Some(DEFAULT_UBATCH)) else {
            assert!(fitted == 0, "budget {b} refused after a smaller one worked");
            assert!(at(b, None).is_err());
            continue;
        };
        fitted += 1;
        let p = at(b, None).unwrap();
        assert!(p.estimate.total() <= b, "{p}");
        // The experts of the default micro-batch's plan, whatever micro-batch is chosen.
        assert_eq!(p.expert_tensors_host, base.expert_tensors_host, "{p}");
        if p.ubatch > DEFAULT_UBATCH {
            larger += 1;
        } else {
            kept += 1;
        }
        // The largest micro-batch that keeps them is the one chosen.
        for u in [4096, 2048, 1024].into_iter().filter(|&u| u > p.ubatch) {
            if let Ok(q) = at(b, Some(u)) {
                assert!(q.expert_tensors_host > base.expert_tensors_host, "{q}");
            }
        }
    }
    assert!(larger > 0 && kept > 0, "{larger} larger, {kept} kept");
    // `--ubatch-size` is kept as given.
    let fixed = plan(&g, &request_ub(MoeOffload::Auto, Some(top - MIB), 2048)).unwrap();
    assert_eq!(fixed.ubatch, 2048);
}
