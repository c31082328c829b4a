//! The CLI's load progress: a spinner on stderr while a model loads, drawn from the engine's
//! load events.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use shimmy_core::placement::format_bytes;
use shimmy_engine::{EngineEvent, EngineObserver};

/// One spinner per model being loaded.
#[derive(Default)]
pub struct LoadSpinner {
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl LoadSpinner {
    fn take(&self, model: &str) -> Option<ProgressBar> {
        self.bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(model)
    }
}

impl EngineObserver for LoadSpinner {
    fn event(&self, event: &EngineEvent<'_>) {
        match *event {
            EngineEvent::Loading {
                model, size_bytes, ..
            } => {
                let bar = ProgressBar::new_spinner();
                if let Ok(style) =
                    ProgressStyle::default_spinner().template("{spinner} {msg} {elapsed}")
                {
                    bar.set_style(style);
                }
                bar.set_message(format!("loading {model} ({})", format_bytes(size_bytes)));
                bar.enable_steady_tick(Duration::from_millis(100));
                self.bars
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(model.to_string(), bar);
            }
            EngineEvent::Loaded { model, took } => {
                if let Some(bar) = self.take(model) {
                    bar.finish_with_message(format!(
                        "loaded {model} in {:.1} s",
                        took.as_secs_f64()
                    ));
                }
            }
            EngineEvent::LoadFailed { model, error, .. } => {
                if let Some(bar) = self.take(model) {
                    bar.finish_with_message(format!("failed to load {model}: {error}"));
                }
            }
            _ => {}
        }
    }
}
