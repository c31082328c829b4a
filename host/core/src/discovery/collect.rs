//! The state of one discovery run: models with unique names, skipped files, locations.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use super::{DiscoveredModel, DiscoveryReport, LocationOutcome, SearchedLocation, Skipped, Source};

/// Accumulates a [`DiscoveryReport`].
#[derive(Default)]
pub(super) struct Collector {
    report: DiscoveryReport,
    /// Canonical paths of the files listed so far.
    seen_files: HashSet<PathBuf>,
    /// Lower-cased names taken so far.
    taken: HashSet<String>,
}

impl Collector {
    /// The finished report.
    pub(super) fn into_report(self) -> DiscoveryReport {
        self.report
    }

    /// Adds a location whose outcome is filled in later by [`Collector::finish_location`].
    pub(super) fn begin_location(&mut self, path: &Path, source: Source) -> usize {
        self.report.locations.push(SearchedLocation {
            path: path.to_path_buf(),
            source,
            outcome: LocationOutcome::Found(0),
        });
        self.report.locations.len() - 1
    }

    /// Sets the outcome of the location [`Collector::begin_location`] returned `index` for.
    pub(super) fn finish_location(&mut self, index: usize, outcome: LocationOutcome) {
        if let Some(loc) = self.report.locations.get_mut(index) {
            loc.outcome = outcome;
        }
    }

    /// Records a location that could not be read.
    pub(super) fn unreadable(&mut self, path: &Path, source: Source, err: &io::Error) {
        tracing::debug!(path = %path.display(), %err, "model search: unreadable directory");
        self.report.locations.push(SearchedLocation {
            path: path.to_path_buf(),
            source,
            outcome: LocationOutcome::Unreadable(err.to_string()),
        });
    }

    /// Records a file passed over.
    pub(super) fn skip(&mut self, path: &Path, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::debug!(path = %path.display(), %reason, "model search: skipped");
        self.report.skipped.push(Skipped {
            path: path.to_path_buf(),
            reason,
        });
    }

    /// Lists a model under `name` (or `name-2`, `name-3`... when taken) unless the same file
    /// (after resolving symlinks) is already listed.
    pub(super) fn add_model(&mut self, name: &str, path: &Path, size_bytes: u64, source: Source) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !self.seen_files.insert(canonical) {
            tracing::debug!(path = %path.display(), "model search: already listed");
            return;
        }
        let (name, renamed_from) = self.unique_name(name);
        self.report.models.push(DiscoveredModel {
            name,
            path: path.to_path_buf(),
            size_bytes,
            source,
            renamed_from,
        });
    }

    fn unique_name(&mut self, wanted: &str) -> (String, Option<String>) {
        if self.taken.insert(wanted.to_lowercase()) {
            return (wanted.to_string(), None);
        }
        let mut k = 2u64;
        loop {
            let candidate = format!("{wanted}-{k}");
            if self.taken.insert(candidate.to_lowercase()) {
                return (candidate, Some(wanted.to_string()));
            }
            k += 1;
        }
    }
}
