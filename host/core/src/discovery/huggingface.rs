//! The Hugging Face hub cache: `hub/models--<org>--<name>/snapshots/<revision>/**.gguf`.
//!
//! Snapshot files are usually symlinks into `../../blobs/`; they are listed by their snapshot
//! path and name, and a symlink whose blob is missing is skipped with the reason.

use std::io;
use std::path::Path;

use super::collect::Collector;
use super::walk::{read_dir_sorted, Walker};
use super::{LocationOutcome, Source};

/// Searches the hub cache at `hub`.
pub(super) fn scan(c: &mut Collector, hub: &Path) {
    let index = c.begin_location(hub, Source::HuggingFace);
    let outcome = match read_dir_sorted(hub) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => LocationOutcome::Missing,
        Err(e) => LocationOutcome::Unreadable(e.to_string()),
        Ok(entries) => {
            let mut found = 0;
            for repo in entries {
                let is_model_repo = repo
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("models--"));
                if is_model_repo && repo.is_dir() {
                    found += scan_repo(c, &repo);
                }
            }
            LocationOutcome::Found(found)
        }
    };
    c.finish_location(index, outcome);
}

/// Searches every snapshot of one cached repository.
fn scan_repo(c: &mut Collector, repo: &Path) -> usize {
    let snapshots = repo.join("snapshots");
    let revisions = match read_dir_sorted(&snapshots) {
        Ok(revisions) => revisions,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return 0,
        Err(e) => {
            c.unreadable(&snapshots, Source::HuggingFace, &e);
            return 0;
        }
    };
    let mut found = 0;
    for revision in revisions.iter().filter(|r| r.is_dir()) {
        match Walker::new(Source::HuggingFace).walk(c, revision) {
            Ok(n) => found += n,
            Err(e) => c.unreadable(revision, Source::HuggingFace, &e),
        }
    }
    found
}
