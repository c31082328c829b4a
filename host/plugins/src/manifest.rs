//! `plugin.toml`: what a plugin says about itself.
//!
//! ```toml
//! name = "chatml"                 # optional: defaults to the file or directory name
//! version = "0.1.0"               # the plugin's own version (not the contract's)
//! kind = "template"               # optional: template | tool | workflow; checked against the wasm
//! description = "ChatML prompts"  # one line for `plugin list`
//!
//! [capabilities]                  # only take effect when the operator grants them
//! memory_mb = 256                 # more than the default memory limit (`NAME:memory`)
//! dirs = ["/srv/data"]            # preopened read-only at the same path (`NAME:dirs`)
//! hosts = ["example.com"]         # recorded for a future http capability (`NAME:hosts`)
//!
//! [config]                        # what the plugin's `config` import returns
//! default_system = "You are helpful."
//! ```
//!
//! The same keys `name`, `version`, `kind`, `description` are also accepted inside a `[plugin]`
//! table. Unknown top-level keys are kept as warnings (so a newer manifest still loads); unknown
//! keys in `[capabilities]` are an error (a typo there would silently drop a limit).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{PluginError, Result};

/// The three kinds of plugin, one per world of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Exports `template` (world `template-plugin`): renders prompts, parses output.
    Template,
    /// Exports `tool` (world `tool-plugin`): tools a model can call.
    Tool,
    /// Exports `workflow` (world `workflow-plugin`): may call inference and tools.
    Workflow,
}

impl PluginKind {
    /// The name of the exported interface, e.g. `template`.
    pub fn interface(self) -> &'static str {
        match self {
            PluginKind::Template => "template",
            PluginKind::Tool => "tool",
            PluginKind::Workflow => "workflow",
        }
    }

    /// The world of the contract, e.g. `template-plugin`.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::Template => "template-plugin",
            PluginKind::Tool => "tool-plugin",
            PluginKind::Workflow => "workflow-plugin",
        }
    }

    fn parse(s: &str) -> Option<PluginKind> {
        match s {
            "template" | "template-plugin" => Some(PluginKind::Template),
            "tool" | "tool-plugin" => Some(PluginKind::Tool),
            "workflow" | "workflow-plugin" => Some(PluginKind::Workflow),
            _ => None,
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.interface())
    }
}

/// Capabilities a plugin asks for in `[capabilities]`. None of them take effect unless the
/// operator grants them (see [`Grants`](crate::Grants)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Memory limit in MiB the plugin needs (above the runtime's default needs `NAME:memory`;
    /// a smaller value is always applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Host directories the plugin wants to read; each is preopened read-only at the same
    /// path inside the sandbox when `NAME:dirs` is granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<PathBuf>,
    /// Hosts the plugin wants to reach. The contract has no network capability yet (WASI
    /// sockets are always off), so a grant is only recorded for a future `http` import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

impl Capabilities {
    /// True when nothing is requested.
    pub fn is_empty(&self) -> bool {
        self.memory_mb.is_none() && self.dirs.is_empty() && self.hosts.is_empty()
    }
}

/// A parsed `plugin.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The plugin's name (`None`: taken from the file or directory name).
    pub name: Option<String>,
    /// The plugin's own version.
    pub version: Option<String>,
    /// The declared kind, if any (checked against the component's exports).
    pub kind: Option<PluginKind>,
    /// One line for humans.
    pub description: Option<String>,
    /// The contract the plugin says it targets, e.g. `shimmy:plugin@0.1.0` (informative: the
    /// component's own imports and exports decide; a mismatch is a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wit: Option<String>,
    /// Model families (GGUF `general.architecture` values) a template is meant for, e.g.
    /// `["qwen2", "qwen3"]`; lets the host pick a template for a model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<String>,
    /// Requested capabilities.
    pub capabilities: Capabilities,
    /// The `[config]` table, every value as a string (non-strings in their TOML/JSON form).
    pub config: BTreeMap<String, String>,
    /// Non-fatal remarks found while parsing (unknown keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    name: Option<String>,
    version: Option<toml::Value>,
    kind: Option<String>,
    description: Option<String>,
    wit: Option<String>,
    families: Option<Vec<String>>,
    plugin: Option<RawPluginTable>,
    #[serde(default)]
    capabilities: Capabilities,
    #[serde(default)]
    config: toml::Table,
    #[serde(flatten)]
    other: toml::Table,
}

#[derive(Deserialize)]
struct RawPluginTable {
    name: Option<String>,
    version: Option<toml::Value>,
    kind: Option<String>,
    description: Option<String>,
    wit: Option<String>,
    families: Option<Vec<String>>,
    #[serde(flatten)]
    other: toml::Table,
}

/// Keys a manifest may have that the host knows about but does not use.
const IGNORED_KEYS: &[&str] = &[
    "wasm",
    "world",
    "builtin",
    "authors",
    "license",
    "homepage",
    "repository",
];

impl Manifest {
    /// Parses the text of a manifest; `path` names it in errors (a file, or e.g.
    /// `builtin:chatml/plugin.toml`).
    pub fn parse(text: &str, path: impl Into<PathBuf>) -> Result<Manifest> {
        let path = path.into();
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| PluginError::manifest(&path, e.to_string().trim()))?;
        let mut warnings = Vec::new();
        let mut name = raw.name;
        let mut version = raw.version;
        let mut kind = raw.kind;
        let mut description = raw.description;
        let mut wit = raw.wit;
        let mut families = raw.families;
        let mut unknown: Vec<String> = raw.other.keys().cloned().collect();
        if let Some(p) = raw.plugin {
            name = name.or(p.name);
            version = version.or(p.version);
            kind = kind.or(p.kind);
            description = description.or(p.description);
            wit = wit.or(p.wit);
            families = families.or(p.families);
            unknown.extend(p.other.keys().map(|k| format!("plugin.{k}")));
        }
        for k in unknown {
            let bare = k.strip_prefix("plugin.").unwrap_or(&k);
            if !IGNORED_KEYS.contains(&bare) {
                warnings.push(format!("{}: unknown key `{k}` ignored", path.display()));
            }
        }
        if let Some(n) = &name {
            validate_name(n).map_err(|r| PluginError::manifest(&path, r))?;
        }
        let version = match version {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(v) => Some(v.to_string()),
        };
        let kind = match kind {
            None => None,
            Some(k) => Some(PluginKind::parse(&k).ok_or_else(|| {
                PluginError::manifest(
                    &path,
                    format!("kind = \"{k}\" is not one of \"template\", \"tool\", \"workflow\""),
                )
            })?),
        };
        if raw.capabilities.memory_mb == Some(0) {
            return Err(PluginError::manifest(
                &path,
                "capabilities.memory_mb must be at least 1",
            ));
        }
        for d in &raw.capabilities.dirs {
            if !d.is_absolute() {
                return Err(PluginError::manifest(
                    &path,
                    format!(
                        "capabilities.dirs entry \"{}\" must be an absolute path",
                        d.display()
                    ),
                ));
            }
        }
        let config = raw
            .config
            .into_iter()
            .map(|(k, v)| (k, value_to_string(v)))
            .collect();
        Ok(Manifest {
            name,
            version,
            kind,
            description,
            wit,
            families: families.unwrap_or_default(),
            capabilities: raw.capabilities,
            config,
            warnings,
        })
    }

    /// Reads and parses a manifest file.
    pub fn from_file(path: impl Into<PathBuf>) -> Result<Manifest> {
        let path = path.into();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PluginError::manifest(&path, "file not found (every plugin needs a manifest)")
            } else {
                PluginError::io(&path, e)
            }
        })?;
        Manifest::parse(&text, path)
    }
}

/// Turns a `[config]` value into the string the guest sees.
fn value_to_string(v: toml::Value) -> String {
    match v {
        toml::Value::String(s) => s,
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        other => serde_json::to_string(&other).unwrap_or_else(|_| other.to_string()),
    }
}

/// Checks a plugin name: 1 to 64 of `a-z 0-9 - _ .`, starting with a letter or digit.
pub(crate) fn validate_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name \"{name}\" is invalid: use 1 to 64 of lowercase letters, digits, '-', '_', '.', \
             starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_manifest() {
        let m = Manifest::parse(
            r#"
            name = "chatml"
            version = "0.2.0"
            kind = "template"
            description = "ChatML"
            wasm = "chatml.wasm"
            wit = "shimmy:plugin@0.1.0"
            families = ["qwen2", "qwen3"]
            [capabilities]
            memory_mb = 128
            dirs = ["/srv"]
            hosts = ["example.com"]
            [config]
            a = "x"
            n = 3
            b = true
            l = [1, 2]
            "#,
            "p/plugin.toml",
        )
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("chatml"));
        assert_eq!(m.kind, Some(PluginKind::Template));
        assert_eq!(m.families, ["qwen2", "qwen3"]);
        assert_eq!(m.wit.as_deref(), Some("shimmy:plugin@0.1.0"));
        assert_eq!(m.capabilities.memory_mb, Some(128));
        assert_eq!(m.config["n"], "3");
        assert_eq!(m.config["b"], "true");
        assert_eq!(m.config["l"], "[1,2]");
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn plugin_table_and_unknown_keys() {
        let m = Manifest::parse(
            "[plugin]\nname = \"x\"\nversion = \"1.0\"\nfoo = 1\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("x"));
        assert_eq!(m.version.as_deref(), Some("1.0"));
        assert_eq!(m.warnings.len(), 1);
        assert!(m.warnings[0].contains("plugin.foo"));
    }

    #[test]
    fn errors_name_the_file() {
        let e = Manifest::parse("name = ", "/p/bad/plugin.toml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/p/bad/plugin.toml: invalid plugin manifest"),
            "{e}"
        );
        let e = Manifest::parse("[capabilities]\nmemroy_mb = 3\n", "/p/t.toml").unwrap_err();
        assert!(e.to_string().contains("memroy_mb"), "{e}");
        let e = Manifest::parse("kind = \"widget\"", "/p/t.toml").unwrap_err();
        assert!(e.to_string().contains("widget"), "{e}");
        let e = Manifest::parse("name = \"Bad:Name\"", "/p/t.toml").unwrap_err();
        assert!(e.to_string().contains("Bad:Name"), "{e}");
        let e = Manifest::from_file("/nonexistent/plugin.toml").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/plugin.toml"), "{e}");
    }
}
