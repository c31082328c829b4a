//! What the engine reports while it works: model loads and unloads, and the timings of each
//! generation. Adapters subscribe an [`EngineObserver`]: the HTTP server's metrics count the
//! events, the CLI draws its load spinner from them. The engine itself draws nothing.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use shimmy_core::backend::GenerateSummary;

/// One thing that happened in the engine.
#[derive(Debug, Clone, Copy)]
pub enum EngineEvent<'a> {
    /// A model starts loading (on a blocking thread; the load may take a while).
    Loading {
        /// The model's catalog name.
        model: &'a str,
        /// Its file.
        path: &'a Path,
        /// The file's size in bytes.
        size_bytes: u64,
    },
    /// A model finished loading and its scheduler runs.
    Loaded {
        /// The model's catalog name.
        model: &'a str,
        /// How long the load took.
        took: Duration,
    },
    /// A model failed to load.
    LoadFailed {
        /// The model's catalog name.
        model: &'a str,
        /// Why.
        error: &'a str,
        /// How long the attempt took.
        took: Duration,
    },
    /// A model was unloaded (idle past its keep-alive, to make room, or at shutdown).
    Unloaded {
        /// The model's catalog name.
        model: &'a str,
    },
    /// The first text of a generation arrived.
    FirstText {
        /// The model's catalog name.
        model: &'a str,
        /// Time since the job was started.
        after: Duration,
    },
    /// More text of a generation arrived.
    TextGap {
        /// The model's catalog name.
        model: &'a str,
        /// Time since the previous text.
        gap: Duration,
    },
    /// A generation ended (also when its client went away). Sent on the scheduler's thread.
    Finished {
        /// The model's catalog name.
        model: &'a str,
        /// Counts and timings.
        summary: &'a GenerateSummary,
    },
}

/// Something that wants to hear about [`EngineEvent`]s. Called on the thread where the event
/// happened (an async worker, a blocking load thread or the scheduler's thread): keep it short
/// and never block.
pub trait EngineObserver: Send + Sync {
    /// One event.
    fn event(&self, event: &EngineEvent<'_>);
}

/// The observers of one engine.
#[derive(Default)]
pub struct Observers {
    list: RwLock<Vec<Arc<dyn EngineObserver>>>,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers")
            .field("count", &self.read().len())
            .finish()
    }
}

impl Observers {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<dyn EngineObserver>>> {
        self.list.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an observer; it sees every event from now on.
    pub fn add(&self, observer: Arc<dyn EngineObserver>) {
        self.list
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(observer);
    }

    /// Tells every observer.
    pub fn emit(&self, event: EngineEvent<'_>) {
        for observer in self.read().iter() {
            observer.event(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Names(Mutex<Vec<String>>);

    impl EngineObserver for Names {
        fn event(&self, event: &EngineEvent<'_>) {
            if let EngineEvent::Loaded { model, .. } = event {
                self.0.lock().unwrap().push(model.to_string());
            }
        }
    }

    #[test]
    fn every_observer_hears_every_event() {
        let observers = Observers::default();
        let (a, b) = (
            Arc::new(Names(Mutex::default())),
            Arc::new(Names(Mutex::default())),
        );
        observers.add(a.clone());
        observers.emit(EngineEvent::Loaded {
            model: "x",
            took: Duration::ZERO,
        });
        observers.add(b.clone());
        observers.emit(EngineEvent::Loaded {
            model: "y",
            took: Duration::ZERO,
        });
        assert_eq!(*a.0.lock().unwrap(), ["x", "y"]);
        assert_eq!(*b.0.lock().unwrap(), ["y"]);
    }
}
