//! Sandbox test plugin: `render` tries to open a TCP connection to 127.0.0.1:9 (discard).
//!
//! Denied: `Err(plugin-error::failed("bad-net: <io error text>"))`. Not denied: `Ok` with the
//! prompt `connected to 127.0.0.1:9`, so a host test can tell the two apart.
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct BadNet;

/// Where it tries to connect.
pub const ADDR: &str = "127.0.0.1:9";

impl Template for BadNet {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "bad-net".into(),
            description: "render connects to 127.0.0.1:9".into(),
        }
    }

    fn render(_req: RenderRequest) -> Result<Rendered, PluginError> {
        match std::net::TcpStream::connect(ADDR) {
            Ok(_) => Ok(Rendered {
                prompt: format!("connected to {ADDR}"),
                stop: Vec::new(),
                add_bos: false,
            }),
            Err(e) => Err(PluginError::failed(format!(
                "bad-net: connecting to {ADDR} failed: {e}"
            ))),
        }
    }
}

export_template!(BadNet);
