//! Bad model files and bad flags: a clear message naming the file and the problem, a non-zero
//! exit, never a panic or a C++ abort.

mod common;

use common::{models, s, Sandbox};

fn generate_from(sb: &Sandbox, path: &str) -> common::Run {
    sb.run(&[
        "generate",
        "--model",
        path,
        "--prompt",
        "hi",
        "--max-tokens",
        "2",
    ])
    .fails()
}

fn assert_names(run: &common::Run, path: &str, problem: &str) {
    assert!(
        run.stderr.contains(path),
        "file not named in: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(problem),
        "want {problem:?} in: {}",
        run.stderr
    );
}

/// A copy of the dense model with `edit` applied to its bytes.
fn edited_copy(sb: &Sandbox, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = std::fs::read(&models().dense).unwrap();
    edit(&mut bytes);
    let path = sb.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    s(&path).to_string()
}

#[test]
fn missing_file() {
    let sb = Sandbox::new();
    let run = sb
        .run(&[
            "generate",
            "--model",
            "/nonexistent/model.gguf",
            "--prompt",
            "hi",
        ])
        .fails();
    assert!(
        run.stderr.contains("/nonexistent/model.gguf"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
}

#[test]
fn unknown_model_name_lists_nothing_found() {
    let sb = Sandbox::new();
    let run = sb.run(&["probe", "no-such-model"]).fails();
    assert!(run.stderr.contains("no-such-model"), "{}", run.stderr);
}

#[test]
fn not_a_gguf_file() {
    let sb = Sandbox::new();
    let path = sb.path().join("notes.gguf");
    std::fs::write(&path, "this is a text file, not a model\n").unwrap();
    let run = generate_from(&sb, s(&path));
    assert_names(&run, s(&path), "not a GGUF file");
}

#[test]
fn wrong_magic() {
    let sb = Sandbox::new();
    let path = edited_copy(&sb, "magic.gguf", |b| b[3] = b'X');
    let run = generate_from(&sb, &path);
    assert_names(&run, &path, "not a GGUF file");
}

#[test]
fn truncated_file() {
    let sb = Sandbox::new();
    let path = edited_copy(&sb, "truncated.gguf", |b| {
        let half = b.len() / 2;
        b.truncate(half)
    });
    let run = generate_from(&sb, &path);
    assert_names(&run, &path, "invalid GGUF");
}

#[test]
fn header_only_fragment() {
    let sb = Sandbox::new();
    let path = edited_copy(&sb, "fragment.gguf", |b| b.truncate(10));
    let run = generate_from(&sb, &path);
    assert_names(&run, &path, "invalid GGUF");
}

#[test]
fn absurd_tensor_count() {
    let sb = Sandbox::new();
    // GGUF v3: magic (4) version (4) tensor_count (8) kv_count (8).
    let path = edited_copy(&sb, "absurd.gguf", |b| {
        b[8..16].copy_from_slice(&(u64::MAX / 2).to_le_bytes())
    });
    let run = generate_from(&sb, &path);
    assert_names(&run, &path, "invalid GGUF");
}

#[test]
fn unknown_architecture() {
    let sb = Sandbox::new();
    let path = edited_copy(&sb, "arch.gguf", |b| {
        // general.architecture = "llama" -> "llamq" (same length, so the file stays well-formed).
        let key = b"general.architecture";
        let at = b
            .windows(key.len())
            .position(|w| w == key)
            .expect("key present");
        let value = at + key.len() + 4 + 8; // type u32 + string length u64
        assert_eq!(&b[value..value + 5], b"llama");
        b[value + 4] = b'q';
    });
    let run = generate_from(&sb, &path);
    assert_names(&run, &path, "unknown architecture \"llamq\"");
}

#[test]
fn directory_instead_of_file() {
    let sb = Sandbox::new();
    let dir = sb.path().join("somedir.gguf");
    std::fs::create_dir(&dir).unwrap();
    let run = generate_from(&sb, s(&dir));
    assert!(run.stderr.contains(s(&dir)), "{}", run.stderr);
}

#[test]
fn backends_dir_without_libraries() {
    let sb = Sandbox::new();
    let run = sb
        .run(&[
            "generate",
            "--backends-dir",
            s(sb.path()),
            "--model",
            s(&models().dense),
            "--prompt",
            "hi",
        ])
        .fails();
    assert!(run.stderr.contains("libggml-cpu"), "{}", run.stderr);
    assert!(run.stderr.contains(s(sb.path())), "{}", run.stderr);
}

#[test]
fn zero_context_and_batch_are_refused() {
    let sb = Sandbox::new();
    let m = s(&models().dense);
    let run = sb
        .run(&[
            "generate",
            "--model",
            m,
            "--prompt",
            "hi",
            "--ctx-size",
            "0",
        ])
        .fails();
    assert!(run.stderr.contains("--ctx-size"), "{}", run.stderr);
    let run = sb
        .run(&[
            "generate",
            "--model",
            m,
            "--prompt",
            "hi",
            "--batch-size",
            "0",
        ])
        .fails();
    assert!(run.stderr.contains("--batch-size"), "{}", run.stderr);
}
