//! The disk cache of compiled components: hit on the second start (no compilation), corrupt
//! or foreign entries refused and rewritten.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use shimmy_plugins::{Grants, PluginRegistry, PluginRuntime, RuntimeConfig};

const NAMES: &[&str] = &["chatml", "hello-template"];

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    v.sort();
    v
}

fn start(dir: &Path) -> (PluginRuntime, PluginRegistry) {
    let rt = runtime_in(dir, 2000, Grants::none());
    let reg = registry(&rt, NAMES);
    (rt, reg)
}

async fn works(reg: &PluginRegistry) {
    for n in NAMES {
        reg.render_template(n, chat(4)).await.unwrap();
    }
}

#[tokio::test]
async fn second_start_compiles_nothing() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");

    let (rt, reg) = start(&dir);
    let s = rt.stats();
    assert_eq!(
        (s.compiled, s.cache_hits, s.cache_rejected),
        (2, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.cache_dir.as_deref(), Some(dir.as_path()));
    assert_eq!(entries(&dir).len(), 2);
    works(&reg).await;
    drop((rt, reg));

    let (rt, reg) = start(&dir);
    let s = rt.stats();
    assert_eq!(
        (s.compiled, s.cache_hits, s.cache_rejected),
        (0, 2, 0),
        "{s:?}"
    );
    works(&reg).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[tokio::test]
async fn corrupt_or_foreign_entries_are_recompiled() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    drop(start(&dir));
    let files = entries(&dir);
    assert_eq!(files.len(), 2);

    // 1. Corrupt one entry (flip bytes in the middle of the compiled code).
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&files[0], &bytes).unwrap();
    // 2. Truncate the other one.
    let len = std::fs::metadata(&files[1]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .unwrap()
        .set_len(len / 3)
        .unwrap();

    let (rt, reg) = start(&dir);
    let s = rt.stats();
    assert_eq!(
        (s.compiled, s.cache_hits, s.cache_rejected),
        (2, 0, 2),
        "{s:?}"
    );
    works(&reg).await;
    drop((rt, reg));

    // Rewritten: the next start hits again.
    let (rt, _reg) = start(&dir);
    assert_eq!(rt.stats().cache_hits, 2);

    // 3. A file not written by this cache (another cache's key): refused.
    std::fs::remove_file(dir.join(".key")).unwrap();
    let (rt, reg) = start(&dir);
    let s = rt.stats();
    assert_eq!(
        (s.compiled, s.cache_hits, s.cache_rejected),
        (2, 0, 2),
        "{s:?}"
    );
    works(&reg).await;

    // 4. A raw wasmtime artifact without our header: refused too.
    let f = &entries(&dir)[0];
    let raw = rt
        .engine()
        .precompile_component(&std::fs::read(built("chatml").0).unwrap())
        .unwrap();
    std::fs::write(f, raw).unwrap();
    let (rt, reg) = start(&dir);
    let s = rt.stats();
    assert_eq!(
        (s.compiled, s.cache_hits, s.cache_rejected),
        (1, 1, 1),
        "{s:?}"
    );
    works(&reg).await;
}

#[test]
fn cache_can_be_disabled() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let rt = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(dir.clone()),
        disable_cache: true,
        ..Default::default()
    })
    .unwrap();
    let _reg = registry(&rt, &["hello-template"]);
    assert_eq!(rt.stats().compiled, 1);
    assert_eq!(rt.stats().cache_dir, None);
    assert!(!dir.exists());
}

#[test]
fn unusable_cache_dir_still_loads() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    // A cache "directory" below a regular file cannot be created: plugins still load.
    let rt = runtime_in(&file.join("cache"), 2000, Grants::none());
    let _reg = registry(&rt, &["hello-template"]);
    assert_eq!(rt.stats().compiled, 1);
    assert_eq!(rt.stats().cache_dir, None);
}
