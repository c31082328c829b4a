//! `shimmy-host plugin list|inspect|check`.

use anyhow::{bail, Result};
use shimmy_plugins::{
    ChatMessage, ModelContext, PluginKind, PluginSource, RenderRequest, ToolDefinition,
};

use super::Context;
use crate::cli::PluginCommand;
use crate::plugin_host::Plugins;
use crate::report::Table;

/// Runs a `plugin` subcommand.
pub fn run(ctx: &Context, command: PluginCommand) -> Result<()> {
    match command {
        PluginCommand::List => list(ctx),
        PluginCommand::Inspect { target } => inspect(ctx, &target),
        PluginCommand::Check { path } => check(ctx, path),
    }
}

fn list(ctx: &Context) -> Result<()> {
    let plugins = Plugins::load(&ctx.plugins)?;
    let mut table = Table::new(&["NAME", "KIND", "VERSION", "SOURCE", "REQUESTED", "GRANTED"]);
    let summaries = plugins.registry.list();
    for p in &summaries {
        table.row(vec![
            p.name.clone(),
            format!("{:?}", p.kind).to_lowercase(),
            p.version.clone(),
            p.source.clone(),
            join_or_dash(&p.capabilities_requested),
            join_or_dash(&p.capabilities_granted),
        ]);
    }
    print!("{table}");
    for p in &summaries {
        for warning in &p.warnings {
            println!("warning: {}: {warning}", p.name);
        }
    }
    Ok(())
}

fn join_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(",")
    }
}

fn inspect(ctx: &Context, target: &str) -> Result<()> {
    let path = std::path::Path::new(target);
    let extra = path
        .exists()
        .then(|| PluginSource::Path(path.to_path_buf()));
    let plugins = Plugins::load_from(&ctx.plugins, extra, &[])?;
    let found = plugins.registry.inspect(target)?;
    println!("name:      {}", found.summary.name);
    println!("kind:      {:?}", found.summary.kind);
    println!("version:   {}", found.summary.version);
    println!("source:    {}", found.summary.source);
    println!("world:     {}", found.world);
    println!("contract:  {}", found.contract_version);
    println!(
        "limits:    {} ms per call, {} MiB",
        found.summary.timeout_ms, found.summary.memory_limit_mb
    );
    println!("exports:");
    for i in &found.exports {
        println!("  {} ({})", i.name, i.functions.join(", "));
    }
    println!("imports:");
    for i in &found.imports {
        println!("  {} ({})", i.name, i.functions.join(", "));
    }
    println!("manifest:");
    print!("{}", indent(&toml::to_string_pretty(&found.manifest)?));
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn check(ctx: &Context, path: std::path::PathBuf) -> Result<()> {
    let plugins = Plugins::load_from(&ctx.plugins, Some(PluginSource::Path(path.clone())), &[])?;
    let Some(summary) = plugins.registry.list().into_iter().find(|p| {
        std::path::Path::new(&p.source).starts_with(&path) || p.source == path.display().to_string()
    }) else {
        let reasons: Vec<String> = plugins
            .registry
            .failures()
            .iter()
            .map(|f| format!("{}: {}", f.source, f.error))
            .collect();
        bail!("{} did not load: {}", path.display(), reasons.join("; "));
    };
    println!(
        "loaded {} ({:?} plugin {})",
        summary.name, summary.kind, summary.version
    );
    let calls = plugins.registry.blocking()?;
    match summary.kind {
        PluginKind::Template => {
            let info = calls.describe_template(&summary.name)?;
            println!("describe: {} - {}", info.name, info.description);
            let rendered = calls.render_template(&summary.name, sample_render_request())?;
            println!(
                "render: {} bytes ({} spans), stop {:?}, add_bos {}",
                rendered.prompt.len(),
                rendered.spans.len(),
                rendered.stop,
                rendered.add_bos
            );
            println!("{}", rendered.prompt);
            let parsed = calls.parse_output(&summary.name, "<think>hmm</think>Hello!", &[])?;
            println!(
                "parse: content {:?}, reasoning {:?}",
                parsed.content, parsed.reasoning
            );
            let pieces = ["<think>hm", "m</think>Hel", "lo!"];
            let (deltas, done) = calls.parse_streamed(&summary.name, &pieces, &[])?;
            let streamed: String = deltas.iter().map(|d| d.content.as_str()).collect();
            println!(
                "stream: {} pieces, content {streamed:?}, final {:?}",
                deltas.len(),
                done.content
            );
        }
        PluginKind::Tool => {
            let tools: Vec<ToolDefinition> = calls.describe_tools(&summary.name)?;
            for t in tools {
                println!("tool: {} - {}", t.name, t.description);
            }
        }
        PluginKind::Workflow => {
            let info = calls.describe_workflow(&summary.name)?;
            println!("workflow: {} - {}", info.name, info.description);
        }
    }
    println!("ok");
    Ok(())
}

fn sample_render_request() -> RenderRequest {
    let msg = |role: &str, content: &str| ChatMessage {
        role: role.into(),
        content: content.into(),
        ..Default::default()
    };
    RenderRequest {
        messages: vec![msg("system", "You are helpful."), msg("user", "Hello!")],
        tools: Vec::new(),
        add_generation_prompt: true,
        model: ModelContext {
            architecture: "llama".into(),
            chat_template: None,
            bos_token: Some("<s>".into()),
            eos_token: Some("</s>".into()),
        },
    }
}
