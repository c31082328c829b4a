//! Discovery tests on temporary directory trees; no environment variable is read.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::Error;

struct Env {
    _dir: tempfile::TempDir,
    cwd: PathBuf,
    home: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("work");
        let home = dir.path().join("home");
        fs::create_dir_all(&cwd).unwrap();
        fs::create_dir_all(&home).unwrap();
        Env {
            _dir: dir,
            cwd,
            home,
        }
    }

    fn cfg(&self) -> DiscoveryConfig {
        DiscoveryConfig {
            cwd: self.cwd.clone(),
            home: Some(self.home.clone()),
            model_dirs: Vec::new(),
            base_gguf: None,
            ollama_models: None,
            hf_hub_cache: None,
        }
    }

    fn models(&self) -> PathBuf {
        self.cwd.join("models")
    }

    fn root(&self) -> &Path {
        self._dir.path()
    }
}

/// Writes a minimal GGUF header (magic, version 3, no tensors, no metadata) plus `tag`.
fn gguf(path: &Path, tag: u8) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 16]);
    bytes.extend_from_slice(&[tag; 8]);
    fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn write(path: &Path, content: &[u8]) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    path.to_path_buf()
}

fn names(report: &DiscoveryReport) -> Vec<&str> {
    report.models.iter().map(|m| m.name.as_str()).collect()
}

fn skip_reason<'a>(report: &'a DiscoveryReport, file: &str) -> &'a str {
    report
        .skipped
        .iter()
        .find(|s| s.path.file_name().is_some_and(|n| n == file))
        .map(|s| s.reason.as_str())
        .unwrap_or_else(|| panic!("{file} not skipped: {:?}", report.skipped))
}

fn location<'a>(report: &'a DiscoveryReport, path: &Path) -> &'a SearchedLocation {
    report
        .locations
        .iter()
        .find(|l| l.path == path)
        .unwrap_or_else(|| panic!("{} not searched: {:?}", path.display(), report.locations))
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) {
    fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

// ---- configuration ----------------------------------------------------------------------

#[test]
fn config_from_lookup() {
    let vars = |key: &str| -> Option<OsString> {
        match key {
            "HOME" => Some("/home/u".into()),
            "SHIMMY_MODEL_PATHS" => Some(" /b ; ~/c,,rel ".into()),
            "SHIMMY_BASE_GGUF" => Some("~/base.gguf".into()),
            "OLLAMA_MODELS" => Some("".into()),
            _ => None,
        }
    };
    let cfg = DiscoveryConfig::from_lookup(PathBuf::from("/w"), Some("/a;/b"), vars);
    assert_eq!(cfg.cwd, PathBuf::from("/w"));
    assert_eq!(cfg.home, Some(PathBuf::from("/home/u")));
    assert_eq!(
        cfg.model_dirs,
        ["/a", "/b", "/home/u/c", "/w/rel"]
            .map(PathBuf::from)
            .to_vec()
    );
    assert_eq!(cfg.base_gguf, Some(PathBuf::from("/home/u/base.gguf")));
    assert_eq!(cfg.ollama_models, None, "empty means unset");

    assert_eq!(
        cfg.hub_cache(),
        Some(PathBuf::from("/home/u/.cache/huggingface/hub"))
    );

    let bare = DiscoveryConfig::from_lookup(PathBuf::from("/w"), None, |_| None);
    assert_eq!(bare.home, None);
    assert_eq!(bare.hub_cache(), None);
    assert!(bare.model_dirs.is_empty());
    assert_eq!(split_path_list("a;b,c; ;"), vec!["a", "b", "c"]);
}

#[test]
fn hub_cache_is_found_as_huggingface_hub_finds_it() {
    fn with(pairs: &[(&str, &str)]) -> PathBuf {
        let cfg = DiscoveryConfig::from_lookup(PathBuf::from("/w"), None, |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| OsString::from(*v))
        });
        cfg.hub_cache().unwrap()
    }
    let home = ("HOME", "/home/u");
    assert_eq!(
        with(&[("HOME", "/home/u")]),
        PathBuf::from("/home/u/.cache/huggingface/hub")
    );
    assert_eq!(
        with(&[home, ("XDG_CACHE_HOME", "/xdg")]),
        PathBuf::from("/xdg/huggingface/hub")
    );
    assert_eq!(
        with(&[home, ("XDG_CACHE_HOME", "/xdg"), ("HF_HOME", "~/hf")]),
        PathBuf::from("/home/u/hf/hub")
    );
    assert_eq!(
        with(&[home, ("HF_HOME", "/hf"), ("HUGGINGFACE_HUB_CACHE", "old")]),
        PathBuf::from("/w/old")
    );
    assert_eq!(
        with(&[
            home,
            ("HF_HOME", "/hf"),
            ("HUGGINGFACE_HUB_CACHE", "/old"),
            ("HF_HUB_CACHE", "/new")
        ]),
        PathBuf::from("/new")
    );
}

#[test]
fn split_model_with_a_missing_shard_is_skipped() {
    let env = Env::new();
    let m = env.models();
    gguf(&m.join("part-00001-of-00003.gguf"), 1);
    gguf(&m.join("part-00003-of-00003.gguf"), 3);
    let report = discover(&env.cfg());
    assert!(report.models.is_empty(), "{:?}", report.models);
    let reason = skip_reason(&report, "part-00001-of-00003.gguf");
    assert!(
        reason.contains("1 of its 3 shards missing") && reason.contains("part-00002-of-00003.gguf"),
        "{reason}"
    );
}

#[test]
fn from_env_reads_the_process() {
    // Only checks it runs and fills cwd; the values depend on the machine.
    let cfg = DiscoveryConfig::from_env(Some("/nonexistent-dir-for-test"));
    assert!(cfg
        .model_dirs
        .contains(&PathBuf::from("/nonexistent-dir-for-test")));
    assert!(!cfg.cwd.as_os_str().is_empty());
}

// ---- plain directories ------------------------------------------------------------------

#[test]
fn models_dir_names_and_sizes() {
    let env = Env::new();
    gguf(&env.models().join("Llama-3.2-1B-Q4_K_M.gguf"), 1);
    gguf(&env.models().join("org/repo/Qwen3.GGUF"), 2);
    write(&env.models().join("README.md"), b"hello");
    let report = discover(&env.cfg());
    assert_eq!(names(&report), vec!["llama-3.2-1b-q4_k_m", "qwen3"]);
    let m = &report.models[0];
    assert_eq!(m.source, Source::ModelsDir);
    assert_eq!(m.size_bytes, 32);
    assert_eq!(m.renamed_from, None);
    assert!(
        report.skipped.is_empty(),
        "README is passed over silently: {:?}",
        report.skipped
    );
    assert_eq!(
        location(&report, &env.models()).outcome,
        LocationOutcome::Found(2)
    );
}

#[test]
fn skips_with_reasons() {
    let env = Env::new();
    let m = env.models();
    write(&m.join("model.safetensors"), b"{}");
    write(&m.join("pytorch_model.bin"), b"x");
    write(
        &m.join("fake.gguf"),
        b"<html>404 not found</html>...........",
    );
    gguf(&m.join("big-00001-of-00003.gguf"), 1);
    gguf(&m.join("big-00002-of-00003.gguf"), 2);
    gguf(&m.join("big-00003-of-00003.gguf"), 3);
    gguf(&m.join("mmproj-model-f16.gguf"), 4);
    let mut v1 = b"GGUF".to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&[0; 24]);
    write(&m.join("old.gguf"), &v1);
    let report = discover(&env.cfg());

    assert!(skip_reason(&report, "model.safetensors").contains("not GGUF"));
    assert!(skip_reason(&report, "pytorch_model.bin").contains("not GGUF"));
    assert!(skip_reason(&report, "fake.gguf").contains("not a GGUF file"));
    assert_eq!(
        skip_reason(&report, "big-00002-of-00003.gguf"),
        "shard 2 of 3; load the first shard"
    );
    assert_eq!(
        skip_reason(&report, "big-00003-of-00003.gguf"),
        "shard 3 of 3; load the first shard"
    );
    assert_eq!(
        skip_reason(&report, "mmproj-model-f16.gguf"),
        "multimodal projector, not a model"
    );
    assert!(skip_reason(&report, "old.gguf").contains("version 1"));
    // The first shard is the model, named without the shard suffix, sized with all shards.
    assert_eq!(names(&report), vec!["big"]);
    assert_eq!(report.models[0].size_bytes, 3 * 32);
    assert!(report.models[0].path.ends_with("big-00001-of-00003.gguf"));
}

#[test]
fn depth_limit() {
    let env = Env::new();
    gguf(&env.models().join("a/b/c/d/ok.gguf"), 1);
    gguf(&env.models().join("a/b/c/d/e/too-deep.gguf"), 2);
    gguf(&env.models().join(".git/hidden.gguf"), 3);
    let report = discover(&env.cfg());
    assert_eq!(names(&report), vec!["ok"]);
}

#[cfg(unix)]
#[test]
fn symlink_loops_and_duplicate_paths() {
    let env = Env::new();
    let file = gguf(&env.models().join("tiny.gguf"), 1);
    symlink(&env.models(), &env.models().join("loop"));
    symlink(&file, &env.models().join("alias.gguf"));
    symlink(
        &env.root().join("nowhere.gguf"),
        &env.models().join("dangling.gguf"),
    );
    let mut cfg = env.cfg();
    cfg.model_dirs = vec![env.models()]; // the same directory twice
    let report = discover(&cfg);
    assert_eq!(names(&report), vec!["alias"], "one file, listed once");
    assert_eq!(report.models[0].source, Source::ModelDirs);
    assert!(skip_reason(&report, "dangling.gguf").contains("broken symlink"));
}

#[test]
fn duplicate_names_get_suffixes() {
    let env = Env::new();
    let a = env.root().join("a");
    let b = env.root().join("b");
    gguf(&a.join("llama.gguf"), 1);
    gguf(&b.join("LLAMA.gguf"), 2);
    gguf(&env.models().join("llama.gguf"), 3);
    gguf(&env.models().join("llama-2.gguf"), 4);
    let mut cfg = env.cfg();
    cfg.model_dirs = vec![a.clone(), b.clone()];
    let report = discover(&cfg);
    // In ./models, "llama-2.gguf" sorts before "llama.gguf".
    assert_eq!(
        names(&report),
        vec!["llama", "llama-2", "llama-2-2", "llama-3"]
    );
    assert_eq!(report.models[0].renamed_from, None);
    assert_eq!(report.models[1].renamed_from.as_deref(), Some("llama"));
    assert_eq!(report.models[2].renamed_from.as_deref(), Some("llama-2"));
    assert_eq!(report.models[3].renamed_from.as_deref(), Some("llama"));
    assert!(report.models[1].path.starts_with(&b));
}

#[cfg(unix)]
#[test]
fn unreadable_directories_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    gguf(&env.models().join("ok.gguf"), 1);
    let secret = env.models().join("secret");
    gguf(&secret.join("hidden.gguf"), 2);
    let locked = env.root().join("locked");
    fs::create_dir_all(&locked).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    // Root (as in many CI containers) reads everything regardless of permissions.
    let denied = fs::read_dir(&secret).is_err();
    let mut cfg = env.cfg();
    cfg.model_dirs = vec![locked.clone()];
    let report = discover(&cfg);
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(names(&report).contains(&"ok"), "the walk goes on");
    if denied {
        assert!(matches!(
            location(&report, &secret).outcome,
            LocationOutcome::Unreadable(_)
        ));
        assert!(matches!(
            location(&report, &locked).outcome,
            LocationOutcome::Unreadable(_)
        ));
        assert_eq!(names(&report), vec!["ok"]);
    } else {
        eprintln!("running as root: permission checks skipped");
    }
}

#[test]
fn base_gguf_and_search_order() {
    let env = Env::new();
    let base = gguf(&env.root().join("base/any-name.bin"), 1);
    let mut cfg = env.cfg();
    cfg.base_gguf = Some(base.clone());
    cfg.model_dirs = vec![env.root().join("missing-dir")];
    let report = discover(&cfg);
    assert_eq!(report.models[0].source, Source::BaseGguf);
    assert_eq!(report.models[0].path, base);
    assert_eq!(report.models[0].name, "any-name");
    let sources: Vec<Source> = report.locations.iter().map(|l| l.source).collect();
    assert_eq!(
        sources,
        vec![
            Source::BaseGguf,
            Source::ModelDirs,
            Source::ModelsDir,
            Source::HuggingFace,
            Source::Ollama,
            Source::LmStudio
        ]
    );
    assert_eq!(report.locations[1].outcome, LocationOutcome::Missing);
    assert_eq!(report.locations[2].outcome, LocationOutcome::Missing);

    cfg.base_gguf = Some(env.root().join("gone.gguf"));
    let report = discover(&cfg);
    assert_eq!(report.locations[0].outcome, LocationOutcome::Missing);
    assert!(report.models.is_empty());
}

// ---- Hugging Face, Ollama, LM Studio -----------------------------------------------------

#[cfg(unix)]
#[test]
fn hugging_face_cache() {
    let env = Env::new();
    let hub = env.home.join(".cache/huggingface/hub");
    let repo = hub.join("models--Qwen--Qwen3-0.6B-GGUF");
    let blob = gguf(&repo.join("blobs/0123abcd"), 1);
    let snapshot = repo.join("snapshots/rev1");
    symlink(
        Path::new("../../blobs/0123abcd"),
        &snapshot.join("Qwen3-0.6B-Q8_0.gguf"),
    );
    symlink(
        Path::new("../../blobs/missing"),
        &snapshot.join("sub/Qwen3-0.6B-F16.gguf"),
    );
    write(&snapshot.join("config.json"), b"{}");
    gguf(&hub.join("datasets--x--y/snapshots/r/data.gguf"), 2);
    let report = discover(&env.cfg());
    assert_eq!(names(&report), vec!["qwen3-0.6b-q8_0"]);
    let m = &report.models[0];
    assert_eq!(m.source, Source::HuggingFace);
    assert_eq!(m.path, snapshot.join("Qwen3-0.6B-Q8_0.gguf"));
    assert_eq!(m.size_bytes, fs::metadata(&blob).unwrap().len());
    assert!(skip_reason(&report, "Qwen3-0.6B-F16.gguf").contains("broken symlink"));
    assert_eq!(location(&report, &hub).outcome, LocationOutcome::Found(1));
}

fn ollama_manifest(root: &Path, parts: [&str; 4], digest: &str) -> PathBuf {
    let json = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:00","size":1}},
            "layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"{digest}","size":32}},
                      {{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:11","size":1}}]}}"#
    );
    let [registry, namespace, model, tag] = parts;
    write(
        &root
            .join("manifests")
            .join(registry)
            .join(namespace)
            .join(model)
            .join(tag),
        json.as_bytes(),
    )
}

#[test]
fn ollama_store() {
    let env = Env::new();
    let root = env.home.join(".ollama/models");
    gguf(&root.join("blobs/sha256-aa11"), 1);
    gguf(&root.join("blobs/sha256-bb22"), 2);
    gguf(&root.join("blobs/sha256-cc33"), 3);
    write(
        &root.join("blobs/sha256-dd44"),
        b"not a gguf at all, just some text....",
    );
    ollama_manifest(
        &root,
        ["registry.ollama.ai", "library", "llama3.2", "latest"],
        "sha256:aa11",
    );
    ollama_manifest(
        &root,
        ["registry.ollama.ai", "jane", "tiny", "q4"],
        "sha256:bb22",
    );
    ollama_manifest(
        &root,
        ["hf.co", "bartowski", "Qwen3-GGUF", "Q4_K_M"],
        "sha256:cc33",
    );
    ollama_manifest(
        &root,
        ["registry.ollama.ai", "library", "gone", "latest"],
        "sha256:ee55",
    );
    ollama_manifest(
        &root,
        ["registry.ollama.ai", "library", "text", "latest"],
        "sha256:dd44",
    );
    ollama_manifest(
        &root,
        ["registry.ollama.ai", "library", "evil", "latest"],
        "sha256:../../x",
    );
    write(
        &root.join("manifests/registry.ollama.ai/library/broken/latest"),
        b"{not json",
    );
    write(
        &root.join("manifests/registry.ollama.ai/library/nolayer/latest"),
        br#"{"layers":[{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:22"}]}"#,
    );
    let report = discover(&env.cfg());
    assert_eq!(
        names(&report),
        vec![
            "hf.co/bartowski/Qwen3-GGUF:Q4_K_M",
            "jane/tiny:q4",
            "llama3.2:latest"
        ]
    );
    assert!(report.models.iter().all(|m| m.source == Source::Ollama));
    let llama = report.find("llama3.2").unwrap();
    assert_eq!(llama.path, root.join("blobs/sha256-aa11"));
    assert_eq!(llama.size_bytes, 32);
    let reason = |model: &str| {
        report
            .skipped
            .iter()
            .find(|s| s.path.to_string_lossy().contains(&format!("/{model}/")))
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{model} not skipped: {:?}", report.skipped))
    };
    assert!(reason("gone").contains("is missing; run `ollama pull gone:latest` again"));
    assert!(reason("broken").starts_with("broken manifest"));
    assert!(reason("evil").contains("not sha256:<hex>"));
    assert!(reason("nolayer").contains("no model layer"));
    assert!(skip_reason(&report, "sha256-dd44").contains("not a GGUF file"));
    assert_eq!(location(&report, &root).outcome, LocationOutcome::Found(3));
}

#[test]
fn ollama_models_variable_wins() {
    let env = Env::new();
    let custom = env.root().join("ollama-elsewhere");
    gguf(&custom.join("blobs/sha256-aa11"), 1);
    ollama_manifest(
        &custom,
        ["registry.ollama.ai", "library", "phi3", "mini"],
        "sha256:aa11",
    );
    gguf(&env.home.join(".ollama/models/blobs/sha256-bb22"), 2);
    ollama_manifest(
        &env.home.join(".ollama/models"),
        ["registry.ollama.ai", "library", "x", "y"],
        "sha256:bb22",
    );
    let mut cfg = env.cfg();
    cfg.ollama_models = Some(custom.clone());
    let report = discover(&cfg);
    assert_eq!(names(&report), vec!["phi3:mini"]);
    assert_eq!(location(&report, &custom).source, Source::Ollama);
}

#[test]
fn lm_studio() {
    let env = Env::new();
    gguf(
        &env.home
            .join(".lmstudio/models/lmstudio-community/Gemma-3-GGUF/gemma-3-1b-Q4_K_M.gguf"),
        1,
    );
    let report = discover(&env.cfg());
    assert_eq!(names(&report), vec!["gemma-3-1b-q4_k_m"]);
    assert_eq!(report.models[0].source, Source::LmStudio);
}

#[test]
fn no_home_searches_only_local_places() {
    let env = Env::new();
    let mut cfg = env.cfg();
    cfg.home = None;
    let report = discover(&cfg);
    let sources: Vec<Source> = report.locations.iter().map(|l| l.source).collect();
    assert_eq!(sources, vec![Source::ModelsDir]);
}

// ---- resolve ----------------------------------------------------------------------------

#[test]
fn resolve_paths_and_names() {
    let env = Env::new();
    let q = gguf(&env.models().join("Qwen3-0.6B-Q8_0.gguf"), 1);
    let l = gguf(&env.models().join("llama-3.2-1b.gguf"), 2);
    let other = gguf(&env.root().join("elsewhere/model.gguf"), 3);
    let report = discover(&env.cfg());
    assert_eq!(report.resolve(other.to_str().unwrap()).unwrap(), other);
    assert_eq!(report.resolve("qwen3-0.6b-q8_0").unwrap(), q);
    assert_eq!(report.resolve("Qwen3-0.6B-Q8_0").unwrap(), q);
    assert_eq!(report.resolve("LLAMA-3.2-1B").unwrap(), l);

    let err = report.resolve("qwen3").unwrap_err();
    assert!(matches!(err, Error::ModelNotFound { .. }));
    let text = err.to_string();
    assert!(text.contains("model \"qwen3\" not found"), "{text}");
    assert!(text.contains("did you mean: qwen3-0.6b-q8_0?"), "{text}");

    let text = report.resolve("mistral").unwrap_err().to_string();
    assert!(
        text.contains("available: llama-3.2-1b, qwen3-0.6b-q8_0"),
        "{text}"
    );

    let text = report
        .resolve("/no/such/file.gguf")
        .unwrap_err()
        .to_string();
    assert!(text.contains("no file exists at that path"), "{text}");
}

#[test]
fn resolve_prefers_existing_files_over_names() {
    let env = Env::new();
    gguf(&env.models().join("tiny.gguf"), 1);
    let report = discover(&env.cfg());
    // A relative path that exists wins over a model of the same name.
    let here = gguf(&env.root().join("tiny"), 2);
    assert_eq!(report.resolve(here.to_str().unwrap()).unwrap(), here);
    assert_eq!(
        report.resolve("tiny").unwrap(),
        env.models().join("tiny.gguf")
    );
}

#[test]
fn resolve_with_no_models_lists_the_places_searched() {
    let env = Env::new();
    let report = discover(&env.cfg());
    let text = report.resolve("anything").unwrap_err().to_string();
    assert!(text.contains("no models found; searched: "), "{text}");
    assert!(
        text.contains(&format!("{} (missing)", env.models().display())),
        "{text}"
    );
    assert!(text.contains(".ollama"), "{text}");
}

#[test]
fn hints_are_capped_at_five() {
    let env = Env::new();
    for i in 0..8 {
        gguf(&env.models().join(format!("phi-{i}.gguf")), i);
    }
    let report = discover(&env.cfg());
    let text = report.resolve("phi").unwrap_err().to_string();
    let listed = text.split("did you mean: ").nth(1).unwrap();
    assert_eq!(listed.matches("phi-").count(), 5, "{text}");
}
