//! `shimmy-host list` and `shimmy-host discover`.

use anyhow::Result;
use shimmy_core::discovery::LocationOutcome;
use shimmy_core::gguf::GgufFile;
use shimmy_core::placement::format_bytes;

use super::Context;
use crate::report::{format_count, Table};

/// One row per model: name, size, architecture, quantization, parameters, path.
pub fn list(ctx: &Context) -> Result<()> {
    let report = ctx.discover();
    if report.models.is_empty() {
        println!("no models found; `shimmy-host discover` shows where it looked");
        return Ok(());
    }
    let mut table = Table::new(&["NAME", "SIZE", "ARCH", "QUANT", "PARAMS", "PATH"]);
    let mut problems = Vec::new();
    for model in &report.models {
        let (arch, quant, params) = match GgufFile::open(&model.path) {
            Ok(gguf) => (
                gguf.architecture().to_string(),
                gguf.file_type_name(),
                format_count(gguf.parameter_count()),
            ),
            Err(err) => {
                problems.push((model.name.clone(), err));
                ("invalid".into(), "-".into(), "-".into())
            }
        };
        table.row(vec![
            model.name.clone(),
            format_bytes(model.size_bytes),
            arch,
            quant,
            params,
            model.path.display().to_string(),
        ]);
    }
    print!("{table}");
    if !problems.is_empty() {
        println!("cannot be loaded ({}):", problems.len());
        for (name, err) in &problems {
            println!("  {name}: {err}");
        }
    }
    Ok(())
}

/// Where discovery looked, what it found and what it skipped, with reasons.
pub fn discover(ctx: &Context) -> Result<()> {
    let report = ctx.discover();
    println!("searched:");
    for loc in &report.locations {
        let outcome = match &loc.outcome {
            LocationOutcome::Found(n) => format!("{n} model(s)"),
            LocationOutcome::Missing => "not present".to_string(),
            LocationOutcome::Unreadable(err) => format!("unreadable: {err}"),
        };
        println!(
            "  {:<12} {}  ({outcome})",
            format!("{:?}", loc.source),
            loc.path.display()
        );
    }
    println!("found {}:", report.models.len());
    for model in &report.models {
        let renamed = model
            .renamed_from
            .as_ref()
            .map(|from| format!("  (renamed from \"{from}\": name already taken)"))
            .unwrap_or_default();
        println!(
            "  {:<24} {:>10}  {}{renamed}",
            model.name,
            format_bytes(model.size_bytes),
            model.path.display()
        );
        if let Err(err) = GgufFile::open(&model.path) {
            println!("      cannot be loaded: {err}");
        }
    }
    if !report.skipped.is_empty() {
        println!("skipped {}:", report.skipped.len());
        for skip in &report.skipped {
            println!("  {}: {}", skip.path.display(), skip.reason);
        }
    }
    Ok(())
}
