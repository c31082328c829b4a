//! Every template of `fixtures/llama.cpp/` rendered with every conversation of
//! `fixtures/conversations.json` gives what transformers renders (`fixtures/expected/`, written
//! by `fixtures/generate.py`), byte for byte, or fails where transformers fails (with the
//! template's own `raise_exception` message when it raised one); the exceptions are listed
//! with their reason in `fixtures/known-differences.json`. The compatibility table of
//! `docs/templates.md` is written from the same results.

use super::*;
use crate::corpus::{self, Report};
use std::path::PathBuf;

fn report() -> Report {
    corpus::check_all(&corpus::fixtures_dir(env!("CARGO_MANIFEST_DIR")), |req| {
        render_with_time(req, corpus::FIXED_NOW)
    })
    .unwrap()
}

#[test]
fn every_llama_cpp_template_renders_as_transformers_does() {
    let dir = corpus::fixtures_dir(env!("CARGO_MANIFEST_DIR"));
    let known = corpus::known_differences(&dir).unwrap();
    let report = report();
    eprintln!("{}", report.summary());
    let unexpected = report.unexpected(&known);
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n\n"));
}

#[test]
fn docs_templates_table_is_current() {
    let dir = corpus::fixtures_dir(env!("CARGO_MANIFEST_DIR"));
    let known = corpus::known_differences(&dir).unwrap();
    let table = crate::compat::table(&dir, &report(), &known).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../docs/templates.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let updated = crate::compat::replace_table(&doc, &table);
    if std::env::var_os("SHIMMY_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &updated).unwrap();
        return;
    }
    assert!(
        doc == updated,
        "docs/templates.md is out of date: run `SHIMMY_UPDATE_DOCS=1 cargo test -p shimmy-template-jinja docs_templates_table` in plugins/"
    );
}

/// Markup mode (jinja2's `Markup`, `markup.rs`: auto-escaping on and the source rewritten)
/// changes no render of a template that makes no `Markup`: every template of the corpus in
/// markup mode renders as it does in its own mode.
#[test]
fn markup_mode_changes_nothing_without_markup() {
    let dir = corpus::fixtures_dir(env!("CARGO_MANIFEST_DIR"));
    let options = RenderOptions {
        now: corpus::FIXED_NOW,
        ..RenderOptions::default()
    };
    let always =
        corpus::check_all(&dir, |req| render_in(req, &options, markup::Mode::Always)).unwrap();
    let detect = report();
    let outcome = |r: &Report| -> Vec<String> {
        r.cases
            .iter()
            .map(|c| format!("{}/{}: {:?}", c.template, c.conversation, c.outcome))
            .collect()
    };
    assert_eq!(outcome(&always), outcome(&detect));
}
