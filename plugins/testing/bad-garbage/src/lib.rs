//! Sandbox test plugin: `render` returns a 32 MiB prompt (and 10,000 stop strings). The host
//! must refuse oversized results rather than pass them on.
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct BadGarbage;

/// Size of the prompt returned.
pub const PROMPT_BYTES: usize = 32 << 20;

impl Template for BadGarbage {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "bad-garbage".into(),
            description: "render returns 32 MiB".into(),
        }
    }

    fn render(_req: RenderRequest) -> Result<Rendered, PluginError> {
        let prompt = "garbage ".repeat(PROMPT_BYTES / 8);
        let stop = (0..10_000).map(|i| format!("stop-{i}")).collect();
        Ok(Rendered {
            prompt,
            stop,
            add_bos: true,
        })
    }
}

export_template!(BadGarbage);
