//! Who may use `serve`: the API keys (`--api-key`, `SHIMMY_API_KEY`, `--api-key-file`), the
//! `Host` names and CORS origins, and what a public address without a key turns off.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context as _, Result};
use shimmy_server::auth::ApiKeys;
use shimmy_server::cors::CorsOrigins;
use shimmy_server::hosts::AllowedHosts;
use shimmy_server::ServerConfig;

use crate::cli::AccessArgs;

/// The built-in tool that reads granted host folders; off on a public address without a key.
pub(super) const FILES_PLUGIN: &str = "files";

/// The server's settings from the access flags.
pub(super) fn server_config(args: &AccessArgs) -> Result<ServerConfig> {
    if args.api_keys.iter().any(|k| k.trim().is_empty()) {
        anyhow::bail!("--api-key must not be empty (or leave it out to serve without keys)");
    }
    let mut keys = args.api_keys.clone();
    if let Some(file) = &args.api_key_file {
        keys.extend(read_key_file(file)?);
    }
    Ok(ServerConfig {
        api_keys: ApiKeys::new(keys),
        allowed_hosts: AllowedHosts::new(&args.allowed_hosts),
        cors_origins: CorsOrigins::new(&args.cors_origins),
        ..ServerConfig::default()
    })
}

/// The keys of an `--api-key-file`: one per line, blank lines and `#` comments skipped; a
/// missing file or one without a key is an error.
fn read_key_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --api-key-file {}", path.display()))?;
    let keys = keys_of(&text);
    if keys.is_empty() {
        anyhow::bail!(
            "--api-key-file {} holds no key: write one key per line (blank lines and lines \
             starting with # are ignored)",
            path.display()
        );
    }
    Ok(keys)
}

fn keys_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Whether `addr` is reachable from other machines and no key protects it: a warning goes to
/// stderr and the `files` tool is left out unless `allow_remote_tools`. Returns the built-in
/// plugins to leave out.
pub(super) fn exposure(
    addr: SocketAddr,
    config: &ServerConfig,
    allow_remote_tools: bool,
) -> Vec<&'static str> {
    if addr.ip().is_loopback() || config.api_keys.required() {
        return Vec::new();
    }
    let tools = if allow_remote_tools {
        "The files tool stays on (--allow-remote-tools)"
    } else {
        "The files tool is off (--allow-remote-tools turns it on)"
    };
    eprintln!(
        "warning: listening on {addr}, which other machines can reach, without an API key: \
         anyone who reaches it can use the models; set --api-key, --api-key-file or \
         SHIMMY_API_KEY. {tools}."
    );
    if allow_remote_tools {
        Vec::new()
    } else {
        vec![FILES_PLUGIN]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_lines() {
        let keys = keys_of("# keys\n\n  alpha  \r\nbeta\n# gamma\n");
        assert_eq!(keys, ["alpha", "beta"]);
    }
}
