//! What the scheduler handle and its thread share: the wait queue, the published stats and the
//! shutdown flag, behind one mutex, with a condition variable that wakes the idle thread.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use llama_cpp_2::token::LlamaToken;
use shimmy_core::reasoning::ReasoningTracker;
use shimmy_core::serving::{GenerationSink, SchedulerStats};
use shimmy_core::{Error, Result};

use crate::sampler::TokenSampler;

/// A checked request waiting for a slot.
pub struct Pending {
    /// The prompt's tokens (never empty).
    pub prompt: Vec<LlamaToken>,
    /// Tokens to generate at most (already fitted to the context unless it shifts).
    pub max_tokens: usize,
    /// Tokens at the start kept when a full context shifts; `None`: it never shifts.
    pub shift_keep: Option<usize>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// The request's sampler (grammar included).
    pub sampler: TokenSampler,
    /// Where its events go.
    pub sink: Box<dyn GenerationSink>,
    /// When it was submitted.
    pub submitted: Instant,
    /// Its reasoning block, when tracked.
    pub reasoning: Option<Reasoning>,
}

/// A request's reasoning block: where the output is in it, and the tokens of its closing tag
/// (forced once a budget is spent).
pub struct Reasoning {
    /// Where the output is.
    pub tracker: ReasoningTracker,
    /// The closing tag's tokens.
    pub close_tokens: Vec<LlamaToken>,
    /// The closing tag's tokens still to force.
    pub forced: VecDeque<LlamaToken>,
    /// Whether the closing tag was forced already (it is forced once).
    pub forcing: bool,
}

/// The mutable part of [`Shared`].
pub struct State {
    /// Requests waiting for a slot, oldest first.
    pub queue: VecDeque<Pending>,
    /// Requests not yet admitted: `queue` plus those the thread holds while it polls them.
    pub queued: usize,
    /// Slots without a request, as of the thread's last step.
    pub free_slots: usize,
    /// Set once: no more submits, the thread winds down.
    pub shutdown: bool,
    /// Counters published by the thread after each step (`queued` is filled in on read).
    pub stats: SchedulerStats,
}

/// State shared by the handle and the thread.
pub struct Shared {
    state: Mutex<State>,
    work: Condvar,
    /// The model's name, for [`Error::Unloaded`].
    pub name: String,
    /// Requests allowed to wait beyond the free slots.
    pub max_queue: usize,
}

impl Shared {
    /// Empty shared state for a scheduler of `slots` slots.
    pub fn new(name: String, max_queue: usize, slots: u32, ctx_per_sequence: u32) -> Self {
        Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued: 0,
                free_slots: slots as usize,
                shutdown: false,
                stats: SchedulerStats {
                    slots,
                    max_queue,
                    ctx_per_sequence,
                    ..SchedulerStats::default()
                },
            }),
            work: Condvar::new(),
            name,
            max_queue,
        }
    }

    /// Locks the state. A panic elsewhere never leaves it inconsistent (every update is a few
    /// plain assignments), so a poisoned lock is used as it is.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error for requests refused or stopped because the scheduler is shut down.
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

    /// Queues `pending` and wakes the thread. A request may wait when a slot is free for it or
    /// fewer than `max_queue` others wait beyond the free slots.
    pub fn push(&self, pending: Pending) -> Result<()> {
        let mut state = self.lock();
        if state.shutdown {
            return Err(self.unloaded());
        }
        if state.queued >= self.max_queue + state.free_slots {
            return Err(Error::QueueFull {
                queued: state.queued - state.free_slots.min(state.queued),
                max_queue: self.max_queue,
            });
        }
        state.queue.push_back(pending);
        state.queued += 1;
        drop(state);
        self.work.notify_one();
        Ok(())
    }

    /// The published stats with the current queue length.
    pub fn stats(&self) -> SchedulerStats {
        let state = self.lock();
        let mut stats = state.stats.clone();
        stats.queued = state.queued;
        stats
    }

    /// Sets the shutdown flag and wakes the thread. Returns whether it was already set.
    pub fn request_shutdown(&self) -> bool {
        let mut state = self.lock();
        let was = std::mem::replace(&mut state.shutdown, true);
        drop(state);
        self.work.notify_all();
        was
    }

    /// Blocks until there is something to do: returns `true` at once when `busy` (requests are
    /// running) or requests wait, `false` when shut down. Sleeps otherwise.
    pub fn wait_for_work(&self, busy: bool) -> bool {
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return false;
            }
            if busy || !state.queue.is_empty() {
                return true;
            }
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}
