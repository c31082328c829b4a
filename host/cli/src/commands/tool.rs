//! `shimmy-host tool list|invoke`: the tools of the tool plugins, without a server.

use anyhow::Result;
use shimmy_plugins::ToolCatalog;

use super::Context;
use crate::cli::ToolCommand;
use crate::plugin_host::Plugins;
use crate::report::Table;

/// Runs a `tool` subcommand.
pub fn run(ctx: &Context, command: ToolCommand) -> Result<()> {
    let plugins = Plugins::load(&ctx.plugins)?;
    let registry = &plugins.registry;
    let blocking = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let catalog = blocking.block_on(ToolCatalog::load(registry));
    for (plugin, error) in catalog.failures() {
        eprintln!("warning: tool plugin {plugin} left out: {error}");
    }
    match command {
        ToolCommand::List { json } => {
            if json {
                let tools: Vec<_> = catalog
                    .list()
                    .iter()
                    .map(shimmy_server::tools::tool_json)
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "tools": tools }))?
                );
                return Ok(());
            }
            let mut table = Table::new(&["NAME", "PLUGIN", "ARGUMENTS", "DESCRIPTION"]);
            for entry in catalog.list() {
                let d = &entry.definition;
                table.row(vec![
                    d.name.clone(),
                    entry.plugin.clone(),
                    argument_names(&d.parameters_schema),
                    d.description.lines().next().unwrap_or_default().to_string(),
                ]);
            }
            print!("{table}");
            if catalog.list().is_empty() {
                println!("(no tool plugins loaded; add some with --plugin-dir DIR)");
            }
            Ok(())
        }
        ToolCommand::Invoke { name, args } => {
            let output = blocking.block_on(catalog.invoke(registry, &name, &args))?;
            let value = shimmy_engine::tools::parse_result(&output);
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(())
        }
    }
}

/// `a, b?` from a schema's properties (`?`: optional).
fn argument_names(schema: &str) -> String {
    let Ok(schema) = serde_json::from_str::<serde_json::Value>(schema) else {
        return "-".into();
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| {
            p.keys()
                .map(|k| {
                    if required.contains(&k.as_str()) {
                        k.clone()
                    } else {
                        format!("{k}?")
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(", ")
    }
}
