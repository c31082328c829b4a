//! Every template of `fixtures/llama.cpp/` rendered with every conversation of
//! `fixtures/conversations.json` gives what transformers renders (`fixtures/expected/`, written
//! by `fixtures/generate.py`), byte for byte, or fails where transformers fails (with the
//! template's own `raise_exception` message when it raised one).

use super::*;
use crate::corpus::{self, Outcome};

#[test]
fn every_llama_cpp_template_renders_as_transformers_does() {
    let report = corpus::check_all(&corpus::fixtures_dir(env!("CARGO_MANIFEST_DIR")), |req| {
        render_with_time(req, corpus::FIXED_NOW)
    })
    .unwrap();
    let mut different = Vec::new();
    for case in &report.cases {
        if let Outcome::Different(why) = &case.outcome {
            different.push(format!("{} / {}: {why}", case.template, case.conversation));
        }
    }
    eprintln!("{}", report.summary());
    assert!(different.is_empty(), "{}", different.join("\n\n"));
}
