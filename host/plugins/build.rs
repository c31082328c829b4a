//! Build script of `shimmy-plugins`.
//!
//! 1. **Contract.** Generates `$OUT_DIR/bindings.rs` (the `bindgen!` calls on `wit/0.1.2`,
//!    and on the template and workflow worlds of `wit/0.1.1` and the template world of
//!    `wit/0.1.0` for the adapters of older plugins; included by `src/bindings.rs`). The plugin SDK and the test guests bind the same files, so host
//!    and guests cannot drift apart.
//! 2. **Plugins.** When `plugins/Cargo.toml` exists, runs
//!    `cargo build --release --target wasm32-wasip2` there, with its own target directory
//!    (`<this target dir>/wasm-plugins`) and the outer build's flags cleared, then finds every
//!    `plugin.toml` under `plugins/` and the `.wasm` its crate produced. It generates
//!    `$OUT_DIR/builtin.rs`: `BUILTINS` (the `include_bytes!`/`include_str!` triples of the
//!    built-in plugins) and `BUILT_PLUGINS` (paths of every built plugin, tests included).
//!    A plugin is a test plugin (not built in) when its name starts with `bad-` or `test-`,
//!    or its crate lives under a directory named `bad`, `test`, `tests`, `testing`, `examples` or
//!    `example`; `builtin = true|false` in its `plugin.toml` overrides that.
//!
//! Set `SHIMMY_SKIP_PLUGIN_BUILD=1` to skip step 2 (no built-ins; an escape hatch while
//! `plugins/` does not build).

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The contract the host binds (and plugins are built against).
const WIT_VERSION: &str = "0.1.2";
/// The contract before it (chat messages without reasoning), whose template and workflow
/// worlds the host adapts (see `src/v011.rs`).
const PREVIOUS_WIT_VERSION: &str = "0.1.1";
/// The older contract whose template world the host adapts (see `src/legacy.rs`).
const LEGACY_WIT_VERSION: &str = "0.1.0";
const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let root = manifest_dir.join("../..");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SHIMMY_SKIP_PLUGIN_BUILD");

    prepare_contract(&root, &out_dir);

    let plugins = if env::var_os("SHIMMY_SKIP_PLUGIN_BUILD").is_some_and(|v| v != "0") {
        println!("cargo:warning=SHIMMY_SKIP_PLUGIN_BUILD is set: no plugins are built in");
        Vec::new()
    } else {
        build_plugins(&root, &out_dir)
    };
    write_builtin_rs(&out_dir, &plugins);
}

// ---- contract ----------------------------------------------------------------------------

fn wit_dir(root: &Path, version: &str) -> String {
    let src = root.join("wit").join(version);
    println!("cargo:rerun-if-changed={}", src.display());
    let src = src
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    src.display().to_string().replace('\\', "/")
}

fn prepare_contract(root: &Path, out_dir: &Path) {
    let wit = wit_dir(root, WIT_VERSION);
    let previous = wit_dir(root, PREVIOUS_WIT_VERSION);
    let legacy = wit_dir(root, LEGACY_WIT_VERSION);
    let bindings = format!(
        r#"
/// The `template-plugin` world (and the shared `types`, `log`, `config` interfaces).
pub mod template {{
    wasmtime::component::bindgen!({{
        path: "{wit}",
        world: "template-plugin",
        imports: {{ default: trappable }},
        exports: {{ default: async }},
    }});
}}

/// The `tool-plugin` world.
pub mod tool {{
    wasmtime::component::bindgen!({{
        path: "{wit}",
        world: "tool-plugin",
        imports: {{ default: trappable }},
        exports: {{ default: async }},
        with: {{
            "shimmy:plugin/types": super::template::shimmy::plugin::types,
            "shimmy:plugin/log": super::template::shimmy::plugin::log,
            "shimmy:plugin/config": super::template::shimmy::plugin::config,
        }},
    }});
}}

/// The `workflow-plugin` world (adds the `inference` and `tools` imports).
pub mod workflow {{
    wasmtime::component::bindgen!({{
        path: "{wit}",
        world: "workflow-plugin",
        imports: {{
            "shimmy:plugin/inference": async | trappable,
            "shimmy:plugin/tools": async | trappable,
            default: trappable,
        }},
        exports: {{ default: async }},
        with: {{
            "shimmy:plugin/types": super::template::shimmy::plugin::types,
            "shimmy:plugin/log": super::template::shimmy::plugin::log,
            "shimmy:plugin/config": super::template::shimmy::plugin::config,
            "shimmy:plugin/inference.generation": crate::host::GenerationState,
        }},
    }});
}}

/// The `template-plugin` world of contract 0.1.1 (chat messages without reasoning), for the
/// adapter; it owns the 0.1.1 `types`. Its imports (`log`, `config`) are the current ones
/// (wasmtime links them by semver).
pub mod template_011 {{
    wasmtime::component::bindgen!({{
        path: "{previous}",
        world: "template-plugin",
        imports: {{ default: trappable }},
        exports: {{ default: async }},
        with: {{
            "shimmy:plugin/log": super::template::shimmy::plugin::log,
            "shimmy:plugin/config": super::template::shimmy::plugin::config,
        }},
    }});
}}

/// The `workflow-plugin` world of contract 0.1.1 (also what 0.1.0 workflows import), for the
/// adapter: its `inference` takes 0.1.1 chat messages. Linked into a linker of its own.
pub mod workflow_011 {{
    wasmtime::component::bindgen!({{
        path: "{previous}",
        world: "workflow-plugin",
        imports: {{
            "shimmy:plugin/inference": async | trappable,
            default: trappable,
        }},
        exports: {{ default: async }},
        with: {{
            "shimmy:plugin/types": super::template_011::shimmy::plugin::types,
            "shimmy:plugin/log": super::template::shimmy::plugin::log,
            "shimmy:plugin/config": super::template::shimmy::plugin::config,
            "shimmy:plugin/tools": super::workflow::shimmy::plugin::tools,
            "shimmy:plugin/inference.generation": crate::host::GenerationState,
        }},
    }});
}}

/// The `template-plugin` world of contract 0.1.0 (no `render-spans`, no `output-parser`),
/// for the adapter; its types are those of 0.1.1 (the same), its imports the current ones
/// (wasmtime links them by semver).
pub mod legacy_template {{
    wasmtime::component::bindgen!({{
        path: "{legacy}",
        world: "template-plugin",
        imports: {{ default: trappable }},
        exports: {{ default: async }},
        with: {{
            "shimmy:plugin/types": super::template_011::shimmy::plugin::types,
            "shimmy:plugin/log": super::template::shimmy::plugin::log,
            "shimmy:plugin/config": super::template::shimmy::plugin::config,
        }},
    }});
}}
"#
    );
    fs::write(out_dir.join("bindings.rs"), bindings).unwrap();
}

// ---- plugins -----------------------------------------------------------------------------

struct Built {
    name: String,
    wasm: PathBuf,
    manifest: PathBuf,
    builtin: bool,
}

fn build_plugins(root: &Path, out_dir: &Path) -> Vec<Built> {
    let plugins_dir = root.join("plugins");
    let ws_manifest = plugins_dir.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", ws_manifest.display());
    println!(
        "cargo:rerun-if-changed={}",
        plugins_dir.join("Cargo.lock").display()
    );
    if !ws_manifest.exists() {
        println!(
            "cargo:warning={} does not exist yet: no plugins are built in",
            ws_manifest.display()
        );
        return Vec::new();
    }
    let plugins_dir = plugins_dir.canonicalize().unwrap();
    // Watch every source directory of the plugins workspace (not its target directory).
    for e in fs::read_dir(&plugins_dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        println!("cargo:rerun-if-changed={}", e.path().display());
    }

    check_wasm_target();

    // `<target>/<profile>/build/shimmy-plugins-<hash>/out` -> `<target>/wasm-plugins`.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("wasm-plugins"))
        .unwrap_or_else(|| out_dir.join("wasm-plugins"));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&plugins_dir)
        .args(["build", "--release", "--target", WASM_TARGET])
        .env("CARGO_TARGET_DIR", &target_dir);
    for (k, _) in env::vars_os() {
        let k = k.to_string_lossy();
        let clear = matches!(
            k.as_ref(),
            "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "OUT_DIR"
                | "TARGET"
                | "HOST"
                | "PROFILE"
                | "OPT_LEVEL"
                | "DEBUG"
                | "NUM_JOBS"
        ) || (k.starts_with("CARGO_")
            && !matches!(
                k.as_ref(),
                "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_NET_OFFLINE" | "CARGO_TERM_COLOR"
            )
            && !k.starts_with("CARGO_REGISTRIES_")
            && !k.starts_with("CARGO_HTTP_")
            && !k.starts_with("CARGO_NET_"))
            || k.starts_with("__CARGO");
        if clear {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.env("CARGO_TARGET_DIR", &target_dir);
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{cargo} build` in {}: {e}",
            plugins_dir.display()
        )
    });
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`")
        {
            panic!("the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`\n{stderr}");
        }
        panic!(
            "building the plugins failed (`cargo build --release --target {WASM_TARGET}` in {}; \
             set SHIMMY_SKIP_PLUGIN_BUILD=1 to build without built-in plugins):\n{stderr}",
            plugins_dir.display()
        );
    }
    let release = target_dir.join(WASM_TARGET).join("release");

    let mut manifests = Vec::new();
    find_manifests(&plugins_dir, &mut manifests);
    manifests.sort();
    let mut seen = BTreeMap::new();
    let mut built = Vec::new();
    for manifest in manifests {
        let dir = manifest.parent().unwrap();
        let Some(crate_name) = crate_lib_name(&dir.join("Cargo.toml")) else {
            println!(
                "cargo:warning={}: no Cargo.toml with a [package] beside it; skipped",
                manifest.display()
            );
            continue;
        };
        let wasm = release.join(format!("{crate_name}.wasm"));
        if !wasm.exists() {
            println!(
                "cargo:warning={}: {} was not built (is the crate a member of plugins/Cargo.toml \
                 with crate-type cdylib?); skipped",
                manifest.display(),
                wasm.display()
            );
            continue;
        }
        let toml_text = fs::read_to_string(&manifest).unwrap();
        // Malformed manifests are reported by the runtime, naming the file.
        let table: toml::Table = toml_text.parse().unwrap_or_default();
        let plugin_table = table.get("plugin").and_then(|v| v.as_table());
        let get = |k: &str| {
            table
                .get(k)
                .or_else(|| plugin_table.and_then(|p| p.get(k)))
                .cloned()
        };
        let name = get("name")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| crate_name.replace('_', "-"));
        let rel = dir.strip_prefix(&plugins_dir).unwrap_or(dir);
        let test_dir = rel.components().any(|c| {
            matches!(
                c.as_os_str().to_str(),
                Some("bad" | "tests" | "test" | "testing" | "examples" | "example")
            )
        });
        let builtin = match get("builtin").and_then(|v| v.as_bool()) {
            Some(b) => b,
            None => !(name.starts_with("bad-") || name.starts_with("test-") || test_dir),
        };
        if let Some(prev) = seen.insert(name.clone(), manifest.clone()) {
            println!(
                "cargo:warning=plugin name \"{name}\" is used by {} and {}; the second wins",
                prev.display(),
                manifest.display()
            );
            built.retain(|b: &Built| b.name != name);
        }
        built.push(Built {
            name,
            wasm,
            manifest,
            builtin,
        });
    }
    built
}

/// Fails with the fix when the wasm32-wasip2 standard library is not installed.
fn check_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(sysroot) = sysroot {
        let lib = sysroot.join("lib").join("rustlib").join(WASM_TARGET);
        if !lib.exists() {
            panic!(
                "the {WASM_TARGET} target is not installed ({} is missing): run \
                 `rustup target add {WASM_TARGET}` (or set SHIMMY_SKIP_PLUGIN_BUILD=1 to build \
                 without built-in plugins)",
                lib.display()
            );
        }
    }
}

fn find_manifests(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            find_manifests(&p, out);
        } else if name == "plugin.toml" {
            out.push(p);
        }
    }
}

/// The library name cargo gives the crate's artifact (`[lib] name`, or the package name with
/// `-` as `_`).
fn crate_lib_name(cargo_toml: &Path) -> Option<String> {
    let t: toml::Table = fs::read_to_string(cargo_toml).ok()?.parse().ok()?;
    if let Some(n) = t
        .get("lib")
        .and_then(|l| l.get("name"))
        .and_then(|n| n.as_str())
    {
        return Some(n.to_owned());
    }
    let n = t.get("package")?.get("name")?.as_str()?;
    Some(n.replace('-', "_"))
}

fn write_builtin_rs(out_dir: &Path, plugins: &[Built]) {
    let lit = |p: &Path| format!("{:?}", p.display().to_string());
    let mut s = String::new();
    s.push_str("/// Built-in plugins: `(name, wasm, plugin.toml)`, embedded in the binary.\n");
    s.push_str("pub static BUILTINS: &[(&str, &[u8], &str)] = &[\n");
    for p in plugins.iter().filter(|p| p.builtin) {
        let _ = writeln!(
            s,
            "    ({:?}, include_bytes!({}), include_str!({})),",
            p.name,
            lit(&p.wasm),
            lit(&p.manifest)
        );
    }
    s.push_str("];\n\n");
    s.push_str(
        "/// Every plugin the build produced (built-ins and test plugins): \
         `(name, wasm path, plugin.toml path, built in)`. Paths are absolute paths of the \
         build machine, for tests and benchmarks.\n",
    );
    s.push_str("pub static BUILT_PLUGINS: &[(&str, &str, &str, bool)] = &[\n");
    for p in plugins {
        let _ = writeln!(
            s,
            "    ({:?}, {}, {}, {}),",
            p.name,
            lit(&p.wasm),
            lit(&p.manifest),
            p.builtin
        );
    }
    s.push_str("];\n");
    fs::write(out_dir.join("builtin.rs"), s).unwrap();
}
