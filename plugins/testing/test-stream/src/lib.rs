//! Runtime test plugin for the `output-parser` resource. Its parser answers each push with
//! `[n:text]`, where `n` counts the pushes this *instance* has seen (a static, so a fresh
//! instance per push would always say 1). A push of `busy:MS` computes for MS milliseconds
//! (within the per-call time limit, several of them exceed it together), `spin` never returns
//! (the time limit), `grow` allocates until the memory limit. `finish` returns every pushed
//! text and the push count as reasoning.
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shimmy_plugin_sdk::stream::OutputParser;
use shimmy_plugin_sdk::{
    export_template, ParseDelta, Parsed, PluginError, RenderRequest, Rendered, Template,
    TemplateInfo, ToolDefinition,
};

static PUSHES: AtomicU32 = AtomicU32::new(0);

struct TestStream;

struct Counter {
    text: String,
}

impl OutputParser for Counter {
    fn push(&mut self, text: &str) -> Result<ParseDelta, PluginError> {
        let n = PUSHES.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(ms) = text.strip_prefix("busy:") {
            let ms: u64 = ms
                .parse()
                .map_err(|_| PluginError::invalid_input("busy:MS"))?;
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(ms) {
                std::hint::black_box(&start);
            }
        }
        if text == "spin" {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if text == "grow" {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        self.text.push_str(text);
        Ok(ParseDelta {
            content: format!("[{n}:{text}]"),
            reasoning: String::new(),
            tool_markup: false,
        })
    }

    fn finish(&mut self) -> Result<Parsed, PluginError> {
        Ok(Parsed {
            content: self.text.clone(),
            reasoning: Some(PUSHES.load(Ordering::SeqCst).to_string()),
            tool_calls: Vec::new(),
        })
    }
}

impl Template for TestStream {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "test-stream".into(),
            description: "counts parser pushes per instance".into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        let prompt: String = req
            .messages
            .iter()
            .map(|m| format!("{}\n", m.content))
            .collect();
        Ok(Rendered::new(prompt, &[], true))
    }

    fn parser(_tools: Vec<ToolDefinition>) -> Box<dyn OutputParser> {
        Box::new(Counter {
            text: String::new(),
        })
    }
}

export_template!(TestStream);
