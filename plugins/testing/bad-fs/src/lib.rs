//! Sandbox test plugin: `render` tries to read `/etc/passwd`.
//!
//! Denied (no preopened directory): `Err(plugin-error::failed("bad-fs: <io error text>"))`.
//! Not denied: `Ok` with the file's content as the prompt, so a host test can tell the two apart.
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct BadFs;

/// The file it tries to read.
pub const PATH: &str = "/etc/passwd";

impl Template for BadFs {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "bad-fs".into(),
            description: "render reads /etc/passwd".into(),
        }
    }

    fn render(_req: RenderRequest) -> Result<Rendered, PluginError> {
        match std::fs::read_to_string(PATH) {
            Ok(content) => Ok(Rendered {
                prompt: content,
                stop: Vec::new(),
                add_bos: false,
            }),
            Err(e) => Err(PluginError::failed(format!(
                "bad-fs: reading {PATH} failed: {e}"
            ))),
        }
    }
}

export_template!(BadFs);
