//! Sandbox test plugin: `render` panics. On wasm32-wasip2 a panic prints its message to stderr
//! and aborts with `unreachable`: a trap the host must turn into an error without crashing.
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct BadTrap;

impl Template for BadTrap {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "bad-trap".into(),
            description: "render panics".into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        if std::hint::black_box(true) {
            panic!(
                "bad-trap: deliberate panic while rendering {} messages",
                req.messages.len()
            );
        }
        Err(PluginError::failed("unreachable"))
    }
}

export_template!(BadTrap);
