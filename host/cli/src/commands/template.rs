//! `shimmy-host template render`.

use anyhow::Result;
use shimmy_core::backend::ModelOptions;

use super::Context;
use crate::chat_file;
use crate::cli::{TemplateCommand, TemplateRenderArgs};
use crate::plugin_host::{model_name, Plugins};

/// Runs a `template` subcommand.
pub fn run(ctx: &Context, command: TemplateCommand) -> Result<()> {
    match command {
        TemplateCommand::Render(args) => render(ctx, args),
    }
}

/// Prints the exact prompt (stdout) and the template used and its stop strings (stderr).
fn render(ctx: &Context, args: TemplateRenderArgs) -> Result<()> {
    let messages = chat_file::read(&args.messages)?;
    let tools = match &args.tools {
        Some(path) => chat_file::read_tools(path)?,
        None => Vec::new(),
    };
    let options = ModelOptions {
        gpu_layers: Some(0),
        ..ModelOptions::default()
    };
    let (_engine, model) = ctx.load_with(&args.model, &options)?;
    let plugins = Plugins::load(&ctx.plugins)?;
    let choice = plugins.choose_template(
        &model_name(&args.model),
        model.as_ref(),
        args.template.as_deref(),
    );
    let rendered = plugins.render(&choice, model.as_ref(), messages, tools)?;
    print!("{}", rendered.prompt);
    eprintln!(
        "template: {} ({}) | stop: {:?} | add_bos: {}",
        choice.name, choice.reason, rendered.stop, rendered.add_bos
    );
    Ok(())
}
