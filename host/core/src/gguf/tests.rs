//! Tests of the GGUF reader on hand-written files.

use std::path::Path;

use super::test_writer::{GgufBuilder, Val};
use super::*;
use crate::Error;

fn llama() -> GgufBuilder {
    GgufBuilder::new("llama")
        .kv("llama.block_count", Val::U32(2))
        .kv("llama.context_length", Val::U32(4096))
        .kv("general.file_type", Val::U32(15))
        .kv("tokenizer.chat_template", Val::Str("{{ messages }}".into()))
        .kv(
            "tokenizer.ggml.tokens",
            Val::str_array(&["<s>", "</s>", "a"]),
        )
        .tensor("token_embd.weight", &[256, 3], GgmlType::Q4_K)
        .tensor("blk.0.attn_q.weight", &[256, 256], GgmlType::Q4_K)
        .tensor("blk.0.attn_norm.weight", &[256], GgmlType::F32)
        .tensor("blk.1.attn_q.weight", &[256, 256], GgmlType::Q6_K)
        .tensor("output_norm.weight", &[256], GgmlType::F32)
}

/// Writes `b` and opens it, returning the error text.
fn open_err(b: &GgufBuilder) -> (Error, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = b.write(dir.path(), "m.gguf");
    let err = GgufFile::open(&path).expect_err("the file should be rejected");
    let text = err.to_string();
    assert!(text.contains("m.gguf"), "message names the file: {text}");
    (err, text)
}

fn open_bytes_err(bytes: &[u8]) -> (Error, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, bytes).unwrap();
    let err = GgufFile::open(&path).expect_err("the file should be rejected");
    let text = err.to_string();
    assert!(text.contains("m.gguf"), "message names the file: {text}");
    (err, text)
}

#[test]
fn valid_file_and_accessors() {
    let dir = tempfile::tempdir().unwrap();
    let path = llama().write(dir.path(), "ok.gguf");
    let g = GgufFile::open(&path).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.alignment, 32);
    assert_eq!(g.data_offset % 32, 0);
    assert_eq!(g.file_size, std::fs::metadata(&path).unwrap().len());
    assert_eq!(g.architecture(), "llama");
    assert_eq!(g.block_count(), Some(2));
    assert_eq!(g.arch_u64("block_count"), Some(2));
    assert_eq!(g.context_length(), Some(4096));
    assert_eq!(g.get_u64("llama.context_length"), Some(4096));
    assert_eq!(g.expert_count(), 0);
    assert_eq!(g.expert_used_count(), 0);
    assert_eq!(g.chat_template(), Some("{{ messages }}"));
    assert_eq!(g.token_count(), Some(3));
    assert_eq!(g.file_type_name(), "Q4_K_M");
    assert_eq!(g.tensors.len(), 5);
    let q = g.tensor("blk.1.attn_q.weight").unwrap();
    assert_eq!(q.ggml_type, GgmlType::Q6_K);
    assert_eq!(q.n_bytes, 256 * 210);
    assert_eq!(q.layer(), Some(1));
    assert_eq!(g.tensor("output_norm.weight").unwrap().layer(), None);
    assert_eq!(g.parameter_count(), 256 * 3 + 2 * 256 * 256 + 2 * 256);
    assert_eq!(
        g.tensor_bytes(),
        144 * 3 + 144 * 256 + 1024 + 210 * 256 + 1024
    );
    // Offsets are sequential and aligned.
    let mut expected = 0;
    for t in &g.tensors {
        assert_eq!(t.offset, expected);
        expected += t.n_bytes.div_ceil(32) * 32;
    }
    // The same bytes parse the same way in memory.
    let again = GgufFile::from_bytes(&llama().build(), &path).unwrap();
    assert_eq!(again, g);
}

#[test]
fn integer_accessors_accept_any_integer_type() {
    let b = GgufBuilder::new("qwen3moe")
        .kv("qwen3moe.expert_count", Val::I32(128))
        .kv("qwen3moe.expert_used_count", Val::U64(8))
        .kv("qwen3moe.block_count", Val::Raw(0, vec![48])) // uint8
        .kv("neg", Val::I32(-1))
        .kv("flag", Val::Bool(true))
        .kv("rope", Val::F32(1.5));
    // llama.cpp itself reads these keys only as uint32 (the checks of `open` say so); the
    // accessors are lenient for tools that read any file.
    let bytes = b.build();
    let mut r = reader::Reader::new(&bytes[..], bytes.len() as u64, Path::new("x.gguf"));
    let g = parse::read_gguf(&mut r).unwrap();
    assert_eq!(g.expert_count(), 128);
    assert_eq!(g.expert_used_count(), 8);
    assert_eq!(g.block_count(), Some(48));
    assert_eq!(g.get_u64("neg"), None);
    assert_eq!(g.get_u64("flag"), None);
    assert_eq!(g.get("flag").and_then(GgufValue::as_bool), Some(true));
    assert_eq!(g.get("rope").and_then(GgufValue::as_f64), Some(1.5));
    assert_eq!(g.get_str("general.architecture"), Some("qwen3moe"));
}

#[test]
fn long_arrays_keep_only_their_length() {
    let names: Vec<String> = (0..150_000).map(|i| format!("tok{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let scores: Vec<i32> = (0..150_000).collect();
    let b = GgufBuilder::new("llama")
        .kv("tokenizer.ggml.tokens", Val::str_array(&refs))
        .kv("tokenizer.ggml.token_type", Val::i32_array(&scores))
        .kv("after", Val::U32(7));
    let started = std::time::Instant::now();
    let g = GgufFile::from_bytes(&b.build(), "x.gguf").unwrap();
    assert!(started.elapsed().as_secs() < 5);
    assert_eq!(g.token_count(), Some(150_000));
    let arr = g.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap();
    assert_eq!(arr.elem_type, GgufValueType::String);
    assert!(arr.values.is_none());
    assert_eq!(g.array_len("tokenizer.ggml.token_type"), Some(150_000));
    assert_eq!(
        g.get_u64("after"),
        Some(7),
        "reading resumes after skipped arrays"
    );
}

#[test]
fn short_arrays_keep_their_values() {
    let b = GgufBuilder::new("llama").kv("list", Val::str_array(&["a", "b"]));
    let g = GgufFile::from_bytes(&b.build(), "x.gguf").unwrap();
    let arr = g.get("list").unwrap().as_array().unwrap();
    assert_eq!(
        arr.values.as_deref(),
        Some(&[GgufValue::String("a".into()), GgufValue::String("b".into())][..])
    );
}

#[test]
fn nested_arrays_parse_but_are_refused_like_llama_cpp() {
    // Two arrays of u8: [[1, 2], [3]].
    let mut payload = Vec::new();
    for inner in [&[1u8, 2][..], &[3u8][..]] {
        payload.extend_from_slice(&0u32.to_le_bytes());
        payload.extend_from_slice(&(inner.len() as u64).to_le_bytes());
        payload.extend_from_slice(inner);
    }
    let mut bytes = 9u32.to_le_bytes().to_vec(); // element type: array
    bytes.extend_from_slice(&2u64.to_le_bytes());
    bytes.extend_from_slice(&payload);
    let mut r = reader::Reader::new(&bytes[..], bytes.len() as u64, Path::new("x.gguf"));
    let v = parse::read_value(&mut r, GgufValueType::Array, "k", 0).unwrap();
    let outer = v.as_array().unwrap();
    assert_eq!(outer.elem_type, GgufValueType::Array);
    let inner = outer.values.as_ref().unwrap()[0].as_array().unwrap();
    assert_eq!(
        inner.values.as_deref(),
        Some(&[GgufValue::U8(1), GgufValue::U8(2)][..])
    );

    let b = llama().kv("nested", Val::Raw(9, bytes));
    let (_, text) = open_err(&b);
    assert!(text.contains("'nested' is an array of arrays"), "{text}");
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = GgufFile::open(dir.path().join("nope.gguf")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.gguf"));
    assert!(sniff(dir.path().join("nope.gguf")).is_err());
}

#[test]
fn directory_instead_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = GgufFile::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotAFile { .. }), "{err:?}");
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert!(matches!(sniff(dir.path()), Err(Error::NotAFile { .. })));
}

#[test]
fn shorter_than_header() {
    for bytes in [&b""[..], &b"GG"[..], &b"GGUF\x03\0\0\0\0\0"[..]] {
        let (err, text) = open_bytes_err(bytes);
        assert!(matches!(err, Error::InvalidGguf { .. }), "{err:?}");
        assert!(
            text.contains("shorter than the 24-byte GGUF header"),
            "{text}"
        );
    }
}

#[test]
fn wrong_magic() {
    let (err, text) = open_bytes_err(b"PK\x03\x04 this is a zip file, not a model..");
    match err {
        Error::NotGguf { found, .. } => assert_eq!(found, "PK??"),
        other => panic!("{other:?}"),
    }
    assert!(text.contains("not a GGUF file"), "{text}");
    // Even a tiny file with the wrong magic says "not GGUF".
    let (err, _) = open_bytes_err(b"hello");
    assert!(matches!(err, Error::NotGguf { .. }), "{err:?}");
}

#[test]
fn unsupported_versions() {
    for (version, needle) in [
        (1, "version 1 is no longer supported"),
        (4, "version 4 is not supported"),
        (0, "version 0"),
        (0x0300_0000, "big-endian"),
    ] {
        let mut b = llama();
        b.version = version;
        let (err, text) = open_err(&b);
        assert!(matches!(err, Error::InvalidGguf { .. }));
        assert!(text.contains(needle), "{version}: {text}");
    }
    let mut b = llama();
    b.version = 2;
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        GgufFile::open(b.write(dir.path(), "v2.gguf"))
            .unwrap()
            .version,
        2
    );
}

#[test]
fn absurd_counts() {
    let mut b = llama();
    b.n_tensors = Some(1 << 40);
    let (_, text) = open_err(&b);
    assert!(text.contains(&format!("{} tensors", 1u64 << 40)), "{text}");
    assert!(text.contains("bytes follow the header"), "{text}");

    let mut b = llama();
    b.n_kv = Some(u64::MAX);
    let (_, text) = open_err(&b);
    assert!(
        text.contains(&format!("{} metadata entries", u64::MAX)),
        "{text}"
    );
}

#[test]
fn string_length_past_end_of_file() {
    let mut bytes = GgufBuilder::bare().build();
    bytes[16..24].copy_from_slice(&1u64.to_le_bytes()); // one KV
    bytes.extend_from_slice(&1000u64.to_le_bytes()); // key length 1000
    bytes.extend_from_slice(b"general.architecture");
    let (_, text) = open_bytes_err(&bytes);
    assert!(
        text.contains("length of 1000 bytes, past the end of the file"),
        "{text}"
    );
}

#[test]
fn truncated_metadata() {
    let bytes = llama().build();
    let (_, text) = open_bytes_err(&bytes[..60]);
    assert!(
        text.contains("truncated") || text.contains("past the end"),
        "{text}"
    );
}

#[test]
fn unknown_value_type() {
    let (_, text) = open_err(&llama().kv("weird", Val::Raw(13, vec![0; 8])));
    assert!(text.contains("'weird' has unknown value type 13"), "{text}");
}

#[test]
fn empty_and_duplicate_keys() {
    let (_, text) = open_err(&llama().kv("", Val::U32(1)));
    assert!(text.contains("empty key"), "{text}");
    let (_, text) = open_err(&llama().kv("llama.block_count", Val::U32(1)));
    assert!(text.contains("'llama.block_count' appears twice"), "{text}");
}

#[test]
fn bad_alignment() {
    let (_, text) = open_err(&llama().kv("general.alignment", Val::U32(48)));
    assert!(text.contains("not a power of two"), "{text}");
    let (_, text) = open_err(&llama().kv("general.alignment", Val::U64(32)));
    assert!(text.contains("must be a uint32"), "{text}");
    let mut b = llama().kv("general.alignment", Val::U32(64));
    b.alignment = 64;
    let g = GgufFile::from_bytes(&b.build(), "x.gguf").unwrap();
    assert_eq!(g.alignment, 64);
    assert_eq!(g.data_offset % 64, 0);
}

#[test]
fn unknown_and_removed_tensor_types() {
    let (_, text) = open_err(&llama().raw_tensor("t", &[32], 99, None));
    assert!(
        text.contains("tensor 't' has unknown ggml type 99"),
        "{text}"
    );
    let (_, text) = open_err(&llama().raw_tensor("t", &[32], 31, None));
    assert!(text.contains("Q4_0_4_4"), "{text}");
}

#[test]
fn bad_dimension_counts() {
    let (_, text) = open_err(&llama().tensor("t", &[], GgmlType::F32));
    assert!(text.contains("tensor 't' has 0 dimensions"), "{text}");
    let (_, text) = open_err(&llama().tensor("t", &[1, 1, 1, 1, 1], GgmlType::F32));
    assert!(text.contains("tensor 't' has 5 dimensions"), "{text}");
}

#[test]
fn overflowing_dimensions() {
    let b =
        GgufBuilder::new("llama").raw_tensor("t", &[1 << 32, 1 << 32], GgmlType::F32.id(), Some(0));
    let (_, text) = open_err(&b);
    assert!(text.contains("overflows"), "{text}");
    let b = GgufBuilder::new("llama").raw_tensor("t", &[u64::MAX], GgmlType::F32.id(), Some(0));
    let (_, text) = open_err(&b);
    assert!(text.contains("overflows"), "{text}");
}

#[test]
fn row_not_a_multiple_of_the_block_size() {
    let (_, text) = open_err(&llama().tensor("t", &[100, 2], GgmlType::Q4_K));
    assert!(
        text.contains("not a multiple of its block size 256"),
        "{text}"
    );
}

#[test]
fn long_and_duplicate_tensor_names() {
    let long = "x".repeat(64);
    let (_, text) = open_err(&llama().tensor(&long, &[32], GgmlType::F32));
    assert!(text.contains("64-byte name"), "{text}");
    let (_, text) = open_err(&llama().tensor("output_norm.weight", &[32], GgmlType::F32));
    assert!(
        text.contains("'output_norm.weight' appears twice"),
        "{text}"
    );
}

#[test]
fn truncated_tensor_data() {
    let bytes = llama().build();
    let cut = bytes.len() - 100;
    let (err, text) = open_bytes_err(&bytes[..cut]);
    assert!(matches!(err, Error::InvalidGguf { .. }));
    assert!(
        text.contains("tensor 'output_norm.weight' (1024 bytes"),
        "{text}"
    );
    assert!(
        text.contains(&format!("({cut} bytes, 100 bytes missing)")),
        "{text}"
    );
    assert!(text.contains("download it again"), "{text}");
}

#[test]
fn misaligned_and_out_of_order_offsets() {
    let b = GgufBuilder::new("llama").raw_tensor("t", &[8], GgmlType::F32.id(), Some(4));
    let (_, text) = open_err(&b);
    assert!(
        text.contains("tensor 't' has data offset 4, not a multiple of the alignment 32"),
        "{text}"
    );
    let b = GgufBuilder::new("llama")
        .raw_tensor("a", &[8], GgmlType::F32.id(), Some(32))
        .raw_tensor("b", &[8], GgmlType::F32.id(), Some(0));
    let (_, text) = open_err(&b);
    assert!(
        text.contains("tensor 'a' has data offset 32 but llama.cpp expects 0"),
        "{text}"
    );
}

#[test]
fn missing_or_unknown_architecture() {
    let (err, text) = open_err(&GgufBuilder::bare().kv("general.name", Val::Str("x".into())));
    assert!(matches!(err, Error::InvalidGguf { .. }));
    assert!(text.contains("no general.architecture"), "{text}");

    let (err, text) = open_err(&GgufBuilder::new("qwen9moe"));
    match &err {
        Error::UnknownArchitecture {
            arch, supported, ..
        } => {
            assert_eq!(arch, "qwen9moe");
            assert!(supported.contains("qwen"), "{supported}");
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("unknown architecture \"qwen9moe\""), "{text}");

    let (_, text) = open_err(&GgufBuilder::new("clip"));
    assert!(text.contains("multimodal projector"), "{text}");

    let (_, text) = open_err(&GgufBuilder::bare().kv("general.architecture", Val::U32(1)));
    assert!(text.contains("must be a string"), "{text}");
}

#[test]
fn file_type_guessed_from_tensors() {
    let mut b = llama();
    b.kvs.retain(|(k, _)| k != "general.file_type");
    let g = GgufFile::from_bytes(&b.build(), "x.gguf").unwrap();
    assert_eq!(g.file_type_name(), "Q4_K_M (guessed)");
    let g = GgufFile::from_bytes(
        &llama().kv("general.file_type", Val::U32(999)).build(),
        "x.gguf",
    );
    assert!(g.is_err(), "duplicate key");
    let mut b = llama();
    b.kvs.retain(|(k, _)| k != "general.file_type");
    let g =
        GgufFile::from_bytes(&b.kv("general.file_type", Val::U32(999)).build(), "x.gguf").unwrap();
    assert_eq!(g.file_type_name(), "unknown (id 999)");
}

#[test]
fn sniff_checks_magic_and_version_only() {
    let dir = tempfile::tempdir().unwrap();
    let ok = llama().write(dir.path(), "ok.gguf");
    sniff(&ok).unwrap();
    // A file cut after the header still sniffs fine (sniff does not read the tables).
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &std::fs::read(&ok).unwrap()[..30]).unwrap();
    sniff(&cut).unwrap();
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"<html>not found</html>............").unwrap();
    assert!(matches!(sniff(&bad), Err(Error::NotGguf { .. })));
    let mut b = llama();
    b.version = 1;
    assert!(matches!(
        sniff(b.write(dir.path(), "v1.gguf")),
        Err(Error::InvalidGguf { .. })
    ));
    let tiny = dir.path().join("tiny.gguf");
    std::fs::write(&tiny, b"GG").unwrap();
    assert!(matches!(sniff(&tiny), Err(Error::InvalidGguf { .. })));
}
