//! The startup banner (printed to stdout before serving, whatever `RUST_LOG` says).

use std::fmt::Write as _;
use std::net::SocketAddr;

use shimmy_core::backend::DeviceInfo;
use shimmy_core::placement::format_bytes;
use shimmy_engine::catalog::{parameter_size, Catalog, CatalogEntry};
use shimmy_engine::EngineConfig;
use shimmy_plugins::PluginSummary;

use crate::routes::ROUTES;
use crate::state::ServerConfig;

/// What the banner shows.
#[derive(Debug, Clone)]
pub struct Banner<'a> {
    /// The program version.
    pub version: &'a str,
    /// The compute backend, e.g. `llama.cpp`.
    pub backend: &'a str,
    /// Its devices.
    pub devices: &'a [DeviceInfo],
    /// The engine's settings.
    pub config: &'a EngineConfig,
    /// The models offered.
    pub catalog: &'a Catalog,
    /// The plugins loaded.
    pub plugins: &'a [PluginSummary],
    /// Plugins that failed to load: `(source, reason)`.
    pub plugin_failures: &'a [(String, String)],
    /// The address bound.
    pub addr: SocketAddr,
    /// The server's settings (who may use it).
    pub server: &'a ServerConfig,
}

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Colors {
    on: bool,
}

impl Colors {
    /// Colors when `on` (a terminal without `NO_COLOR`).
    pub fn new(on: bool) -> Self {
        Colors { on }
    }

    /// Whether stdout should get colors: a terminal and `NO_COLOR` unset or empty.
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Colors::new(std::io::stdout().is_terminal() && !no_color)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

impl Banner<'_> {
    /// The banner text (ends with a newline).
    pub fn render(&self, c: Colors) -> String {
        let mut s = String::new();
        let cfg = self.config;
        let _ = writeln!(
            s,
            "{}",
            c.bold(&format!("shimmy-host {} serve", self.version))
        );
        let _ = writeln!(s, "compute backend: {}", self.backend);
        for d in self.devices {
            let _ = writeln!(
                s,
                "  device {:<8} {:<5} {} ({} free of {})",
                d.name,
                d.kind,
                d.description,
                format_bytes(d.memory_free),
                format_bytes(d.memory_total)
            );
        }
        if !self
            .devices
            .iter()
            .any(|d| d.kind == "gpu" || d.kind == "igpu")
        {
            let _ = writeln!(s, "  {}", c.dim("no GPU device: inference runs on the CPU"));
        }
        let _ = writeln!(s, "MoE offload: {}", cfg.model_options.moe);
        let ctx = cfg
            .ctx_per_sequence
            .map_or("model default (at most 4096)".to_string(), |n| {
                n.to_string()
            });
        let _ = writeln!(
            s,
            "scheduler: {} slots per model, {ctx} tokens of context per slot, queue {} per model",
            cfg.parallel, cfg.max_queue
        );
        let _ = writeln!(
            s,
            "models: keep-alive {}, at most {} loaded at once",
            cfg.keep_alive, cfg.max_loaded_models
        );
        let _ = writeln!(s, "models available: {}", self.catalog.models.len());
        for m in &self.catalog.models {
            let _ = writeln!(s, "{}", model_line(m, c));
        }
        for skip in &self.catalog.skipped {
            let _ = writeln!(
                s,
                "  {} {} ({}): {}",
                c.yellow("skipped"),
                skip.name,
                skip.path.display(),
                skip.reason
            );
        }
        if self.catalog.models.is_empty() {
            let _ = writeln!(
                s,
                "  {}",
                c.yellow(
                    "no models: pass --model PATH, or put .gguf files in ./models or --model-dirs"
                )
            );
        }
        let templates: Vec<&PluginSummary> = self.plugins.iter().collect();
        let _ = writeln!(s, "plugins loaded: {}", templates.len());
        for p in &templates {
            let _ = writeln!(
                s,
                "  {:<12} {:<9} {} ({})",
                p.name, p.kind, p.version, p.source
            );
        }
        for (source, reason) in self.plugin_failures {
            let _ = writeln!(s, "  {} {source}: {reason}", c.yellow("not loaded"));
        }
        let _ = writeln!(s, "routes:");
        for (method, path, what) in ROUTES {
            let _ = writeln!(s, "  {method:<5} {path:<22} {}", c.dim(what));
        }
        let _ = writeln!(s, "access: {}", access_line(self.server, self.addr));
        let _ = writeln!(s, "chat page: http://{}/", self.addr);
        let _ = writeln!(
            s,
            "{} {}",
            c.green("listening on"),
            c.bold(&format!("http://{}", self.addr))
        );
        s
    }
}

/// Who may use the server: API keys (how many, never which), the `Host` check, CORS.
fn access_line(cfg: &ServerConfig, addr: SocketAddr) -> String {
    let keys = match cfg.api_keys.len() {
        0 => "no API key".to_string(),
        1 => "API key required".to_string(),
        n => format!("API key required ({n} keys)"),
    };
    let plus = |n: usize| {
        if n == 0 {
            String::new()
        } else {
            format!(" + {n} listed")
        }
    };
    let hosts = if cfg.allowed_hosts.is_any() || !addr.ip().is_loopback() {
        "any Host".to_string()
    } else {
        format!("Host: loopback names{}", plus(cfg.allowed_hosts.listed()))
    };
    let cors = if cfg.cors_origins.is_any() {
        "CORS: any origin".to_string()
    } else {
        format!("CORS: localhost origins{}", plus(cfg.cors_origins.listed()))
    };
    format!("{keys}; {hosts}; {cors}")
}

fn model_line(m: &CatalogEntry, c: Colors) -> String {
    let moe = if m.n_expert > 0 {
        format!(", MoE {} experts ({} used)", m.n_expert, m.n_expert_used)
    } else {
        String::new()
    };
    // A model that does not generate has no use for a template.
    let serves = match (m.purpose.generates, m.purpose.pooling) {
        (true, _) => format!("template {} ({})", m.template.name, m.template.reason),
        (false, Some(pooling)) => format!("embeddings only ({pooling} pooling)"),
        (false, None) => "neither generates nor embeds (a reranker)".to_string(),
    };
    format!(
        "  {} {} {} {} params{moe}, {serves} {}",
        c.bold(&m.name),
        format_bytes(m.size_bytes),
        m.architecture,
        parameter_size(m.parameters),
        c.dim(&m.path.display().to_string())
    )
}
