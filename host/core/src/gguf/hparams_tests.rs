//! Tests of the hyper-parameter checks on hand-written files: each value llama.cpp would
//! abort on is refused with the key, the value and the allowed range.

use super::test_writer::{GgufBuilder, Val};
use super::*;

/// A consistent dense llama header (4 layers, 128 wide, 4 heads of 32, 2 KV heads).
fn llama() -> GgufBuilder {
    GgufBuilder::new("llama")
        .kv("llama.block_count", Val::U32(4))
        .kv("llama.context_length", Val::U32(4096))
        .kv("llama.embedding_length", Val::U32(128))
        .kv("llama.feed_forward_length", Val::U32(256))
        .kv("llama.attention.head_count", Val::U32(4))
        .kv("llama.attention.head_count_kv", Val::U32(2))
        .kv("llama.rope.dimension_count", Val::U32(32))
        .kv("llama.attention.layer_norm_rms_epsilon", Val::F32(1e-5))
        .kv("tokenizer.ggml.model", Val::Str("llama".into()))
        .kv(
            "tokenizer.ggml.tokens",
            Val::str_array(&["<unk>", "<s>", "</s>", "a"]),
        )
        .tensor("blk.3.attn_norm.weight", &[128], GgmlType::F32)
}

/// `llama()` with `key` set to `val` (replacing it when present).
fn with(key: &str, val: Val) -> GgufBuilder {
    let mut b = llama();
    b.kvs.retain(|(k, _)| k != key);
    b.kv(key, val)
}

fn err(b: &GgufBuilder) -> String {
    let e = GgufFile::from_bytes(&b.build(), "m.gguf").expect_err("should be refused");
    assert!(matches!(e, crate::Error::InvalidGguf { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.starts_with("m.gguf: invalid GGUF: "), "{text}");
    text
}

fn u32_array(values: &[u32]) -> Val {
    Val::Array(
        4,
        values.len() as u64,
        values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

#[test]
fn a_consistent_header_passes() {
    GgufFile::from_bytes(&llama().build(), "m.gguf").unwrap();
    // Per-layer arrays of the right length pass too.
    GgufFile::from_bytes(
        &with("llama.attention.head_count_kv", u32_array(&[2, 2, 1, 4])).build(),
        "m.gguf",
    )
    .unwrap();
}

#[test]
fn block_count_out_of_range() {
    for n in [0, 513, 0x7fff_ffff] {
        let text = err(&with("llama.block_count", Val::U32(n)));
        assert!(
            text.contains(&format!(
                "'llama.block_count' is {n}, outside the range llama.cpp accepts (1 to 512"
            )),
            "{text}"
        );
    }
}

#[test]
fn context_and_embedding_lengths_fit_an_int32() {
    let text = err(&with("llama.context_length", Val::U32(0xffff_ffff)));
    assert!(
        text.contains("'llama.context_length' is 4294967295"),
        "{text}"
    );
    assert!(text.contains("1 to 2147483647"), "{text}");
    let text = err(&with("llama.context_length", Val::U32(0)));
    assert!(text.contains("'llama.context_length' is 0"), "{text}");
    let text = err(&with("llama.embedding_length", Val::U32(0)));
    assert!(text.contains("'llama.embedding_length' is 0"), "{text}");
}

#[test]
fn keys_llama_cpp_reads_as_uint32_must_be_uint32() {
    let text = err(&with("llama.block_count", Val::U64(4)));
    assert!(
        text.contains(
            "'llama.block_count' is stored as uint64, but llama.cpp reads it only as uint32"
        ),
        "{text}"
    );
    let text = err(&with("llama.attention.head_count", Val::Str("4".into())));
    assert!(text.contains("stored as string"), "{text}");
}

#[test]
fn per_layer_arrays_need_one_value_per_layer() {
    let text = err(&with("llama.attention.head_count", u32_array(&[4, 4])));
    assert!(
        text.contains("has 2 values but the model has 4 layers"),
        "{text}"
    );
    let text = err(&with(
        "llama.feed_forward_length",
        Val::i32_array(&[256, -1, 256, 256]),
    ));
    assert!(text.contains("is -1 for layer 1"), "{text}");
}

#[test]
fn heads_must_divide_into_kv_groups() {
    let text = err(&with("llama.attention.head_count_kv", Val::U32(3)));
    assert!(
        text.contains("4 attention heads (llama.attention.head_count) and 3 key/value heads"),
        "{text}"
    );
    let text = err(&with("llama.attention.head_count", Val::U32(0xffff_ffff)));
    assert!(
        text.contains("'llama.attention.head_count' is 4294967295"),
        "{text}"
    );
    let text = err(&with("llama.attention.head_count", Val::U32(1000)));
    assert!(text.contains("the attention head size is 0"), "{text}");
}

#[test]
fn rope_width_fits_the_head() {
    let text = err(&with("llama.rope.dimension_count", Val::U32(64)));
    assert!(text.contains("the RoPE width is 64"), "{text}");
    assert!(text.contains("at most the head size 32"), "{text}");
    let text = err(&with("llama.rope.dimension_count", Val::U32(16)));
    assert!(text.contains("must equal the head size 32"), "{text}");
    let text = err(&llama().kv("llama.attention.value_length", Val::U32(64)));
    assert!(text.contains("value head size 64"), "{text}");
    let phi2 = GgufBuilder::new("phi2")
        .kv("phi2.block_count", Val::U32(1))
        .kv("phi2.embedding_length", Val::U32(128))
        .kv("phi2.attention.head_count", Val::U32(4))
        .kv("phi2.rope.dimension_count", Val::U32(31));
    let text = err(&phi2);
    assert!(text.contains("must be even"), "{text}");
    let text = err(&with("llama.rope.scaling.type", Val::Str("cubic".into())));
    assert!(
        text.contains("is \"cubic\"; llama.cpp knows none, linear, yarn, longrope"),
        "{text}"
    );
}

#[test]
fn expert_counts() {
    let moe = |count: u32, used: u32| {
        llama()
            .kv("llama.expert_count", Val::U32(count))
            .kv("llama.expert_used_count", Val::U32(used))
    };
    GgufFile::from_bytes(&moe(8, 2).build(), "m.gguf").unwrap();
    let text = err(&moe(8, 9));
    assert!(text.contains("'llama.expert_used_count' is 9"), "{text}");
    assert!(text.contains("must use 1 to 8"), "{text}");
    let text = err(&moe(8, 0));
    assert!(text.contains("'llama.expert_used_count' is 0"), "{text}");
    let text = err(&moe(2000, 2));
    assert!(text.contains("'llama.expert_count' is 2000"), "{text}");
    let text = err(&moe(0, 2));
    assert!(text.contains("a dense model uses no experts"), "{text}");
    let text = err(&moe(8, 2).kv("llama.expert_group_count", Val::U32(3)));
    assert!(text.contains("not a multiple of"), "{text}");
    let text = err(&moe(8, 2).kv("llama.expert_group_count", Val::U32(4)));
    assert!(
        text.contains("'llama.expert_group_used_count' is 0"),
        "{text}"
    );
}

#[test]
fn other_asserted_values() {
    let text = err(&llama().kv("llama.nextn_predict_layers", Val::U32(5)));
    assert!(text.contains("'llama.nextn_predict_layers' is 5"), "{text}");
    let text = err(&llama().kv("llama.pooling_type", Val::U32(9)));
    assert!(text.contains("'llama.pooling_type' is 9"), "{text}");
    let text = err(&with(
        "llama.attention.layer_norm_rms_epsilon",
        Val::F32(f32::NAN),
    ));
    assert!(text.contains("must be a finite number"), "{text}");
    let text = err(&llama().tensor("blk.4.attn_norm.weight", &[128], GgmlType::F32));
    assert!(
        text.contains("'blk.4.attn_norm.weight' belongs to layer 4"),
        "{text}"
    );
}

#[test]
fn vocabulary_checks() {
    let text = err(&with(
        "tokenizer.ggml.tokens",
        Val::str_array(&["<unk>", "a", "b", "a"]),
    ));
    assert!(
        text.contains("lists the token \"a\" twice (ids 1 and 3)"),
        "{text}"
    );
    // Empty tokens become `[EMPTY_<id>]`, as in llama.cpp: two empty tokens are distinct.
    GgufFile::from_bytes(
        &with("tokenizer.ggml.tokens", Val::str_array(&["", "", "a"])).build(),
        "m.gguf",
    )
    .unwrap();
    // Duplicates are found in long lists too (values not kept).
    let mut names: Vec<String> = (0..5000).map(|i| format!("t{i}")).collect();
    names.push("t17".into());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let text = err(&with("tokenizer.ggml.tokens", Val::str_array(&refs)));
    assert!(text.contains("(ids 17 and 5000)"), "{text}");
    let text = err(&with("tokenizer.ggml.model", Val::Str("none".into())));
    assert!(text.contains("the model has no tokenizer"), "{text}");
    let text = err(&llama().kv("tokenizer.ggml.scores", Val::Array(6, 2, vec![0; 8])));
    assert!(text.contains("has 2 values for the 4 tokens"), "{text}");
}

#[test]
fn tensor_types_llama_cpp_cannot_compute_with() {
    let text = err(&llama().tensor("blk.0.attn_q.weight", &[128, 128], GgmlType::I32));
    assert!(
        text.contains(
            "tensor 'blk.0.attn_q.weight' has type i32, which llama.cpp cannot compute with"
        ),
        "{text}"
    );
    let text = err(&llama().tensor("blk.0.ffn_norm.weight", &[128], GgmlType::F16));
    assert!(
        text.contains("'blk.0.ffn_norm.weight' is a vector of 128 values stored as f16"),
        "{text}"
    );
    // A vector written with trailing dimensions of 1 is still a vector.
    let text = err(&llama().tensor("blk.0.ffn_norm.weight", &[128, 1], GgmlType::Q8_0));
    assert!(
        text.contains("is a vector of 128 values stored as q8_0"),
        "{text}"
    );
    // Quantized matrices are fine.
    GgufFile::from_bytes(
        &llama()
            .tensor("blk.0.attn_q.weight", &[256, 256], GgmlType::Q4_K)
            .build(),
        "m.gguf",
    )
    .unwrap();
}
