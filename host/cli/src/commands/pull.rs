//! `shimmy-host pull REPO[:QUANT]`: downloads a GGUF model from a Hugging Face hub into the
//! hub cache (a progress bar on a terminal, plain lines otherwise).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use indicatif::{ProgressBar, ProgressStyle};
use shimmy_core::placement::format_bytes;
use shimmy_hub::{HubClient, HubSettings, ModelRef, PlannedFile, PullEvent};

use crate::cli::PullArgs;

/// How often plain (non-terminal) progress lines are printed at most.
const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// Pulls the model and says where it went and what it is called.
pub fn run(args: PullArgs) -> Result<()> {
    let reference = ModelRef::parse(&args.model)?;
    let settings = HubSettings::from_env().ok_or_else(|| {
        anyhow!("no folder for the Hugging Face cache: set HOME, HF_HOME or HF_HUB_CACHE")
    })?;
    let client = HubClient::new(&settings)?;
    eprintln!(
        "pulling {reference} from {} into {}",
        settings.endpoint,
        settings.cache.display()
    );
    let mut view = if std::io::stderr().is_terminal() {
        View::Bar(None)
    } else {
        View::Lines {
            last: Instant::now() - LINE_INTERVAL,
        }
    };
    let result = shimmy_hub::pull(&client, &reference, &mut |event| {
        view.show(&event);
        true
    });
    view.finish();
    let pulled = result?;
    let name = pulled.model_name();
    println!(
        "pulled {reference}: {} file(s), {} ({} downloaded) at commit {}",
        pulled.files.len(),
        format_bytes(pulled.total_bytes()),
        format_bytes(pulled.downloaded_bytes),
        short(&pulled.commit)
    );
    println!("  {}", pulled.first().display());
    println!("name: {name}  (shimmy-host serve --model {name}, or --model {reference})");
    Ok(())
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Progress on a terminal (one bar per file) or as plain lines.
enum View {
    Bar(Option<ProgressBar>),
    Lines { last: Instant },
}

impl View {
    fn show(&mut self, event: &PullEvent<'_>) {
        match self {
            View::Bar(bar) => show_bar(bar, event),
            View::Lines { last } => show_line(last, event),
        }
    }

    fn finish(&mut self) {
        if let View::Bar(Some(bar)) = self {
            bar.finish_and_clear();
        }
    }
}

fn new_bar(file: &PlannedFile) -> ProgressBar {
    let bar = ProgressBar::new(file.size);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(file.path.clone());
    bar
}

fn show_bar(bar: &mut Option<ProgressBar>, event: &PullEvent<'_>) {
    match *event {
        PullEvent::Resolving => {}
        PullEvent::Planned { files, .. } => {
            for f in files {
                eprintln!("  {} ({})", f.path, format_bytes(f.size));
            }
        }
        PullEvent::Progress { file, completed } => {
            let same = bar
                .as_ref()
                .is_some_and(|b| b.message() == file.path && !b.is_finished());
            if !same {
                if let Some(old) = bar.take() {
                    old.finish();
                }
                let b = new_bar(file);
                b.set_position(completed);
                b.reset_eta();
                *bar = Some(b);
            }
            if let Some(b) = bar {
                b.set_position(completed);
            }
        }
        PullEvent::Cached { file } => eprintln!("  {}: already in the cache", file.path),
        PullEvent::Resuming {
            file,
            completed,
            attempt,
        } => {
            let text = format!(
                "  {}: the connection broke at {}; resuming (attempt {attempt})",
                file.path,
                format_bytes(completed)
            );
            match bar {
                Some(b) => b.println(text),
                None => eprintln!("{text}"),
            }
        }
        PullEvent::Waiting { file } => {
            eprintln!("  {}: another pull is downloading it; waiting", file.path)
        }
        PullEvent::Verifying { file } => {
            if let Some(b) = bar {
                b.set_message(format!("{} (verifying)", file.path));
            }
        }
        PullEvent::Linking => {
            if let Some(b) = bar.take() {
                b.finish();
            }
        }
    }
}

fn show_line(last: &mut Instant, event: &PullEvent<'_>) {
    match *event {
        PullEvent::Resolving => eprintln!("listing the repository"),
        PullEvent::Planned { commit, files } => {
            eprintln!("commit {}: {} file(s)", short(commit), files.len());
            for f in files {
                eprintln!("  {} ({})", f.path, format_bytes(f.size));
            }
        }
        PullEvent::Progress { file, completed } => {
            let done = completed == file.size;
            if done || completed == 0 || last.elapsed() >= LINE_INTERVAL {
                *last = Instant::now();
                let pct = if file.size == 0 {
                    100.0
                } else {
                    completed as f64 * 100.0 / file.size as f64
                };
                eprintln!(
                    "{}: {} of {} ({pct:.0}%)",
                    file.path,
                    format_bytes(completed),
                    format_bytes(file.size)
                );
            }
        }
        PullEvent::Cached { file } => eprintln!("{}: already in the cache", file.path),
        PullEvent::Resuming {
            file,
            completed,
            attempt,
        } => eprintln!(
            "{}: the connection broke at {}; resuming (attempt {attempt})",
            file.path,
            format_bytes(completed)
        ),
        PullEvent::Waiting { file } => {
            eprintln!("{}: another pull is downloading it; waiting", file.path)
        }
        PullEvent::Verifying { file } => eprintln!("{}: verifying", file.path),
        PullEvent::Linking => eprintln!("linking into the snapshot"),
    }
}
