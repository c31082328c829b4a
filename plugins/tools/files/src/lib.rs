//! `files`: two read-only tools over one directory the operator grants.
//!
//! The operator chooses the directory when starting the host:
//! `--plugin-grant files:dirs=/srv/data`. The host preopens it read-only (at the same path)
//! and passes it in the `granted-dirs` setting; with several granted directories the first is
//! used. Without a grant every call is a `denied` error that names the flag.
//!
//! * `list_files {"path"?: "sub/dir"}` → `{"path": "sub/dir", "entries": [{"name", "type":
//!   "file"|"dir"|"other", "size"}], "truncated": bool}` (sorted by name, at most
//!   [`MAX_ENTRIES`]);
//! * `read_file {"path": "a.txt", "max_bytes"?: n}` → `{"path", "size", "content",
//!   "truncated": bool}` (UTF-8 text; invalid bytes become U+FFFD; `max_bytes` defaults to
//!   [`DEFAULT_MAX_BYTES`]; more than [`MAX_BYTES`] is `invalid-input`).
//!
//! Paths are relative to the granted directory: absolute paths and `..` are `denied`;
//! missing files are `not-found`; reading a directory (or listing a file), reading anything
//! but a regular file (a FIFO, socket or device would block or never end), a path with a NUL
//! byte, longer than [`MAX_PATH_BYTES`] or with a component longer than
//! [`MAX_COMPONENT_BYTES`] are `invalid-input`.

use serde_json::{json, Value};
use shimmy_plugin_sdk::{config, export_tool, PluginError, Tool, ToolDefinition};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Most entries `list_files` returns.
pub const MAX_ENTRIES: usize = 1000;
/// Default `max_bytes` of `read_file`.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024;
/// Largest `max_bytes` of `read_file`.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// Longest `path` argument, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest component of a `path` argument, in bytes (Linux's `NAME_MAX`).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// The setting in which the host lists the granted directories (one per line).
pub const GRANTED_DIRS_KEY: &str = "granted-dirs";

/// The plugin.
pub struct Files;

/// The `denied` error for a call without a granted directory.
pub fn not_granted() -> PluginError {
    PluginError::denied(
        "files: no directory is granted to this plugin; start shimmy with \
         --plugin-grant files:dirs=/absolute/path/to/dir (read-only access)",
    )
}

/// The directory the tools work in: the first granted one.
fn root() -> Result<PathBuf, PluginError> {
    config::get(GRANTED_DIRS_KEY)
        .and_then(|v| {
            v.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(PathBuf::from)
        })
        .ok_or_else(not_granted)
}

/// `root` joined with the relative `path`; absolute paths and `..` are `denied`; NUL bytes
/// and over-long paths or components are `invalid-input`.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf, PluginError> {
    check_path_text(path)?;
    let escape = |why: &str| {
        PluginError::denied(format!(
            "files: path \"{path}\" {why}; give a path relative to the granted directory \
             (grant another directory with --plugin-grant files:dirs=/absolute/path)"
        ))
    };
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Err(escape("is absolute"));
    }
    let mut out = root.to_path_buf();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(escape("leaves the granted directory (`..`)")),
            Component::RootDir | Component::Prefix(_) => return Err(escape("is absolute")),
        }
    }
    Ok(out)
}

/// Refuses paths no file system accepts, before any file system call sees them.
fn check_path_text(path: &str) -> Result<(), PluginError> {
    if path.contains('\0') {
        return Err(PluginError::invalid_input(
            "files: `path` contains a NUL byte; give a plain relative path",
        ));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PluginError::invalid_input(format!(
            "files: `path` is {} bytes long; paths may be at most {MAX_PATH_BYTES} bytes",
            path.len()
        )));
    }
    if let Some(long) = path
        .split(['/', '\\'])
        .find(|c| c.len() > MAX_COMPONENT_BYTES)
    {
        return Err(PluginError::invalid_input(format!(
            "files: `path` has a {}-byte component (\"{}...\"); file names may be at most \
             {MAX_COMPONENT_BYTES} bytes",
            long.len(),
            long.chars().take(20).collect::<String>()
        )));
    }
    Ok(())
}

fn io_error(path: &str, e: std::io::Error) -> PluginError {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            PluginError::not_found(format!("files: no such file or directory: \"{path}\""))
        }
        std::io::ErrorKind::PermissionDenied => PluginError::denied(format!(
            "files: \"{path}\" is outside what the sandbox allows: {e}"
        )),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::NotADirectory => {
            PluginError::invalid_input(format!("files: \"{path}\": {e}"))
        }
        _ => PluginError::failed(format!("files: \"{path}\": {e}")),
    }
}

fn args_object(arguments: &str) -> Result<serde_json::Map<String, Value>, PluginError> {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(PluginError::invalid_input(
            "files: arguments must be a JSON object",
        )),
        Err(e) => Err(PluginError::invalid_input(format!(
            "files: arguments are not JSON: {e}"
        ))),
    }
}

/// `list_files` in `root` (pure apart from the file system).
pub fn list_files(root: &Path, arguments: &str) -> Result<String, PluginError> {
    let args = args_object(arguments)?;
    let rel = match args.get("path") {
        None | Some(Value::Null) => ".".to_string(),
        Some(Value::String(s)) if s.is_empty() => ".".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(PluginError::invalid_input("files: `path` must be a string")),
    };
    let dir = resolve(root, &rel)?;
    if dir.is_file() {
        return Err(PluginError::invalid_input(format!(
            "files: \"{rel}\" is a file; use read_file"
        )));
    }
    let rd = std::fs::read_dir(&dir).map_err(|e| io_error(&rel, e))?;
    let mut entries: Vec<(String, &'static str, u64)> = Vec::new();
    for e in rd {
        let e = e.map_err(|e| io_error(&rel, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let (kind, size) = match e.metadata() {
            Ok(m) if m.is_dir() => ("dir", 0),
            Ok(m) if m.is_file() => ("file", m.len()),
            _ => ("other", 0),
        };
        entries.push((name, kind, size));
    }
    entries.sort();
    let truncated = entries.len() > MAX_ENTRIES;
    entries.truncate(MAX_ENTRIES);
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|(name, kind, size)| json!({"name": name, "type": kind, "size": size}))
        .collect();
    Ok(json!({"path": rel, "entries": entries, "truncated": truncated}).to_string())
}

/// `read_file` in `root` (pure apart from the file system).
pub fn read_file(root: &Path, arguments: &str) -> Result<String, PluginError> {
    let args = args_object(arguments)?;
    let rel = args
        .get("path")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PluginError::invalid_input("files: read_file needs a string `path`"))?
        .to_string();
    let max = match args.get("max_bytes") {
        None | Some(Value::Null) => DEFAULT_MAX_BYTES,
        Some(v) => v.as_u64().ok_or_else(|| {
            PluginError::invalid_input("files: `max_bytes` must be a non-negative integer")
        })?,
    };
    if max > MAX_BYTES {
        return Err(PluginError::invalid_input(format!(
            "files: `max_bytes` is {max}, more than the {MAX_BYTES} bytes read_file reads at most; \
             ask for {MAX_BYTES} or less"
        )));
    }
    let path = resolve(root, &rel)?;
    // Look before opening: opening a FIFO blocks until a writer comes, reading a device may
    // never end. Only regular files (or symlinks to them) are read.
    let meta = std::fs::metadata(&path).map_err(|e| io_error(&rel, e))?;
    check_regular(&rel, &meta)?;
    let file = std::fs::File::open(&path).map_err(|e| io_error(&rel, e))?;
    let meta = file.metadata().map_err(|e| io_error(&rel, e))?;
    check_regular(&rel, &meta)?;
    let size = meta.len();
    let mut bytes = Vec::new();
    file.take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&rel, e))?;
    let content = String::from_utf8_lossy(&bytes);
    Ok(json!({
        "path": rel,
        "size": size,
        "content": content,
        "truncated": size > bytes.len() as u64,
    })
    .to_string())
}

/// `invalid-input` unless `meta` is a regular file's.
fn check_regular(rel: &str, meta: &std::fs::Metadata) -> Result<(), PluginError> {
    if meta.is_dir() {
        return Err(PluginError::invalid_input(format!(
            "files: \"{rel}\" is a directory; use list_files"
        )));
    }
    if !meta.is_file() {
        return Err(PluginError::invalid_input(format!(
            "files: \"{rel}\" is not a regular file (a FIFO, socket or device); read_file reads \
             regular files only"
        )));
    }
    Ok(())
}

/// The two tool definitions.
pub fn definitions() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition::new(
            "list_files",
            "Lists the files and directories at a path relative to the shared directory.",
            r#"{"type":"object","properties":{"path":{"type":"string","description":"Directory relative to the shared directory; empty or omitted for its top level."}},"additionalProperties":false}"#,
        ),
        ToolDefinition::new(
            "read_file",
            "Reads a text file at a path relative to the shared directory.",
            r#"{"type":"object","properties":{"path":{"type":"string","description":"File relative to the shared directory."},"max_bytes":{"type":"integer","minimum":0,"maximum":1048576,"description":"Most bytes to read (default 65536, at most 1048576)."}},"required":["path"],"additionalProperties":false}"#,
        ),
    ]
}

impl Tool for Files {
    fn describe() -> Vec<ToolDefinition> {
        definitions()
    }

    fn invoke(name: String, arguments: String) -> Result<String, PluginError> {
        match name.as_str() {
            "list_files" => list_files(&root()?, &arguments),
            "read_file" => read_file(&root()?, &arguments),
            other => Err(PluginError::not_found(format!(
                "files: no tool named {other} (this plugin has list_files, read_file)"
            ))),
        }
    }
}

export_tool!(Files);

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root() -> PathBuf {
        let d = std::env::temp_dir().join(format!("shimmy-files-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a.txt"), "hello world").unwrap();
        std::fs::write(d.join("sub/b.txt"), "b").unwrap();
        d
    }

    #[test]
    fn resolve_refuses_escapes() {
        let root = Path::new("/srv");
        assert_eq!(resolve(root, "a/./b").unwrap(), Path::new("/srv/a/b"));
        for bad in ["/etc/passwd", "../x", "a/../../x", "a/..", "C:\\x"] {
            let e = resolve(root, bad).unwrap_err();
            assert_eq!(e.kind(), "denied", "{bad}");
            assert!(e.message().contains("--plugin-grant files:dirs="), "{bad}");
        }
    }

    #[test]
    fn list_and_read() {
        let root = temp_root();
        let v: Value = serde_json::from_str(&list_files(&root, "{}").unwrap()).unwrap();
        assert_eq!(
            v["entries"],
            json!([
                {"name": "a.txt", "type": "file", "size": 11},
                {"name": "sub", "type": "dir", "size": 0}
            ])
        );
        let v: Value =
            serde_json::from_str(&list_files(&root, r#"{"path":"sub"}"#).unwrap()).unwrap();
        assert_eq!(v["entries"][0]["name"], "b.txt");
        let v: Value =
            serde_json::from_str(&read_file(&root, r#"{"path":"a.txt","max_bytes":5}"#).unwrap())
                .unwrap();
        assert_eq!(
            v,
            json!({"path": "a.txt", "size": 11, "content": "hello", "truncated": true})
        );
        let e = read_file(&root, r#"{"path":"nope.txt"}"#).unwrap_err();
        assert_eq!(e.kind(), "not-found");
        assert_eq!(
            read_file(&root, r#"{"path":"sub"}"#).unwrap_err().kind(),
            "invalid-input"
        );
        assert_eq!(
            list_files(&root, r#"{"path":"a.txt"}"#).unwrap_err().kind(),
            "invalid-input"
        );
        assert_eq!(
            read_file(&root, r#"{"path":"../x"}"#).unwrap_err().kind(),
            "denied"
        );
        assert_eq!(
            read_file(&root, r#"{}"#).unwrap_err().kind(),
            "invalid-input"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn hostile_paths_and_sizes_are_invalid_input() {
        // Its own directory: the other tests remove and recreate `temp_root()` concurrently.
        let root =
            std::env::temp_dir().join(format!("shimmy-files-hostile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        let fifo = root.join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo");
        let invalid =
            |tool: fn(&Path, &str) -> Result<String, PluginError>, args: Value, needle: &str| {
                let e = tool(&root, &args.to_string()).unwrap_err();
                assert_eq!(e.kind(), "invalid-input", "{args}: {}", e.message());
                assert!(e.message().contains(needle), "{args}: {}", e.message());
            };
        // Reading a FIFO would block until a writer comes: refused without opening it.
        invalid(read_file, json!({"path": "pipe"}), "not a regular file");
        invalid(list_files, json!({"path": "pipe"}), "pipe");
        invalid(read_file, json!({"path": "a\0b"}), "NUL");
        invalid(list_files, json!({"path": "\0"}), "NUL");
        let long = "d/".repeat(MAX_PATH_BYTES / 2 + 1);
        invalid(read_file, json!({"path": long}), "at most 4096 bytes");
        let name = "n".repeat(MAX_COMPONENT_BYTES + 1);
        invalid(read_file, json!({"path": name}), "at most 255 bytes");
        invalid(
            read_file,
            json!({"path": "a.txt", "max_bytes": 1_000_000_000_000u64}),
            "more than the 1048576 bytes",
        );
        invalid(
            read_file,
            json!({"path": "a.txt", "max_bytes": MAX_BYTES + 1}),
            "ask for 1048576 or less",
        );
        let ok: Value = serde_json::from_str(
            &read_file(
                &root,
                &json!({"path": "a.txt", "max_bytes": MAX_BYTES}).to_string(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(ok["content"], "hello");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn without_a_grant_everything_is_denied() {
        let e = Files::invoke("list_files".into(), "{}".into()).unwrap_err();
        assert_eq!(e.kind(), "denied");
        assert!(e.message().contains("--plugin-grant files:dirs="));
    }
}
