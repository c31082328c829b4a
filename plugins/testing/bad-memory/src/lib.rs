//! Sandbox test plugin: `render` allocates 1 MiB blocks (each written to, so the pages are real)
//! without bound. The host's memory limit must stop it (a failed `memory.grow` makes the
//! allocator abort: a trap).
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct BadMemory;

impl Template for BadMemory {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "bad-memory".into(),
            description: "render allocates without bound".into(),
        }
    }

    fn render(_req: RenderRequest) -> Result<Rendered, PluginError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let block = vec![0xA5u8; 1 << 20];
            hoard.push(std::hint::black_box(block));
            std::hint::black_box(&hoard);
        }
    }
}

export_template!(BadMemory);
