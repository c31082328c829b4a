//! Where the scheduler thread's time goes, step by step: a few `Instant` readings per step,
//! summed per phase and logged (debug level) when a request ends, as microseconds per step
//! since the previous report. This is how the gap between HTTP decode and llama-bench's
//! tg128 is located on a GPU (docs/benchmarks.md).

use std::time::{Duration, Instant};

/// The phases of one step, in the order they run.
#[derive(Debug, Clone, Copy)]
pub(super) enum Phase {
    /// Cancelled requests dropped, waiting ones admitted, the batch filled.
    Prepare,
    /// `llama_decode`: the graph built or reused, its inputs set, its work queued.
    Launch,
    /// The previous step's events sent to the requests' sinks (while the device works).
    Send,
    /// Waiting for the device to finish the step (`llama_synchronize`).
    Device,
    /// Sampled tokens read and turned into text (held for the next step's `Send`).
    Deliver,
    /// Counters published, then the wait for the next step.
    Between,
}

const PHASES: usize = 6;
const NAMES: [&str; PHASES] = ["prepare", "launch", "send", "device", "deliver", "between"];

/// Sums of each phase's time since the last report.
#[derive(Debug)]
pub(super) struct StepClock {
    mark: Instant,
    sums: [Duration; PHASES],
    steps: u64,
}

impl StepClock {
    /// A clock whose first phase starts now.
    pub(super) fn new() -> Self {
        StepClock {
            mark: Instant::now(),
            sums: [Duration::ZERO; PHASES],
            steps: 0,
        }
    }

    /// Ends `phase` now (it began where the previous one ended) and starts the next one.
    pub(super) fn lap(&mut self, phase: Phase) {
        let now = Instant::now();
        self.sums[phase as usize] += now - self.mark;
        self.mark = now;
    }

    /// Counts a step that decoded.
    pub(super) fn count_step(&mut self) {
        self.steps += 1;
    }

    /// The phases' mean time per decoding step in µs since the last report (`None` without a
    /// step), then starts over.
    pub(super) fn report(&mut self) -> Option<String> {
        let steps = std::mem::take(&mut self.steps);
        let sums = std::mem::replace(&mut self.sums, [Duration::ZERO; PHASES]);
        if steps == 0 {
            return None;
        }
        let total: Duration = sums.iter().sum();
        let per_step = |d: Duration| d.as_secs_f64() * 1e6 / steps as f64;
        let parts: Vec<String> = NAMES
            .iter()
            .zip(sums)
            .map(|(name, d)| format!("{name} {:.1}", per_step(d)))
            .collect();
        Some(format!(
            "{steps} steps, {:.1} µs each: {}",
            per_step(total),
            parts.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_splits_the_time_by_phase_and_starts_over() {
        let mut clock = StepClock::new();
        assert_eq!(clock.report(), None);
        std::thread::sleep(Duration::from_millis(2));
        clock.lap(Phase::Device);
        clock.lap(Phase::Deliver);
        clock.count_step();
        let report = clock.report().unwrap();
        assert!(report.starts_with("1 steps, "), "{report}");
        let device: f64 = report
            .split("device ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(device >= 2000.0, "{report}");
        assert_eq!(clock.report(), None);
    }
}
