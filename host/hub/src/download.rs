//! Downloading one blob: into `blobs/ETAG.incomplete`, resumed with HTTP Range after an
//! interruption, checked against the size and the ETag the hub announced (sha256 for LFS
//! files, git blob sha1 for others), then renamed to `blobs/ETAG`. A corrupt download is
//! deleted; an interrupted one is kept to be resumed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::cache::RepoCache;
use crate::client::{FileMeta, HubClient};
use crate::error::{HubError, Result};

/// How many times a broken connection is resumed within one pull before giving up.
pub const MAX_RESUMES: u32 = 5;

/// Size of one read from the network (and of each progress step at most).
const CHUNK: usize = 1 << 20;

/// What a download reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Bytes on disk so far (resumed ones included) out of `total`.
    Bytes {
        /// Done.
        completed: u64,
        /// The file's size.
        total: u64,
    },
    /// The connection broke after `completed` bytes; resuming (attempt `attempt`).
    Resuming {
        /// Bytes kept.
        completed: u64,
        /// 1, 2, ...
        attempt: u32,
    },
    /// Every byte is there; the checksum is being checked.
    Verifying,
}

/// How a file download went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The blob was already in the cache (nothing downloaded).
    Cached,
    /// Downloaded; `resumed_from` bytes were already on disk.
    Downloaded {
        /// Bytes of an earlier, interrupted download that were kept.
        resumed_from: u64,
    },
}

/// Which checksum an ETag is.
enum Expected {
    Sha256(String),
    GitSha1(String),
    SizeOnly,
}

fn expected(etag: &str) -> Expected {
    let hex = etag.bytes().all(|b| b.is_ascii_hexdigit());
    match etag.len() {
        64 if hex => Expected::Sha256(etag.to_ascii_lowercase()),
        40 if hex => Expected::GitSha1(etag.to_ascii_lowercase()),
        _ => Expected::SizeOnly,
    }
}

/// An exclusive lock on a blob's lock file (the path `huggingface_hub` locks), held while
/// it downloads so two pulls never write one file.
struct BlobLock {
    _file: File,
}

impl BlobLock {
    fn take(path: &Path, on_wait: &mut dyn FnMut()) -> Result<BlobLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| HubError::io("create", path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let fd = file.as_raw_fd();
            // SAFETY: flock on a descriptor we own; released when the file is closed.
            if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                on_wait();
                // SAFETY: as above.
                if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
                    return Err(HubError::io("lock", path, io::Error::last_os_error()));
                }
            }
        }
        #[cfg(not(unix))]
        let _ = on_wait;
        Ok(BlobLock { _file: file })
    }
}

/// Free bytes on the file system holding `dir` (`None` when unknown).
fn free_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: statvfs fills the struct we pass; the path is a valid C string.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return None;
        }
        Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// One file to download.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `org/name`.
    pub repo: &'a str,
    /// The commit to download it at.
    pub commit: &'a str,
    /// Its path in the repository.
    pub file: &'a str,
    /// What the hub announced: ETag and size.
    pub meta: &'a FileMeta,
}

/// Downloads `target` into `cache`'s blob `meta.etag`, unless it is there already.
/// `progress` is told how it goes and returns `false` to stop (the partial file is kept
/// for the next pull); `on_wait` is called when another pull holds the file's lock.
pub fn fetch_blob(
    client: &HubClient,
    cache: &RepoCache,
    target: Target<'_>,
    progress: &mut dyn FnMut(Step) -> bool,
    on_wait: &mut dyn FnMut(),
) -> Result<Fetched> {
    let Target { file, meta, .. } = target;
    let blob = cache.blob(&meta.etag);
    if fs::metadata(&blob).is_ok_and(|m| m.len() == meta.size) {
        return Ok(Fetched::Cached);
    }
    cache.prepare(&meta.etag)?;
    let _lock = BlobLock::take(&cache.lock(&meta.etag), on_wait)?;
    // Another pull may have finished it while we waited.
    if fs::metadata(&blob).is_ok_and(|m| m.len() == meta.size) {
        return Ok(Fetched::Cached);
    }
    let partial = cache.incomplete(&meta.etag);
    let mut have = fs::metadata(&partial).map_or(0, |m| m.len());
    if have > meta.size {
        fs::remove_file(&partial).map_err(|e| HubError::io("delete", &partial, e))?;
        have = 0;
    }
    let resumed_from = have;
    let blobs_dir = blob.parent().unwrap_or(Path::new("."));
    if let Some(free) = free_space(blobs_dir) {
        let needed = meta.size - have;
        if free < needed {
            return Err(HubError::NoSpace {
                dir: blobs_dir.to_path_buf(),
                file: file.to_string(),
                needed,
                available: free,
            });
        }
    }
    let mut attempt = 0;
    loop {
        match fetch_range(client, target, &partial, &mut have, progress) {
            Ok(()) => break,
            Err(HubError::Network { url, reason }) if attempt < MAX_RESUMES => {
                attempt += 1;
                tracing::info!(%url, %reason, attempt, "download broke; resuming");
                if !progress(Step::Resuming {
                    completed: have,
                    attempt,
                }) {
                    return Err(HubError::Cancelled);
                }
                std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)));
            }
            Err(e) => return Err(e),
        }
    }
    if !progress(Step::Verifying) {
        return Err(HubError::Cancelled);
    }
    if let Err(e) = verify(&partial, file, meta) {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, &blob).map_err(|e| HubError::io("rename", &partial, e))?;
    Ok(Fetched::Downloaded { resumed_from })
}

/// Appends the bytes from `*have` on to `partial`; `*have` follows what is on disk.
fn fetch_range(
    client: &HubClient,
    target: Target<'_>,
    partial: &Path,
    have: &mut u64,
    progress: &mut dyn FnMut(Step) -> bool,
) -> Result<()> {
    let Target {
        repo,
        commit,
        file,
        meta,
    } = target;
    if *have == meta.size {
        return Ok(());
    }
    let (mut response, ranged) = client.open(repo, commit, file, *have)?;
    let url = client.resolve_url(repo, commit, file);
    let mut out = if ranged {
        OpenOptions::new().append(true).open(partial)
    } else {
        *have = 0;
        File::create(partial)
    }
    .map_err(|e| HubError::io("write", partial, e))?;
    if !progress(Step::Bytes {
        completed: *have,
        total: meta.size,
    }) {
        return Err(HubError::Cancelled);
    }
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.flush().map_err(|e| HubError::io("write", partial, e))?;
                return Err(HubError::Network {
                    url,
                    reason: format!(
                        "the connection broke after {} of {} bytes: {e}",
                        *have, meta.size
                    ),
                });
            }
        };
        if *have + n as u64 > meta.size {
            drop(out);
            let _ = fs::remove_file(partial);
            return Err(HubError::Corrupt {
                file: file.to_string(),
                reason: format!(
                    "the hub sent more than the {} bytes it announced",
                    meta.size
                ),
            });
        }
        out.write_all(&buf[..n])
            .map_err(|e| HubError::io("write", partial, e))?;
        *have += n as u64;
        if !progress(Step::Bytes {
            completed: *have,
            total: meta.size,
        }) {
            let _ = out.flush();
            return Err(HubError::Cancelled);
        }
    }
    out.flush().map_err(|e| HubError::io("write", partial, e))?;
    out.sync_all()
        .map_err(|e| HubError::io("write", partial, e))?;
    if *have < meta.size {
        return Err(HubError::Network {
            url,
            reason: format!(
                "the connection closed after {} of {} bytes",
                *have, meta.size
            ),
        });
    }
    Ok(())
}

/// Checks the size and checksum of a finished download.
fn verify(path: &Path, file: &str, meta: &FileMeta) -> Result<()> {
    let size = fs::metadata(path)
        .map_err(|e| HubError::io("read", path, e))?
        .len();
    if size != meta.size {
        return Err(HubError::Corrupt {
            file: file.to_string(),
            reason: format!("{size} bytes, the hub announced {}", meta.size),
        });
    }
    let (got, want, what) = match expected(&meta.etag) {
        Expected::SizeOnly => return Ok(()),
        Expected::Sha256(want) => {
            let mut h = Sha256::new();
            hash_file(path, &mut |b| h.update(b))?;
            (hex(&h.finalize()), want, "sha256")
        }
        Expected::GitSha1(want) => {
            let mut h = Sha1::new();
            h.update(format!("blob {size}\0").as_bytes());
            hash_file(path, &mut |b| h.update(b))?;
            (hex(&h.finalize()), want, "git sha1")
        }
    };
    if got != want {
        return Err(HubError::Corrupt {
            file: file.to_string(),
            reason: format!("{what} {got}, the hub announced {want}"),
        });
    }
    Ok(())
}

fn hash_file(path: &Path, update: &mut dyn FnMut(&[u8])) -> Result<()> {
    let mut f = File::open(path).map_err(|e| HubError::io("read", path, e))?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| HubError::io("read", path, e))?;
        if n == 0 {
            return Ok(());
        }
        update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_checks_size_and_both_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"hello\n").unwrap();
        let meta = |etag: &str, size| FileMeta {
            etag: etag.into(),
            size,
            commit: None,
        };
        let sha256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        let git = "ce013625030ba8dba906f756967f9e9ca394464a"; // git hash-object
        verify(&p, "f", &meta(sha256, 6)).unwrap();
        verify(&p, "f", &meta(git, 6)).unwrap();
        verify(&p, "f", &meta("opaque-etag", 6)).unwrap();
        let e = verify(&p, "f", &meta(sha256, 7)).unwrap_err().to_string();
        assert!(e.contains("6 bytes, the hub announced 7"), "{e}");
        let bad = "0".repeat(64);
        let e = verify(&p, "f", &meta(&bad, 6)).unwrap_err().to_string();
        assert!(e.contains("sha256") && e.contains("corrupt"), "{e}");
    }
}
