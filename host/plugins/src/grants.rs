//! Operator grants (`--plugin-grant NAME:CAPABILITY`, `--plugin-grant NAME:dirs=/abs/path`) and
//! settings (`--plugin-config NAME:KEY=VALUE`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{PluginError, Result};

/// A capability an operator can grant to a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Raise the plugin's memory limit to its `capabilities.memory_mb`.
    Memory,
    /// Preopen the plugin's `capabilities.dirs` read-only.
    Dirs,
    /// Allow the plugin's `capabilities.hosts` (recorded only: there is no network import yet).
    Hosts,
}

impl Capability {
    /// Every capability, in order.
    pub const ALL: [Capability; 3] = [Capability::Memory, Capability::Dirs, Capability::Hosts];

    /// The name used in `--plugin-grant`, e.g. `memory`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Memory => "memory",
            Capability::Dirs => "dirs",
            Capability::Hosts => "hosts",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The capabilities the operator granted, per plugin name.
///
/// Built from strings of the form `NAME:memory`, `NAME:dirs`, `NAME:hosts` or `NAME:*` (all
/// three), the values of the CLI's repeatable `--plugin-grant` flag. `NAME:dirs=/abs/path`
/// grants `dirs` and also gives the plugin a directory the operator chose (preopened read-only
/// at the same path, in addition to the manifest's `capabilities.dirs`); repeat it for more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    by_plugin: BTreeMap<String, BTreeSet<Capability>>,
    /// Directories chosen by the operator (`NAME:dirs=/path`), per plugin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    dirs: BTreeMap<String, Vec<PathBuf>>,
}

impl Grants {
    /// No grants at all (the default sandbox).
    pub fn none() -> Grants {
        Grants::default()
    }

    /// Parses a list of `NAME:CAPABILITY` strings.
    pub fn parse<I, S>(specs: I) -> Result<Grants>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut g = Grants::default();
        for s in specs {
            g.add_spec(s.as_ref())?;
        }
        Ok(g)
    }

    /// Parses one `NAME:CAPABILITY` string and adds it.
    pub fn add_spec(&mut self, spec: &str) -> Result<()> {
        let bad = |reason: String| PluginError::InvalidSpec {
            what: "--plugin-grant",
            spec: spec.to_string(),
            reason,
        };
        let (name, cap) = spec.trim().split_once(':').ok_or_else(|| {
            bad("expected NAME:CAPABILITY, e.g. jinja:memory (capabilities: memory, dirs, hosts, *)"
                .into())
        })?;
        crate::manifest::validate_name(name).map_err(bad)?;
        let cap = cap.trim();
        if let Some((key, path)) = cap.split_once('=') {
            if !matches!(key.trim(), "dirs" | "dir" | "fs") {
                return Err(bad(format!(
                    "only dirs takes a value (NAME:dirs=/absolute/path), not \"{}\"",
                    key.trim()
                )));
            }
            let path = Path::new(path.trim());
            if !path.is_absolute() {
                return Err(bad(format!(
                    "the directory \"{}\" must be an absolute path",
                    path.display()
                )));
            }
            self.grant_dir(name, path);
            return Ok(());
        }
        let caps: Vec<Capability> = match cap {
            "*" | "all" => Capability::ALL.to_vec(),
            "memory" | "memory_mb" => vec![Capability::Memory],
            "dirs" | "dir" | "fs" => vec![Capability::Dirs],
            "hosts" | "host" | "net" => vec![Capability::Hosts],
            other => {
                return Err(bad(format!(
                    "unknown capability \"{other}\"; expected memory, dirs, hosts or *"
                )))
            }
        };
        for c in caps {
            self.grant(name, c);
        }
        Ok(())
    }

    /// Grants `cap` to the plugin `name`.
    pub fn grant(&mut self, name: &str, cap: Capability) {
        self.by_plugin
            .entry(name.to_string())
            .or_default()
            .insert(cap);
    }

    /// Grants `dirs` to the plugin `name` and adds `dir` (absolute) to the directories it sees.
    pub fn grant_dir(&mut self, name: &str, dir: &Path) {
        self.grant(name, Capability::Dirs);
        let dirs = self.dirs.entry(name.to_string()).or_default();
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_path_buf());
        }
    }

    /// The directories the operator chose for `name` (`NAME:dirs=/path`), in order.
    pub fn dirs_for(&self, name: &str) -> &[PathBuf] {
        self.dirs.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `name` was granted `cap`.
    pub fn allows(&self, name: &str, cap: Capability) -> bool {
        self.by_plugin.get(name).is_some_and(|s| s.contains(&cap))
    }

    /// The plugin names that have any grant.
    pub fn plugins(&self) -> impl Iterator<Item = &str> {
        self.by_plugin.keys().map(String::as_str)
    }
}

impl FromStr for Grants {
    type Err = PluginError;
    /// Parses a comma-separated list of `NAME:CAPABILITY`.
    fn from_str(s: &str) -> Result<Grants> {
        Grants::parse(s.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }
}

/// Operator overrides of plugins' `[config]` values, per plugin name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    by_plugin: BTreeMap<String, BTreeMap<String, String>>,
}

impl Settings {
    /// Parses a list of `NAME:KEY=VALUE` strings (the CLI's `--plugin-config`).
    pub fn parse<I, S>(specs: I) -> Result<Settings>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Settings::default();
        for s in specs {
            let spec = s.as_ref();
            let bad = |reason: &str| PluginError::InvalidSpec {
                what: "--plugin-config",
                spec: spec.to_string(),
                reason: reason.to_string(),
            };
            let (name, kv) = spec
                .split_once(':')
                .ok_or_else(|| bad("expected NAME:KEY=VALUE"))?;
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad("expected NAME:KEY=VALUE"))?;
            crate::manifest::validate_name(name).map_err(|r| bad(&r))?;
            if k.is_empty() {
                return Err(bad("the key is empty"));
            }
            out.set(name, k, v);
        }
        Ok(out)
    }

    /// Sets `key` to `value` for plugin `name`.
    pub fn set(&mut self, name: &str, key: &str, value: &str) {
        self.by_plugin
            .entry(name.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
    }

    /// The overrides for plugin `name`.
    pub fn for_plugin(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.by_plugin.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_grants() {
        let g = Grants::parse(["jinja:memory", "reader:dirs", "web:*"]).unwrap();
        assert!(g.allows("jinja", Capability::Memory));
        assert!(!g.allows("jinja", Capability::Dirs));
        assert!(g.allows("reader", Capability::Dirs));
        assert!(g.allows("web", Capability::Hosts));
        assert!(!g.allows("other", Capability::Memory));
        let g: Grants = "a:memory, b:hosts".parse().unwrap();
        assert!(g.allows("b", Capability::Hosts));
    }

    #[test]
    fn grant_a_directory() {
        let g =
            Grants::parse(["files:dirs=/srv/data", "files:dirs=/tmp", "files:dirs=/tmp"]).unwrap();
        assert!(g.allows("files", Capability::Dirs));
        assert_eq!(
            g.dirs_for("files"),
            [PathBuf::from("/srv/data"), PathBuf::from("/tmp")]
        );
        assert!(g.dirs_for("other").is_empty());
        let e = Grants::parse(["files:dirs=relative"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
        let e = Grants::parse(["files:memory=3"]).unwrap_err().to_string();
        assert!(e.contains("only dirs takes a value"), "{e}");
    }

    #[test]
    fn bad_grants() {
        let e = Grants::parse(["jinja"]).unwrap_err().to_string();
        assert!(e.contains("NAME:CAPABILITY"), "{e}");
        let e = Grants::parse(["jinja:gpu"]).unwrap_err().to_string();
        assert!(e.contains("unknown capability \"gpu\""), "{e}");
        assert!(Grants::parse([":memory"]).is_err());
    }

    #[test]
    fn parse_settings() {
        let s = Settings::parse(["chatml:system=be brief", "x:a=b=c"]).unwrap();
        assert_eq!(s.for_plugin("chatml").unwrap()["system"], "be brief");
        assert_eq!(s.for_plugin("x").unwrap()["a"], "b=c");
        assert!(Settings::parse(["x:novalue"]).is_err());
    }
}
