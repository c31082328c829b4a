//! Sandbox test plugin: `render` never returns. The host must stop it (fuel or epoch deadline).
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct BadLoop;

impl Template for BadLoop {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "bad-loop".into(),
            description: "render loops forever".into(),
        }
    }

    fn render(_req: RenderRequest) -> Result<Rendered, PluginError> {
        let mut n: u64 = 0;
        loop {
            // black_box keeps the loop (and its work) from being optimized into anything else.
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_template!(BadLoop);
