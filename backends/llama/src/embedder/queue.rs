//! What the embedder handle and its thread share: the requests not yet taken by the thread,
//! the count of unfinished ones and the shutdown flag, behind one mutex, with a condition
//! variable that wakes the idle thread.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::embedding::EmbeddingSink;
use shimmy_core::{Error, Result};

/// A checked request and the vectors computed for it so far.
pub struct Waiting {
    /// The token ids of each input (non-empty, within the context).
    pub inputs: Vec<Vec<LlamaToken>>,
    /// The vector of each input, once computed.
    pub vectors: Vec<Option<Vec<f32>>>,
    /// The first input not yet put into a batch.
    pub next: usize,
    /// Where the vectors go.
    pub sink: Box<dyn EmbeddingSink>,
}

impl Waiting {
    /// A request for `inputs` answering into `sink`.
    pub fn new(inputs: Vec<Vec<LlamaToken>>, sink: Box<dyn EmbeddingSink>) -> Self {
        Waiting {
            vectors: vec![None; inputs.len()],
            inputs,
            next: 0,
            sink,
        }
    }

    /// Whether every input has its vector.
    pub fn complete(&self) -> bool {
        self.vectors.iter().all(Option::is_some)
    }

    /// Ends the request: the vectors when all are there, else `error`.
    pub fn finish(mut self, error: Option<Error>) {
        let outcome = match error {
            Some(e) => Err(e),
            None => self
                .vectors
                .drain(..)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::Inference("internal: an embedding is missing".into())),
        };
        self.sink.finish(outcome);
    }
}

/// The mutable part of [`Queue`].
struct State {
    /// Requests the thread has not taken yet, oldest first.
    waiting: VecDeque<Waiting>,
    /// Requests submitted and not finished (waiting here or held by the thread).
    unfinished: usize,
    /// Set once: no more submits, the thread winds down.
    shutdown: bool,
}

/// State shared by the handle and the thread.
pub struct Queue {
    state: Mutex<State>,
    work: Condvar,
    /// The model's name, for [`Error::Unloaded`].
    pub name: String,
    /// Requests allowed to wait besides the one the thread works on.
    max_queue: usize,
}

impl Queue {
    /// An empty queue.
    pub fn new(name: String, max_queue: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                unfinished: 0,
                shutdown: false,
            }),
            work: Condvar::new(),
            name,
            max_queue,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error for requests refused or stopped because the embedder is shut down.
    pub fn unloaded(&self) -> Error {
        Error::Unloaded {
            model: self.name.clone(),
        }
    }

    /// Fails with [`Error::Unloaded`] once shut down.
    pub fn check_running(&self) -> Result<()> {
        if self.lock().shutdown {
            return Err(self.unloaded());
        }
        Ok(())
    }

    /// Queues `request` and wakes the thread.
    pub fn push(&self, request: Waiting) -> Result<()> {
        let mut state = self.lock();
        if state.shutdown {
            return Err(self.unloaded());
        }
        if state.unfinished > self.max_queue {
            return Err(Error::QueueFull {
                queued: state.unfinished,
                max_queue: self.max_queue,
            });
        }
        state.waiting.push_back(request);
        state.unfinished += 1;
        drop(state);
        self.work.notify_one();
        Ok(())
    }

    /// Counts `n` requests as finished.
    pub fn finished(&self, n: usize) {
        let mut state = self.lock();
        state.unfinished = state.unfinished.saturating_sub(n);
    }

    /// The requests submitted since the last call; waits for one when `idle`. `None` once
    /// shut down (the requests still waiting are returned by [`Queue::drain`]).
    pub fn take(&self, idle: bool) -> Option<Vec<Waiting>> {
        let mut state = self.lock();
        while idle && state.waiting.is_empty() && !state.shutdown {
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.shutdown {
            return None;
        }
        Some(state.waiting.drain(..).collect())
    }

    /// Marks the queue shut down and returns what still waits (the thread's way out).
    pub fn drain(&self) -> Vec<Waiting> {
        let mut state = self.lock();
        state.shutdown = true;
        state.unfinished = 0;
        state.waiting.drain(..).collect()
    }

    /// Asks the thread to stop.
    pub fn request_shutdown(&self) {
        self.lock().shutdown = true;
        self.work.notify_all();
    }
}
