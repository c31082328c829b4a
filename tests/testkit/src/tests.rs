//! Unit tests of the writer (compiled only for `cargo test`).

use super::*;
use std::io::{Read, Seek, SeekFrom};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = File::open(path).expect("open");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    let mut b = vec![0u8; len];
    f.read_exact(&mut b).expect("read");
    b
}

/// Absolute offset of a tensor's data and its info.
fn locate(h: &GgufHeader, name: &str) -> (u64, GgufTensorInfo) {
    let t = h
        .tensor(name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
        .clone();
    (h.data_offset + t.offset, t)
}

#[test]
fn writes_are_deterministic() {
    let dir = tmp();
    for spec in [
        ModelSpec::dense(),
        ModelSpec::mixtral_moe(),
        ModelSpec::qwen3_moe(),
    ] {
        for wt in WeightType::ALL {
            let spec = spec.clone().with_weight_type(wt);
            let a = dir.path().join("a.gguf");
            let b = dir.path().join("b.gguf");
            write_model(&spec, &a).expect("write a");
            write_model(&spec, &b).expect("write b");
            let (ba, bb) = (fs::read(&a).expect("read a"), fs::read(&b).expect("read b"));
            assert_eq!(ba.len() as u64, spec.expected_file_size().expect("size"));
            assert!(ba == bb, "{spec:?} not deterministic");
        }
    }
    // A different seed changes the weights but not the layout.
    let a = dir.path().join("s1.gguf");
    let b = dir.path().join("s2.gguf");
    write_model(&ModelSpec::dense(), &a).expect("write");
    write_model(&ModelSpec::dense().with_seed(7), &b).expect("write");
    let (ba, bb) = (fs::read(&a).expect("read"), fs::read(&b).expect("read"));
    assert_eq!(ba.len(), bb.len());
    assert_ne!(ba, bb);
    // No temporary files are left behind.
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("readdir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn header_parses_back() {
    let dir = tmp();
    for spec in [
        ModelSpec::dense(),
        ModelSpec::mixtral_moe(),
        ModelSpec::qwen3_moe(),
    ] {
        let spec = spec.with_weight_type(WeightType::Q8_0);
        let path = dir.path().join(spec.file_name());
        let written = write_model(&spec, &path).expect("write");

        let raw = read_at(&path, 0, 8);
        assert_eq!(&raw[..4], b"GGUF");
        assert_eq!(u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]), 3);

        let h = read_header(&path).expect("parse");
        assert_eq!(h.version, 3);
        assert_eq!(h.alignment, 32);
        assert_eq!(h.data_offset % 32, 0);
        assert!(h.get("general.alignment").is_none());
        let a = spec.arch.gguf_name();
        assert_eq!(
            h.get("general.architecture").and_then(GgufValue::as_str),
            Some(a)
        );
        assert_eq!(
            h.get("general.name").and_then(GgufValue::as_str),
            Some(spec.name.as_str())
        );
        assert_eq!(
            h.get("general.file_type").and_then(GgufValue::as_u32),
            Some(7)
        );
        let u = |k: &str| h.get(&format!("{a}.{k}")).and_then(GgufValue::as_u32);
        assert_eq!(u("block_count"), Some(spec.n_layer));
        assert_eq!(u("embedding_length"), Some(spec.n_embd));
        assert_eq!(u("attention.head_count"), Some(spec.n_head));
        assert_eq!(u("attention.head_count_kv"), Some(spec.n_head_kv));
        assert_eq!(u("rope.dimension_count"), Some(spec.head_dim()));
        assert_eq!(u("context_length"), Some(spec.context_length));
        // llama.cpp requires exact GGUF types: u32 for counts, f32 for eps.
        assert!(matches!(
            h.get(&format!("{a}.block_count")),
            Some(GgufValue::U32(_))
        ));
        assert!(matches!(
            h.get(&format!("{a}.attention.layer_norm_rms_epsilon")),
            Some(GgufValue::F32(_))
        ));
        if spec.arch.is_moe() {
            assert_eq!(u("expert_count"), Some(spec.n_expert));
            assert_eq!(u("expert_used_count"), Some(spec.n_expert_used));
        } else {
            assert_eq!(u("expert_count"), None);
        }
        if spec.arch == Arch::Qwen3Moe {
            assert_eq!(u("expert_feed_forward_length"), Some(spec.n_ff_exp));
            assert_eq!(u("attention.key_length"), Some(spec.head_dim()));
            assert_eq!(u("attention.value_length"), Some(spec.head_dim()));
        }

        let vocab = vocabulary();
        assert_eq!(
            h.get("tokenizer.ggml.model").and_then(GgufValue::as_str),
            Some("llama")
        );
        match h.get("tokenizer.ggml.tokens") {
            Some(GgufValue::StringArray(t)) => assert_eq!(t, &vocab.tokens),
            other => panic!("tokens: {other:?}"),
        }
        match h.get("tokenizer.ggml.scores") {
            Some(GgufValue::F32Array(s)) => assert_eq!(s, &vocab.scores),
            other => panic!("scores: {other:?}"),
        }
        match h.get("tokenizer.ggml.token_type") {
            Some(GgufValue::I32Array(t)) => {
                assert_eq!(t.len(), vocab.len());
                assert_eq!(t[0], 2);
                assert_eq!(t[1], 3);
                assert_eq!(t[IM_END_ID as usize], 3);
                assert_eq!(t[FIRST_BYTE_ID as usize], 6);
                assert_eq!(t[SPACE_ID as usize], 1);
            }
            other => panic!("token_type: {other:?}"),
        }
        let tok = |k: &str| {
            h.get(&format!("tokenizer.ggml.{k}"))
                .and_then(GgufValue::as_u32)
        };
        assert_eq!(tok("bos_token_id"), Some(1));
        assert_eq!(tok("eos_token_id"), Some(2));
        assert_eq!(tok("unknown_token_id"), Some(0));
        assert_eq!(tok("eot_token_id"), Some(IM_END_ID));
        assert_eq!(
            h.get("tokenizer.ggml.add_bos_token")
                .and_then(GgufValue::as_bool),
            Some(true)
        );
        assert_eq!(
            h.get("tokenizer.ggml.add_eos_token")
                .and_then(GgufValue::as_bool),
            Some(false)
        );
        assert_eq!(
            h.get("tokenizer.ggml.add_space_prefix")
                .and_then(GgufValue::as_bool),
            Some(false)
        );
        assert_eq!(
            h.get("tokenizer.chat_template").and_then(GgufValue::as_str),
            Some(CHATML_TEMPLATE)
        );

        // Offsets are contiguous with 32-byte padding and the data fills the file.
        let mut expect = 0u64;
        for t in &h.tensors {
            assert_eq!(t.offset, expect, "{}", t.name);
            expect += t.n_bytes().expect("known type").div_ceil(32) * 32;
        }
        assert_eq!(h.data_offset + expect, written.file_size);
        assert_eq!(fs::metadata(&path).expect("meta").len(), written.file_size);

        let read = read_summary(&path).expect("summary");
        assert_eq!(read, written);
        assert_eq!(read.n_vocab as usize, vocab.len());
        assert_eq!(spec.tensor_plan().expect("plan"), written.tensors);
    }
}

#[test]
fn tensor_layouts_match_llama_cpp() {
    let v = vocabulary().len() as u64;
    let s = ModelSpec::qwen3_moe();
    let sum = s.tensor_plan().expect("plan");
    let dims = |n: &str| sum.iter().find(|t| t.name == n).map(|t| t.dims.clone());
    assert_eq!(dims("token_embd.weight"), Some(vec![128, v]));
    assert_eq!(dims("output.weight"), Some(vec![128, v]));
    assert_eq!(dims("output_norm.weight"), Some(vec![128]));
    assert_eq!(dims("blk.0.attn_q.weight"), Some(vec![128, 128]));
    assert_eq!(dims("blk.0.attn_k.weight"), Some(vec![128, 64]));
    assert_eq!(dims("blk.0.attn_v.weight"), Some(vec![128, 64]));
    assert_eq!(dims("blk.0.attn_output.weight"), Some(vec![128, 128]));
    assert_eq!(dims("blk.3.attn_q_norm.weight"), Some(vec![32]));
    assert_eq!(dims("blk.3.attn_k_norm.weight"), Some(vec![32]));
    assert_eq!(dims("blk.1.ffn_gate_inp.weight"), Some(vec![128, 8]));
    assert_eq!(dims("blk.1.ffn_gate_exps.weight"), Some(vec![128, 64, 8]));
    assert_eq!(dims("blk.1.ffn_up_exps.weight"), Some(vec![128, 64, 8]));
    assert_eq!(dims("blk.1.ffn_down_exps.weight"), Some(vec![64, 128, 8]));
    // token_embd, output_norm, output + 12 per layer.
    assert_eq!(sum.len(), 3 + 4 * 12);

    let d = ModelSpec::dense().tensor_plan().expect("plan");
    assert_eq!(d.len(), 3 + 4 * 9);
    assert!(d
        .iter()
        .any(|t| t.name == "blk.0.ffn_down.weight" && t.dims == vec![256, 128]));
    assert!(d
        .iter()
        .all(|t| !t.name.contains("exps") && !t.name.contains("q_norm")));

    let m = ModelSpec::mixtral_moe().tensor_plan().expect("plan");
    assert_eq!(m.len(), 3 + 4 * 10);
    assert!(m
        .iter()
        .any(|t| t.name == "blk.2.ffn_down_exps.weight" && t.dims == vec![128, 128, 4]));
    assert!(m
        .iter()
        .any(|t| t.name == "blk.2.ffn_gate_inp.weight" && t.dims == vec![128, 4]));
}

#[test]
fn expert_tensor_counts_and_bytes() {
    let dir = tmp();
    let mix = write_model(&ModelSpec::mixtral_moe(), &dir.path().join("m.gguf")).expect("write");
    assert_eq!(mix.expert_tensors().count(), 12);
    assert_eq!(mix.expert_bytes(), 4 * 3 * (128 * 128 * 4) * 4);
    let qwen = write_model(&ModelSpec::qwen3_moe(), &dir.path().join("q.gguf")).expect("write");
    assert_eq!(qwen.expert_tensors().count(), 12);
    assert_eq!(qwen.expert_bytes(), 4 * 3 * (128 * 64 * 8) * 4);
    let q8 = ModelSpec::qwen3_moe().with_weight_type(WeightType::Q8_0);
    let qwen8 = write_model(&q8, &dir.path().join("q8.gguf")).expect("write");
    assert_eq!(qwen8.expert_bytes(), 4 * 3 * (128 * 64 * 8) / 32 * 34);
    assert!(qwen8
        .expert_tensors()
        .all(|t| t.ggml_type == "q8_0" && t.dims.len() == 3));
    for s in [&mix, &qwen, &qwen8] {
        assert!(s.expert_bytes() < s.total_tensor_bytes());
        assert!(s.total_tensor_bytes() < s.file_size);
    }
    let dense = write_model(&ModelSpec::dense(), &dir.path().join("d.gguf")).expect("write");
    assert_eq!(dense.expert_tensors().count(), 0);
    assert_eq!(dense.expert_bytes(), 0);
}

#[test]
fn expert_name_matching() {
    for n in [
        "blk.0.ffn_up_exps.weight",
        "blk.0.ffn_down_exps.weight",
        "blk.10.ffn_gate_exps.weight",
        "blk.1.ffn_gate_up_exps.weight",
        "blk.1.ffn_up_chexps.weight",
    ] {
        assert!(is_expert_tensor_name(n), "{n}");
    }
    for n in [
        "blk.0.ffn_up.weight",
        "blk.0.ffn_gate_inp.weight",
        "blk.0.ffn_up_shexp.weight",
        "blk.0.ffn_down_exps_b.weight",
        "token_embd.weight",
    ] {
        assert!(!is_expert_tensor_name(n), "{n}");
    }
}

#[test]
fn weight_type_byte_sizes() {
    let dir = tmp();
    let n = |t: &TensorSummary| t.dims.iter().product::<u64>();
    for wt in WeightType::ALL {
        let spec = ModelSpec::dense().with_weight_type(wt);
        let s = write_model(&spec, &dir.path().join(format!("{}.gguf", wt.name()))).expect("write");
        for t in &s.tensors {
            if t.dims.len() == 1 {
                assert_eq!(t.ggml_type, "f32", "{}", t.name);
                assert_eq!(t.n_bytes, n(t) * 4);
                continue;
            }
            assert_eq!(t.ggml_type, wt.name(), "{}", t.name);
            let expect = match wt {
                WeightType::F32 => n(t) * 4,
                WeightType::F16 => n(t) * 2,
                WeightType::Q8_0 => {
                    assert_eq!(t.dims[0] % 32, 0);
                    n(t) / 32 * 34
                }
            };
            assert_eq!(t.n_bytes, expect, "{}", t.name);
        }
    }
    // The MoE router stays f32 in every weight type.
    let s = ModelSpec::qwen3_moe()
        .with_weight_type(WeightType::Q8_0)
        .tensor_plan()
        .expect("plan");
    let gi = s
        .iter()
        .find(|t| t.name == "blk.0.ffn_gate_inp.weight")
        .expect("gate_inp");
    assert_eq!(gi.ggml_type, "f32");
    assert_eq!(gi.n_bytes, 128 * 8 * 4);
}

#[test]
fn weight_types_hold_the_same_values() {
    let dir = tmp();
    let mut headers = Vec::new();
    for wt in WeightType::ALL {
        let p = dir.path().join(format!("{}.gguf", wt.name()));
        write_model(&ModelSpec::dense().with_weight_type(wt), &p).expect("write");
        headers.push((wt, p.clone(), read_header(&p).expect("parse")));
    }
    // Decode the first 64 values of blk.0.attn_q in each file.
    let mut decoded: Vec<Vec<f32>> = Vec::new();
    for (wt, path, h) in &headers {
        let (off, _) = locate(h, "blk.0.attn_q.weight");
        let vals: Vec<f32> = match wt {
            WeightType::F32 => read_at(path, off, 256)
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            WeightType::F16 => read_at(path, off, 128)
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            WeightType::Q8_0 => read_at(path, off, 68)
                .chunks_exact(34)
                .flat_map(|b| {
                    let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
                    b[2..]
                        .iter()
                        .map(move |&q| d * f32::from(q as i8))
                        .collect::<Vec<_>>()
                })
                .collect(),
        };
        decoded.push(vals);
    }
    let bound = 1.0 / 128f32.sqrt() * 1.001;
    assert!(decoded[0].iter().all(|x| x.is_finite() && x.abs() <= bound));
    assert!(decoded[0].iter().any(|x| *x != 0.0));
    assert_eq!(
        decoded[0], decoded[2],
        "f32 and q8_0 hold the same grid values"
    );
    for (a, b) in decoded[0].iter().zip(&decoded[1]) {
        assert!((a - b).abs() <= a.abs() * 1e-3 + 1e-7, "{a} vs {b}");
    }

    // Norms are 1.0.
    let (_, path, h) = &headers[1];
    let (off, t) = locate(h, "blk.0.attn_norm.weight");
    assert_eq!(t.ggml_type, 0);
    let ones = read_at(path, off, 128 * 4);
    assert!(ones
        .chunks_exact(4)
        .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) == 1.0));
}

#[test]
fn output_rows_of_control_tokens_are_zero() {
    let dir = tmp();
    let p = dir.path().join("d.gguf");
    write_model(&ModelSpec::dense(), &p).expect("write");
    let h = read_header(&p).expect("parse");
    let (off, t) = locate(&h, "output.weight");
    let row = (t.dims[0] * 4) as usize;
    let vocab = vocabulary();
    for id in [
        UNK_ID,
        BOS_ID,
        EOS_ID,
        IM_START_ID,
        IM_END_ID,
        SPACE_ID,
        FIRST_BYTE_ID + 0xC3,
        FIRST_BYTE_ID,
        FIRST_BYTE_ID + 0x0A,
        FIRST_BYTE_ID + 0x1A,
        FIRST_BYTE_ID + 0x7F,
    ] {
        let bytes = read_at(&p, off + u64::from(id) * row as u64, row);
        let zero = bytes.iter().all(|b| *b == 0);
        assert_eq!(zero, vocab.is_suppressed(id), "token {id}");
    }
    assert!(vocab.is_suppressed(FIRST_BYTE_ID));
    assert!(!vocab.is_suppressed(Vocab::byte_id(b'\n')));
    assert!(!vocab.is_suppressed(Vocab::byte_id(0xA9)));
    // Bytes that never occur in UTF-8 are unused tokens (never sampled under a grammar).
    for b in [0xC0u8, 0xC1, 0xF5, 0xF8, 0xFF] {
        assert_eq!(
            vocab.types[Vocab::byte_id(b) as usize],
            TokenType::Unused,
            "{b:#x}"
        );
    }
    let last = vocab.len() as u32 - 1;
    assert!(vocab.is_suppressed(last) == (vocab.types[last as usize] == TokenType::Unused));
}

#[test]
fn rejects_invalid_specs() {
    let bad = [
        ModelSpec::dense()
            .with_weight_type(WeightType::Q8_0)
            .with_name("x")
            .with_layers(0),
        ModelSpec {
            n_embd: 80,
            n_head: 4,
            ..ModelSpec::dense().with_weight_type(WeightType::Q8_0)
        },
        ModelSpec {
            n_embd: 130,
            ..ModelSpec::dense()
        },
        ModelSpec {
            n_head_kv: 3,
            ..ModelSpec::dense()
        },
        ModelSpec::dense().with_experts(4, 2),
        ModelSpec::qwen3_moe().with_experts(4, 0),
        ModelSpec::qwen3_moe().with_experts(2, 3),
        ModelSpec {
            n_ff_exp: 48,
            ..ModelSpec::qwen3_moe().with_weight_type(WeightType::Q8_0)
        },
        ModelSpec {
            n_ff_exp: 64,
            ..ModelSpec::mixtral_moe()
        },
    ];
    let dir = tmp();
    for spec in bad {
        let p = dir.path().join("bad.gguf");
        let e = write_model(&spec, &p).expect_err("must fail");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{spec:?}: {e}");
        assert!(!p.exists());
    }
    // n_embd 80 is fine in f32 (only q8_0 needs multiples of 32).
    ModelSpec {
        n_embd: 80,
        n_head: 4,
        ..ModelSpec::dense()
    }
    .validate()
    .expect("valid");
    ModelSpec::qwen3_moe_large().validate().expect("valid");
}

#[test]
fn ensure_model_caches_by_spec() {
    let dir = tmp();
    let spec = ModelSpec::mixtral_moe().with_weight_type(WeightType::F16);
    let a = ensure_model(&spec, dir.path()).expect("first");
    let mtime = fs::metadata(&a.path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let b = ensure_model(&spec, dir.path()).expect("second");
    assert_eq!(a, b);
    assert_eq!(
        fs::metadata(&b.path)
            .and_then(|m| m.modified())
            .expect("mtime"),
        mtime
    );
    let other = ensure_model(&spec.clone().with_seed(1), dir.path()).expect("other");
    assert_ne!(other.path, a.path);
    assert_eq!(fs::read_dir(dir.path()).expect("readdir").count(), 2);
    // A truncated file is rewritten.
    fs::write(&a.path, b"GGUF").expect("truncate");
    let c = ensure_model(&spec, dir.path()).expect("rewrite");
    assert_eq!(c.file_size, a.file_size);
}

#[test]
fn presets_are_small_and_valid() {
    for (spec, n_layer, n_expert) in [
        (ModelSpec::dense(), 4, 0),
        (ModelSpec::mixtral_moe(), 4, 4),
        (ModelSpec::qwen3_moe(), 4, 8),
    ] {
        spec.validate().expect("valid");
        assert_eq!(spec.n_layer, n_layer);
        assert_eq!(spec.n_expert, n_expert);
        assert_eq!(spec.chat_template.as_deref(), Some(CHATML_TEMPLATE));
        for wt in WeightType::ALL {
            let size = spec
                .clone()
                .with_weight_type(wt)
                .expected_file_size()
                .expect("size");
            assert!(size < 16 << 20, "{spec:?} {wt:?} is {size} bytes");
        }
    }
    assert_eq!(ModelSpec::mixtral_moe().arch.gguf_name(), "llama");
    assert_eq!(ModelSpec::qwen3_moe().arch.gguf_name(), "qwen3moe");
    let large = ModelSpec::qwen3_moe_large()
        .expected_file_size()
        .expect("size");
    assert!((2_500_000_000..3_200_000_000).contains(&large), "{large}");
}

#[test]
fn no_chat_template_key_when_none() {
    let dir = tmp();
    let p = dir.path().join("n.gguf");
    write_model(&ModelSpec::dense().with_chat_template(None), &p).expect("write");
    let h = read_header(&p).expect("parse");
    assert!(h.get("tokenizer.chat_template").is_none());
}

/// Writes the ~2.8 GB preset and checks it is fast enough. Run with
/// `cargo test -p shimmy-testkit --release -- --ignored large`.
#[test]
#[ignore]
fn large_model_writes_fast() {
    let dir = tmp();
    let start = std::time::Instant::now();
    let s = write_model(
        &ModelSpec::qwen3_moe_large(),
        &dir.path().join("large.gguf"),
    )
    .expect("write");
    let secs = start.elapsed().as_secs_f64();
    eprintln!("wrote {} bytes in {secs:.1}s", s.file_size);
    assert_eq!(s.expert_tensors().count(), 48);
    assert!(secs < 60.0);
}

#[test]
fn byte_stream_is_chunking_independent_and_symmetric() {
    let mut whole = vec![0u8; 10_000];
    ByteStream::new(42, "blk.0.attn_q.weight").fill(&mut whole);
    let mut pieces = vec![0u8; 10_000];
    let mut s = ByteStream::new(42, "blk.0.attn_q.weight");
    let mut at = 0;
    for len in [3usize, 5, 8, 13, 1, 0, 64, 7].iter().cycle() {
        let end = (at + len).min(pieces.len());
        s.fill(&mut pieces[at..end]);
        at = end;
        if at == pieces.len() {
            break;
        }
    }
    assert_eq!(whole, pieces);
    assert!(!whole.contains(&0x80), "-128 must never occur");
    let mut counts = [0u32; 256];
    for b in &whole {
        counts[usize::from(*b)] += 1;
    }
    // 255 live values, ~39 hits each: every value shows up.
    assert!(counts
        .iter()
        .enumerate()
        .all(|(b, &c)| (b == 0x80) == (c == 0)));
    let mut other = vec![0u8; 64];
    ByteStream::new(42, "blk.0.attn_k.weight").fill(&mut other);
    assert_ne!(&whole[..64], &other[..]);
}
