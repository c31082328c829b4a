//! Sandbox test plugin: `render` sleeps 30 s. `std::thread::sleep` on wasm32-wasip2 is a
//! WASI monotonic-clock subscription and a blocking `poll`: no guest code runs meanwhile, so
//! an epoch deadline alone never fires. The host must cut the call at its deadline anyway.
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct BadSleep;

impl Template for BadSleep {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "bad-sleep".into(),
            description: "render sleeps 30 s".into(),
        }
    }

    fn render(_req: RenderRequest) -> Result<Rendered, PluginError> {
        std::thread::sleep(std::time::Duration::from_secs(30));
        Err(PluginError::failed("bad-sleep: woke up after 30 s"))
    }
}

export_template!(BadSleep);
