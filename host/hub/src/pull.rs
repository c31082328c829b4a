//! A whole pull: list the repository, pick the model's file(s), download every one (shards
//! of a split model together), and only then link them into the snapshot.

use std::path::PathBuf;

use shimmy_core::discovery::parse_shard;

use crate::cache::RepoCache;
use crate::client::HubClient;
use crate::download::{fetch_blob, Fetched, Step, Target};
use crate::error::{HubError, Result};
use crate::reference::ModelRef;
use crate::select;

/// One file a pull fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Its path in the repository.
    pub path: String,
    /// Its ETag (sha256 for LFS files).
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
}

/// What a pull reports as it goes. The callback returns `false` to stop it.
#[derive(Debug, Clone, Copy)]
pub enum PullEvent<'a> {
    /// Asking the hub for the repository's files.
    Resolving,
    /// The files to fetch are known.
    Planned {
        /// The commit they are fetched at.
        commit: &'a str,
        /// The files, in order (the first is the one llama.cpp loads).
        files: &'a [PlannedFile],
    },
    /// Bytes of one file on disk so far.
    Progress {
        /// The file.
        file: &'a PlannedFile,
        /// Bytes done.
        completed: u64,
    },
    /// The file was in the cache already.
    Cached {
        /// The file.
        file: &'a PlannedFile,
    },
    /// The connection broke; resuming from `completed` bytes.
    Resuming {
        /// The file.
        file: &'a PlannedFile,
        /// Bytes kept.
        completed: u64,
        /// 1, 2...
        attempt: u32,
    },
    /// Another pull is downloading this file; waiting for it.
    Waiting {
        /// The file.
        file: &'a PlannedFile,
    },
    /// Checking the file's checksum.
    Verifying {
        /// The file.
        file: &'a PlannedFile,
    },
    /// Every file is verified; linking them into the snapshot.
    Linking,
}

/// A finished pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// `org/name`.
    pub repo: String,
    /// The commit pulled.
    pub commit: String,
    /// The snapshot paths of the files, in order; the first is the one to load.
    pub files: Vec<PathBuf>,
    /// What was fetched.
    pub planned: Vec<PlannedFile>,
    /// Bytes downloaded now (not counting what was cached or resumed).
    pub downloaded_bytes: u64,
}

impl Pulled {
    /// The file llama.cpp loads (the first shard of a split model).
    pub fn first(&self) -> &PathBuf {
        &self.files[0]
    }

    /// Size of every file together.
    pub fn total_bytes(&self) -> u64 {
        self.planned.iter().map(|f| f.size).sum()
    }

    /// The name discovery gives the model: the lower-cased file stem (for a split model the
    /// name before `-00001-of-0000N`).
    pub fn model_name(&self) -> String {
        model_name(&self.planned[0].path)
    }
}

/// The name discovery gives the model file at repository path `path`.
pub fn model_name(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = match parse_shard(name) {
        Some(s) if !s.prefix.is_empty() => s.prefix,
        _ => name.rsplit_once('.').map_or(name, |(stem, _)| stem),
    };
    stem.to_lowercase()
}

/// Pulls `reference` through `client` into its cache. `on_event` is told how it goes and
/// returns `false` to stop (what was downloaded so far is kept and resumes next time).
pub fn pull(
    client: &HubClient,
    reference: &ModelRef,
    on_event: &mut dyn FnMut(PullEvent<'_>) -> bool,
) -> Result<Pulled> {
    let stop = || HubError::Cancelled;
    if !on_event(PullEvent::Resolving) {
        return Err(stop());
    }
    let repo = &reference.repo;
    let info = client.repo_info(repo, &reference.revision)?;
    let model = select::select(repo, &info.files, &reference.selector)?;
    let mut planned = Vec::with_capacity(model.files.len());
    for path in &model.files {
        let meta = client.file_meta(repo, &info.commit, path)?;
        planned.push((
            PlannedFile {
                path: path.clone(),
                etag: meta.etag.clone(),
                size: meta.size,
            },
            meta,
        ));
    }
    let files: Vec<PlannedFile> = planned.iter().map(|(f, _)| f.clone()).collect();
    if !on_event(PullEvent::Planned {
        commit: &info.commit,
        files: &files,
    }) {
        return Err(stop());
    }
    let cache = RepoCache::new(&client.settings().cache, repo);
    let mut downloaded_bytes = 0;
    for (file, meta) in &planned {
        let target = Target {
            repo,
            commit: &info.commit,
            file: &file.path,
            meta,
        };
        let events = std::cell::RefCell::new(&mut *on_event);
        let mut progress = |step: Step| {
            let mut on_event = events.borrow_mut();
            match step {
                Step::Bytes { completed, .. } => on_event(PullEvent::Progress { file, completed }),
                Step::Resuming { completed, attempt } => on_event(PullEvent::Resuming {
                    file,
                    completed,
                    attempt,
                }),
                Step::Verifying => on_event(PullEvent::Verifying { file }),
            }
        };
        let mut waiting = || {
            (events.borrow_mut())(PullEvent::Waiting { file });
        };
        let fetched = fetch_blob(client, &cache, target, &mut progress, &mut waiting)?;
        match fetched {
            Fetched::Cached => {
                if !on_event(PullEvent::Cached { file }) {
                    return Err(stop());
                }
            }
            Fetched::Downloaded { resumed_from } => {
                downloaded_bytes += file.size - resumed_from;
            }
        }
    }
    if !on_event(PullEvent::Linking) {
        return Err(stop());
    }
    // Later shards first, the file that is loaded last: a reader never finds the first shard
    // without the others.
    let mut links = Vec::with_capacity(files.len());
    for file in files.iter().rev() {
        links.push(cache.link(&info.commit, &file.path, &file.etag)?);
    }
    links.reverse();
    cache.write_ref(&reference.revision, &info.commit)?;
    Ok(Pulled {
        repo: repo.clone(),
        commit: info.commit,
        files: links,
        planned: files,
        downloaded_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_discovery() {
        assert_eq!(model_name("sub/Qwen3-0.6B-Q8_0.gguf"), "qwen3-0.6b-q8_0");
        assert_eq!(model_name("Big-Q4_K_M-00001-of-00003.gguf"), "big-q4_k_m");
    }
}
