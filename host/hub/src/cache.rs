//! The Hugging Face hub cache layout, as `huggingface_hub` writes it:
//!
//! ```text
//! HUB/models--ORG--NAME/
//!     blobs/ETAG                      the file's bytes (ETAG: its sha256 for LFS files)
//!     blobs/ETAG.incomplete           a download in progress (resumed with HTTP Range)
//!     snapshots/COMMIT/PATH           a relative symlink to ../../blobs/ETAG
//!     refs/main                       the commit `main` pointed at
//! HUB/.locks/models--ORG--NAME/ETAG.lock   held while ETAG downloads
//! ```
//!
//! Only finished, verified blobs are linked into `snapshots/`, so discovery never sees a
//! partial file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{HubError, Result};
use crate::select;

/// One repository's folder in the hub cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoCache {
    hub: PathBuf,
    repo: String,
}

/// `models--ORG--NAME` for `ORG/NAME`.
pub fn repo_folder_name(repo: &str) -> String {
    format!("models--{}", repo.replace('/', "--"))
}

impl RepoCache {
    /// The cache of `repo` (`org/name`) in the hub cache `hub`.
    pub fn new(hub: &Path, repo: &str) -> RepoCache {
        RepoCache {
            hub: hub.to_path_buf(),
            repo: repo.to_string(),
        }
    }

    /// `HUB/models--ORG--NAME`.
    pub fn dir(&self) -> PathBuf {
        self.hub.join(repo_folder_name(&self.repo))
    }

    /// Where the finished blob `etag` lives.
    pub fn blob(&self, etag: &str) -> PathBuf {
        self.dir().join("blobs").join(etag)
    }

    /// Where the blob `etag` is downloaded to.
    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.dir().join("blobs").join(format!("{etag}.incomplete"))
    }

    /// The lock file of the blob `etag`.
    pub fn lock(&self, etag: &str) -> PathBuf {
        self.hub
            .join(".locks")
            .join(repo_folder_name(&self.repo))
            .join(format!("{etag}.lock"))
    }

    /// The snapshot path of `file` at `commit`.
    pub fn pointer(&self, commit: &str, file: &str) -> PathBuf {
        self.dir().join("snapshots").join(commit).join(file)
    }

    /// `refs/REVISION`.
    fn ref_path(&self, revision: &str) -> PathBuf {
        self.dir().join("refs").join(revision)
    }

    /// The commit `revision` pointed at when last pulled (`None` when never pulled).
    pub fn read_ref(&self, revision: &str) -> Option<String> {
        let text = fs::read_to_string(self.ref_path(revision)).ok()?;
        let commit = text.trim().to_string();
        (!commit.is_empty()).then_some(commit)
    }

    /// Creates the folders a download needs; a clear error when the cache is not writable.
    pub fn prepare(&self, etag: &str) -> Result<()> {
        for dir in [
            self.dir().join("blobs"),
            self.lock(etag)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        ] {
            fs::create_dir_all(&dir).map_err(|e| HubError::io("create", &dir, e))?;
        }
        Ok(())
    }

    /// Links `file` at `commit` to the blob `etag` (a relative symlink, as `huggingface_hub`
    /// makes; a copy where symlinks are not possible). Replaces an older link.
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf> {
        let pointer = self.pointer(commit, file);
        let parent = pointer.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| HubError::io("create", parent, e))?;
        let blob = self.blob(etag);
        let tmp = parent.join(format!(
            ".{}.{}.tmp",
            pointer
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            std::process::id()
        ));
        let _ = fs::remove_file(&tmp);
        make_link(&blob, &tmp, parent).map_err(|e| HubError::io("link", &tmp, e))?;
        fs::rename(&tmp, &pointer).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            HubError::io("rename", &pointer, e)
        })?;
        Ok(pointer)
    }

    /// Records that `revision` points at `commit`.
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if revision == commit {
            return Ok(());
        }
        let path = self.ref_path(revision);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| HubError::io("create", parent, e))?;
        }
        fs::write(&path, commit).map_err(|e| HubError::io("write", &path, e))
    }

    /// The files (repository paths) of the snapshot `commit`, sorted.
    pub fn snapshot_files(&self, commit: &str) -> Vec<String> {
        let root = self.dir().join("snapshots").join(commit);
        let mut out = Vec::new();
        let mut stack = vec![(root.clone(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let path = entry.path();
                let rel = format!("{prefix}{name}");
                if path.is_dir() {
                    if prefix.matches('/').count() < 8 {
                        stack.push((path, format!("{rel}/")));
                    }
                } else if path.exists() {
                    out.push(rel);
                }
            }
        }
        out.sort();
        out
    }
}

#[cfg(unix)]
fn make_link(blob: &Path, link: &Path, link_dir: &Path) -> io::Result<()> {
    let target = relative_to(blob, link_dir);
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn make_link(blob: &Path, link: &Path, _link_dir: &Path) -> io::Result<()> {
    fs::copy(blob, link).map(|_| ())
}

/// `target` relative to the folder `from` (both inside the same cache).
fn relative_to(target: &Path, from: &Path) -> PathBuf {
    let t: Vec<_> = target.components().collect();
    let f: Vec<_> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// A model found in the cache without asking the hub (after a pull: `shimmy-host serve
/// --model org/name:Q4_K_M` works offline).
pub fn find_local(hub: &Path, reference: &crate::ModelRef) -> Option<PathBuf> {
    let cache = RepoCache::new(hub, &reference.repo);
    let commit = cache
        .read_ref(&reference.revision)
        .unwrap_or_else(|| reference.revision.clone());
    let files = cache.snapshot_files(&commit);
    let model = select::select(&reference.repo, &files, &reference.selector).ok()?;
    let first = cache.pointer(&commit, model.first());
    first.exists().then_some(first)
}

/// Whether `file` is a snapshot file of a model repository in the hub cache `hub`
/// (`HUB/models--ORG--NAME/snapshots/COMMIT/...`).
pub fn is_in_cache(hub: &Path, file: &Path) -> bool {
    let hub_c = fs::canonicalize(hub).unwrap_or_else(|_| hub.to_path_buf());
    let parent = file.parent().unwrap_or(Path::new("."));
    let parent_c = fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    parent_c.strip_prefix(&hub_c).is_ok_and(|rel| {
        let parts: Vec<_> = rel.components().collect();
        parts.len() >= 3
            && parts[0]
                .as_os_str()
                .to_string_lossy()
                .starts_with("models--")
            && parts[1].as_os_str() == "snapshots"
    })
}

/// What [`delete_model`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Snapshot links (or files) removed.
    pub files: Vec<PathBuf>,
    /// Bytes of blobs freed (blobs another snapshot still links to are kept).
    pub freed_bytes: u64,
}

/// Deletes the model whose first file is `first` (a path inside the hub cache `hub`): every
/// shard of it in its snapshot, and the blobs no other snapshot file uses. Files outside the
/// hub cache are refused.
pub fn delete_model(hub: &Path, first: &Path) -> Result<Deleted> {
    if !is_in_cache(hub, first) {
        return Err(HubError::NotInCache(format!(
            "{} is not in the Hugging Face cache {}; shimmy-host only deletes models it can pull (delete other files yourself)",
            first.display(),
            hub.display()
        )));
    }
    let hub_c = fs::canonicalize(hub).unwrap_or_else(|_| hub.to_path_buf());
    let parent = first.parent().unwrap_or(Path::new("."));
    let parent_c = fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    let name = first
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files = vec![first.to_path_buf()];
    if let Some(shard) = shimmy_core::discovery::parse_shard(&name) {
        files = (1..=shard.total)
            .map(|k| parent.join(shard.sibling(k)))
            .filter(|p| p.symlink_metadata().is_ok())
            .collect();
    }
    // The repository folder: HUB/models--X--Y (two levels above the snapshot's commit folder
    // when the file sits at the top of the snapshot; deeper files are found by walking up).
    let repo_dir = parent_c
        .ancestors()
        .find(|a| a.parent() == Some(hub_c.as_path()))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| parent_c.clone());
    let mut deleted = Deleted::default();
    let mut blobs = Vec::new();
    for f in &files {
        if let Ok(target) = fs::canonicalize(f) {
            if target.starts_with(repo_dir.join("blobs")) {
                blobs.push(target);
            }
        }
        fs::remove_file(f).map_err(|e| HubError::io("delete", f, e))?;
        deleted.files.push(f.clone());
    }
    let still_used = linked_blobs(&repo_dir.join("snapshots"));
    for blob in blobs {
        if !still_used.contains(&blob) {
            let size = fs::metadata(&blob).map_or(0, |m| m.len());
            if fs::remove_file(&blob).is_ok() {
                deleted.freed_bytes += size;
            }
        }
    }
    Ok(deleted)
}

/// The blobs the snapshot links under `snapshots` point at (canonical paths).
fn linked_blobs(snapshots: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![snapshots.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) => {
                    if let Ok(target) = fs::canonicalize(&path) {
                        out.push(target);
                    }
                }
                Err(_) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_huggingface_hub() {
        let c = RepoCache::new(Path::new("/hub"), "Org/Name");
        assert_eq!(c.dir(), Path::new("/hub/models--Org--Name"));
        assert_eq!(c.blob("abc"), Path::new("/hub/models--Org--Name/blobs/abc"));
        assert_eq!(
            c.incomplete("abc"),
            Path::new("/hub/models--Org--Name/blobs/abc.incomplete")
        );
        assert_eq!(
            c.lock("abc"),
            Path::new("/hub/.locks/models--Org--Name/abc.lock")
        );
        assert_eq!(
            c.pointer("c0ffee", "sub/m.gguf"),
            Path::new("/hub/models--Org--Name/snapshots/c0ffee/sub/m.gguf")
        );
        assert_eq!(
            relative_to(
                Path::new("/hub/r/blobs/abc"),
                Path::new("/hub/r/snapshots/c0ffee/sub")
            ),
            Path::new("../../../blobs/abc")
        );
    }

    #[cfg(unix)]
    #[test]
    fn link_find_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let hub = dir.path();
        let c = RepoCache::new(hub, "o/r");
        c.prepare("e1").unwrap();
        fs::write(c.blob("e1"), b"one").unwrap();
        fs::write(c.blob("e2"), b"two").unwrap();
        c.link("c1", "m-00001-of-00002.gguf", "e1").unwrap();
        c.link("c1", "m-00002-of-00002.gguf", "e2").unwrap();
        c.link("c0", "old-00001-of-00002.gguf", "e2").unwrap();
        c.write_ref("main", "c1").unwrap();
        let link = fs::read_link(c.pointer("c1", "m-00001-of-00002.gguf")).unwrap();
        assert_eq!(link, Path::new("../../blobs/e1"));
        let r = crate::ModelRef::parse("o/r").unwrap();
        let first = find_local(hub, &r).unwrap();
        assert_eq!(first, c.pointer("c1", "m-00001-of-00002.gguf"));

        let d = delete_model(hub, &first).unwrap();
        assert_eq!(d.files.len(), 2);
        assert_eq!(d.freed_bytes, 3, "e2 is still linked from c0");
        assert!(!c.blob("e1").exists() && c.blob("e2").exists());
        assert!(find_local(hub, &r).is_none());

        let outside = dir.path().join("x.gguf");
        fs::write(&outside, b"x").unwrap();
        let e = delete_model(&hub.join("nothing"), &outside).unwrap_err();
        assert!(
            e.to_string().contains("not in the Hugging Face cache"),
            "{e}"
        );
    }
}
