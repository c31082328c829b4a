//! Sandbox test plugin: `render` recurses without bound. Each frame lives only on the wasm
//! call stack (no address-taken locals, so nothing on Rust's shadow stack in linear memory), so
//! the engine's own stack limit is what stops it: wasmtime traps with "call stack exhausted".
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct BadRecursion;

#[inline(never)]
#[allow(unconditional_recursion)]
fn dive(depth: u64) -> u64 {
    // black_box on the argument and on the result keeps the call from becoming a loop.
    let below = dive(std::hint::black_box(depth.wrapping_add(1)));
    std::hint::black_box(below).wrapping_add(depth)
}

impl Template for BadRecursion {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "bad-recursion".into(),
            description: "render recurses without bound".into(),
        }
    }

    fn render(_req: RenderRequest) -> Result<Rendered, PluginError> {
        let n = dive(0);
        Err(PluginError::failed(format!(
            "unreachable: recursion returned {n}"
        )))
    }
}

export_template!(BadRecursion);
