//! Walking directories and deciding, file by file, what is a model.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::collect::Collector;
use super::{LocationOutcome, Source, MAX_DEPTH};
use crate::gguf;
use crate::Error;

/// Searches one root: a model file, or a directory walked up to [`MAX_DEPTH`] deep.
pub(super) fn scan_root(c: &mut Collector, root: &Path, source: Source) {
    let index = c.begin_location(root, source);
    let outcome = match fs::metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => LocationOutcome::Missing,
        Err(e) => LocationOutcome::Unreadable(e.to_string()),
        Ok(meta) if meta.is_dir() => {
            let mut walker = Walker::new(source);
            match walker.walk(c, root) {
                Ok(found) => LocationOutcome::Found(found),
                Err(e) => LocationOutcome::Unreadable(e.to_string()),
            }
        }
        Ok(_) => LocationOutcome::Found(usize::from(consider_file(c, root, source, true))),
    };
    c.finish_location(index, outcome);
}

/// Walks one search root, following symlinks but never the same directory twice.
pub(super) struct Walker {
    source: Source,
    visited: HashSet<PathBuf>,
    found: usize,
}

impl Walker {
    /// A walker that files what it finds under `source`.
    pub(super) fn new(source: Source) -> Self {
        Walker {
            source,
            visited: HashSet::new(),
            found: 0,
        }
    }

    /// Walks `root` and returns how many models it held. Fails only when `root` itself cannot
    /// be read; unreadable directories below it are recorded as locations.
    pub(super) fn walk(&mut self, c: &mut Collector, root: &Path) -> io::Result<usize> {
        self.found = 0;
        let entries = read_dir_sorted(root)?;
        self.visited.insert(canonical(root));
        self.visit_entries(c, entries, 0);
        Ok(self.found)
    }

    fn visit_dir(&mut self, c: &mut Collector, dir: &Path, depth: usize) {
        if !self.visited.insert(canonical(dir)) {
            return; // a symlink loop or a second way to the same directory
        }
        match read_dir_sorted(dir) {
            Ok(entries) => self.visit_entries(c, entries, depth),
            Err(e) => c.unreadable(dir, self.source, &e),
        }
    }

    fn visit_entries(&mut self, c: &mut Collector, entries: Vec<PathBuf>, depth: usize) {
        for path in entries {
            let name = file_name(&path);
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    if is_gguf_name(&name) {
                        c.skip(&path, unreadable_file_reason(&path, &e));
                    }
                    continue;
                }
            };
            if meta.is_dir() {
                if !name.starts_with('.') && depth < MAX_DEPTH {
                    self.visit_dir(c, &path, depth + 1);
                }
            } else if meta.is_file() && consider_file(c, &path, self.source, false) {
                self.found += 1;
            }
        }
    }
}

/// The entries of `dir`, sorted by name (ignoring case) so that naming is stable from run to
/// run.
pub(super) fn read_dir_sorted(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort_by_cached_key(|p| (file_name(p).to_lowercase(), p.clone()));
    Ok(entries)
}

fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The file name of `path` as text.
pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_gguf_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".gguf")
}

/// Why a file whose metadata cannot be read is skipped.
pub(super) fn unreadable_file_reason(path: &Path, err: &io::Error) -> String {
    match fs::read_link(path) {
        Ok(target) => format!(
            "broken symlink: its target {} is missing (an incomplete download?); download the model again",
            target.display()
        ),
        Err(_) => format!("cannot read: {err}"),
    }
}

/// A `-0000k-of-0000n` split shard name (llama.cpp's `gguf-split` naming).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard<'a> {
    /// The name before the shard suffix, in its original case.
    pub prefix: &'a str,
    /// This shard's number, from 1.
    pub index: u32,
    /// How many shards the model has.
    pub total: u32,
}

impl Shard<'_> {
    /// The file name of shard `index` of the same model.
    pub fn sibling(&self, index: u32) -> String {
        format!("{}-{index:05}-of-{:05}.gguf", self.prefix, self.total)
    }
}

/// Parses `<prefix>-00001-of-00003.gguf` (a file name, not a path).
pub fn parse_shard(file_name: &str) -> Option<Shard<'_>> {
    let split = file_name.len().checked_sub(".gguf".len())?;
    let (stem, ext) = (file_name.get(..split)?, file_name.get(split..)?);
    if !ext.eq_ignore_ascii_case(".gguf") {
        return None;
    }
    let at = stem.len().checked_sub("-00001-of-00003".len())?;
    let (prefix, tail) = (stem.get(..at)?, stem.get(at..)?);
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    let rest = tail.strip_prefix('-')?;
    let (index, total) = rest.split_once("-of-")?;
    if !digits(index) || !digits(total) {
        return None;
    }
    Some(Shard {
        prefix,
        index: index.parse().ok()?,
        total: total.parse().ok()?,
    })
}

/// Why `sniff` rejected a file, without the path (the skip entry has it).
pub(super) fn sniff_reason(err: &Error) -> String {
    match err {
        Error::NotGguf { found, .. } => format!("not a GGUF file (it starts with {found:?})"),
        Error::InvalidGguf { reason, .. } => reason.clone(),
        Error::Io { source, .. } => format!("cannot read: {source}"),
        Error::NotAFile { what, .. } => format!("is {what}"),
        other => other.to_string(),
    }
}

/// Decides whether `path` is a model; lists it or records why not. Files not named `.gguf`
/// are passed over silently (except weights in other formats), unless `explicit` (a path the
/// user named). Returns whether it is a model.
pub(super) fn consider_file(
    c: &mut Collector,
    path: &Path,
    source: Source,
    explicit: bool,
) -> bool {
    let name = file_name(path);
    let lower = name.to_lowercase();
    if !explicit && !lower.ends_with(".gguf") {
        let format = if lower.ends_with(".safetensors") {
            Some("safetensors")
        } else if lower.ends_with(".bin") {
            Some(".bin")
        } else {
            None
        };
        if let Some(format) = format {
            c.skip(
                path,
                format!(
                    "not GGUF ({format} weights); llama.cpp needs a .gguf file: download a GGUF build or \
                     convert it with llama.cpp's convert_hf_to_gguf.py"
                ),
            );
        }
        return false;
    }
    if lower.contains("mmproj") {
        c.skip(path, "multimodal projector, not a model");
        return false;
    }
    let shard = parse_shard(&name);
    if let Some(s) = &shard {
        if s.index != 1 {
            c.skip(
                path,
                format!("shard {} of {}; load the first shard", s.index, s.total),
            );
            return false;
        }
    }
    if let Err(e) = gguf::sniff(path) {
        c.skip(path, sniff_reason(&e));
        return false;
    }
    let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let (model_name, size_bytes) = match &shard {
        Some(s) if !s.prefix.is_empty() => match shard_sizes(path, s) {
            Ok(total) => (s.prefix.to_lowercase(), total.max(size)),
            Err(missing) => {
                c.skip(
                    path,
                    format!(
                        "split model with {} of its {} shards missing (first: {missing});                          llama.cpp needs every shard next to the first: download them all",
                        missing_count(path, s),
                        s.total
                    ),
                );
                return false;
            }
        },
        _ => (stem(&name).to_lowercase(), size),
    };
    c.add_model(&model_name, path, size_bytes, source);
    true
}

/// The file name without its last extension.
fn stem(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    }
}

/// Total size of the shards of a split model, which sit next to its first shard; the file
/// name of the first one missing when not all are there.
fn shard_sizes(first: &Path, shard: &Shard<'_>) -> Result<u64, String> {
    let dir = first.parent().unwrap_or(Path::new("."));
    let mut total = 0;
    for k in 1..=shard.total {
        let name = shard.sibling(k);
        match fs::metadata(dir.join(&name)) {
            Ok(m) => total += m.len(),
            Err(_) => return Err(name),
        }
    }
    Ok(total)
}

/// The size of the model whose file is `path`: for the first shard of a split model
/// (`NAME-00001-of-0000N.gguf`) every shard next to it together, else the file's size.
pub fn model_size(path: &Path) -> std::io::Result<u64> {
    let own = fs::metadata(path)?.len();
    let name = file_name(path);
    Ok(match parse_shard(&name) {
        Some(s) if s.index == 1 => shard_sizes(path, &s).unwrap_or(own).max(own),
        _ => own,
    })
}

/// How many shards of a split model are missing next to its first shard.
fn missing_count(first: &Path, shard: &Shard<'_>) -> u32 {
    let dir = first.parent().unwrap_or(Path::new("."));
    (1..=shard.total)
        .filter(|k| fs::metadata(dir.join(shard.sibling(*k))).is_err())
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        let s = parse_shard("Qwen3-235B-Q4_K_M-00002-of-00005.gguf").unwrap();
        assert_eq!((s.prefix, s.index, s.total), ("Qwen3-235B-Q4_K_M", 2, 5));
        assert!(parse_shard("model.gguf").is_none());
        assert!(parse_shard("model-0001-of-0003.gguf").is_none());
        assert!(parse_shard("model-00001-of-00003.bin").is_none());
        assert!(parse_shard("-00001-of-00003.GGUF").is_some());
        assert!(parse_shard("é-00001-of-00003.gguf").is_some());
    }

    #[test]
    fn stems() {
        assert_eq!(stem("Llama-3.2-1B.Q4_K_M.gguf"), "Llama-3.2-1B.Q4_K_M");
        assert_eq!(stem(".gguf"), ".gguf");
        assert_eq!(stem("noext"), "noext");
    }
}
