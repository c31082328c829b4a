//! On-disk cache of compiled components (`<dir>/<key>.cwasm`).
//!
//! `key` is the SHA-256 of the wasm bytes, the wasmtime version, wasmtime's engine
//! compatibility hash (target, CPU features, tunables, wasm features) and this crate's cache
//! format version, so a change of any of them is a miss, never a bad load.
//!
//! `Component::deserialize` runs native code from the file, so only files this cache wrote
//! are loaded: each file starts with a header holding an HMAC-SHA256 of (key, payload) made
//! with a random secret kept in `<dir>/.key` (mode 0600, directory mode 0700). A file that is
//! truncated, corrupt, written by someone else or for another key fails the check (or
//! wasmtime's own header check) and is recompiled and overwritten. Writes go through a temp
//! file and a rename, so a crash never leaves a half-written entry under the real name.

use std::fs;
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Version of wasmtime this crate is built against (kept in step with the workspace pin).
pub(crate) const WASMTIME_VERSION: &str = "48.0.8";
/// Bumped when the file format or the engine settings of this crate change.
const FORMAT: &[u8; 8] = b"SHMCW001";
const HEADER_LEN: usize = 8 + 32;

/// Counters of cache activity, see [`PluginRuntime::stats`](crate::PluginRuntime::stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub compiled: AtomicU64,
    pub hits: AtomicU64,
    pub rejected: AtomicU64,
    pub write_errors: AtomicU64,
}

/// The compilation cache of one runtime.
pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    secret: [u8; 32],
    engine_fingerprint: [u8; 32],
    pub counters: Counters,
}

/// Feeds `Hash` output into SHA-256.
struct ShaHasher(Sha256);
impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    /// A cache in `dir` (created 0700 if missing), or no cache when `dir` is `None` or cannot
    /// be used (a warning is logged and every load compiles).
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> CompileCache {
        let mut h = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
        h.0.update(WASMTIME_VERSION.as_bytes());
        h.0.update(FORMAT);
        let engine_fingerprint: [u8; 32] = h.0.finalize().into();
        let mut cache = CompileCache {
            dir: None,
            secret: [0; 32],
            engine_fingerprint,
            counters: Counters::default(),
        };
        if let Some(dir) = dir {
            match prepare_dir(&dir) {
                Ok(secret) => {
                    cache.dir = Some(dir);
                    cache.secret = secret;
                }
                Err(e) => tracing::warn!(
                    "plugin cache disabled: {}: {e}; plugins are compiled at every start",
                    dir.display()
                ),
            }
        }
        cache
    }

    /// The cache directory in use, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The cache key of `wasm` (hex SHA-256).
    pub fn key(&self, wasm: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(wasm);
        h.update(self.engine_fingerprint);
        format!("{:x}", h.finalize())
    }

    /// Loads the compiled form of `wasm` from the cache, or compiles it (and stores it).
    /// `label` names the plugin in log lines.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        label: &str,
    ) -> wasmtime::Result<Component> {
        let Some(dir) = &self.dir else {
            self.counters.compiled.fetch_add(1, Ordering::Relaxed);
            return Component::new(engine, wasm);
        };
        let key = self.key(wasm);
        let path = dir.join(format!("{key}.cwasm"));
        match fs::read(&path) {
            Ok(bytes) => match self.check(&key, &bytes) {
                Some(payload) => {
                    // SAFETY: the payload carries our HMAC for this key, so this cache wrote
                    // it from `Engine::precompile_component` of these wasm bytes; wasmtime
                    // additionally checks its own header against this engine.
                    match unsafe { Component::deserialize(engine, payload) } {
                        Ok(c) => {
                            self.counters.hits.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(plugin = label, path = %path.display(), "plugin cache hit");
                            return Ok(c);
                        }
                        Err(e) => {
                            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                plugin = label,
                                "stale plugin cache entry {}: {e}; recompiling",
                                path.display()
                            );
                        }
                    }
                }
                None => {
                    self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        plugin = label,
                        "plugin cache entry {} is corrupt or was not written by this cache; recompiling",
                        path.display()
                    );
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(plugin = label, "{}: {e}; recompiling", path.display()),
        }
        self.counters.compiled.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(plugin = label, "compiling plugin");
        let compiled = engine.precompile_component(wasm)?;
        if let Err(e) = self.store(&key, &path, &compiled) {
            self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                plugin = label,
                "cannot write plugin cache {}: {e}",
                path.display()
            );
        }
        // SAFETY: `compiled` was just produced by `precompile_component` on this engine.
        unsafe { Component::deserialize(engine, &compiled) }
    }

    /// Returns the payload if `bytes` is a well-formed entry for `key` made by this cache.
    fn check<'a>(&self, key: &str, bytes: &'a [u8]) -> Option<&'a [u8]> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != FORMAT {
            return None;
        }
        let (mac, payload) = bytes[8..].split_at(32);
        // `verify_slice` compares in constant time.
        keyed(&self.secret, &[key.as_bytes(), payload])
            .verify_slice(mac)
            .is_ok()
            .then_some(payload)
    }

    fn store(&self, key: &str, path: &Path, payload: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().expect("cache path has a parent");
        let tmp = dir.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            rand::random::<u32>()
        ));
        let result = (|| {
            let mut f = create_private(&tmp)?;
            f.write_all(FORMAT)?;
            f.write_all(
                &keyed(&self.secret, &[key.as_bytes(), payload])
                    .finalize()
                    .into_bytes(),
            )?;
            f.write_all(payload)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Creates the directory (0700) and loads or creates its secret key.
fn prepare_dir(dir: &Path) -> std::io::Result<[u8; 32]> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    let key_path = dir.join(".key");
    for _ in 0..3 {
        match fs::read(&key_path) {
            Ok(k) if k.len() == 32 => {
                let mut out = [0u8; 32];
                out.copy_from_slice(&k);
                return Ok(out);
            }
            Ok(_) => {
                // Malformed key: replace it (every existing entry becomes a miss).
                fs::remove_file(&key_path)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let secret: [u8; 32] = rand::random();
        let tmp = dir.join(format!(".key.{}.tmp", std::process::id()));
        let mut f = create_private(&tmp)?;
        f.write_all(&secret)?;
        f.sync_all()?;
        drop(f);
        // hard_link fails if another process created the key meanwhile: then use theirs.
        let linked = fs::hard_link(&tmp, &key_path);
        let _ = fs::remove_file(&tmp);
        if linked.is_ok() {
            return Ok(secret);
        }
    }
    Err(std::io::Error::other(
        "cannot create the cache key file .key",
    ))
}

fn create_private(path: &Path) -> std::io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// HMAC-SHA256 (RFC 2104) keyed with `key` over `parts`, each framed by its length (so
/// `["k", "payload"]` and `["kp", "ayload"]` differ).
fn keyed(key: &[u8; 32], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key size");
    for p in parts {
        mac.update(&(p.len() as u64).to_le_bytes());
        mac.update(p);
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &[u8; 32], parts: &[&[u8]]) -> Vec<u8> {
        keyed(key, parts).finalize().into_bytes().to_vec()
    }

    #[test]
    fn hmac_matches_rfc4231_vectors() {
        // RFC 4231 test cases 1, 2 and 6 (a key longer than the block), HMAC-SHA-256.
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, expected) in cases {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            mac.update(data);
            let got = format!("{:x}", mac.finalize().into_bytes());
            assert_eq!(got, expected);
        }
        // The cache's framing: same inputs give the same tag, others do not, and a tag
        // verifies only against its own inputs.
        let a = tag(&[1; 32], &[b"k", b"payload"]);
        assert_eq!(a, tag(&[1; 32], &[b"k", b"payload"]));
        assert_ne!(a, tag(&[2; 32], &[b"k", b"payload"]));
        assert_ne!(a, tag(&[1; 32], &[b"kp", b"ayload"]));
        assert!(keyed(&[1; 32], &[b"k", b"payload"])
            .verify_slice(&a)
            .is_ok());
        assert!(keyed(&[1; 32], &[b"k", b"payloaD"])
            .verify_slice(&a)
            .is_err());
    }

    #[test]
    fn secret_is_created_once() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("c");
        let k1 = prepare_dir(&dir).unwrap();
        let k2 = prepare_dir(&dir).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = fs::metadata(dir.join(".key")).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o600);
        }
    }
}
