//! Test tool plugin. Tools:
//! * `echo`: returns `{"echo": <arguments>}`;
//! * `config`: returns every `[config]` pair as `k=v;` (sorted by the host);
//! * `log`: writes one log line per level and some stdout/stderr, returns `"logged"`;
//! * `spin`: loops forever (timeouts);
//! anything else is `not-found`.
wit_bindgen::generate!({ world: "tool-plugin", path: "../../../../../wit/0.1.0" });

use exports::shimmy::plugin::tool::{Guest, PluginError, ToolDefinition};
use shimmy::plugin::{config, log};

struct Tool;

fn def(name: &str, description: &str) -> ToolDefinition {
    ToolDefinition {
        name: name.into(),
        description: description.into(),
        parameters_schema: r#"{"type":"object"}"#.into(),
    }
}

impl Guest for Tool {
    fn describe() -> Vec<ToolDefinition> {
        vec![
            def("echo", "Echoes its arguments"),
            def("config", "Lists the plugin's config"),
            def("log", "Writes log lines"),
            def("spin", "Never returns"),
        ]
    }

    fn invoke(name: String, arguments: String) -> Result<String, PluginError> {
        match name.as_str() {
            "echo" => Ok(format!(r#"{{"echo":{arguments}}}"#)),
            "config" => {
                let mut s = String::new();
                for (k, v) in config::all() {
                    s.push_str(&format!("{k}={v};"));
                }
                if let Some(g) = config::get("greeting") {
                    s.push_str(&format!("greeting:{g}"));
                }
                Ok(s)
            }
            "log" => {
                log::log(log::Level::Info, "info line from test-tool");
                log::log(log::Level::Warn, "warn line from test-tool");
                println!("stdout line from test-tool");
                eprintln!("stderr line from test-tool");
                Ok("\"logged\"".into())
            }
            "spin" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            other => Err(PluginError::NotFound(format!("no tool named {other}"))),
        }
    }
}

export!(Tool);
