//! `shimmy-layering`: checks that the modules of a crate import each other without cycles.
//!
//! Among the children of one module, imports must form a DAG: each module imports only
//! modules below it. [`check`] reads a crate from its root file (the `mod` declarations lead
//! to the other files), collects every `use` tree and every `crate::` / `self::` / `super::`
//! path, lifts each reference to the two sibling modules it connects ([`graph`]) and reports
//! the cycles with one place per edge, so they can be fixed.
//!
//! Run `cargo run -p shimmy-layering` to check the host workspace's crates (CI does), or
//! pass crate root files.

pub mod graph;
pub mod lexer;
pub mod refs;
pub mod tree;

use std::path::Path;

use graph::Edge;

/// The crates of the host workspace, as root files relative to the workspace root.
pub const HOST_CRATES: &[&str] = &[
    "host/core/src/lib.rs",
    "host/plugins/src/lib.rs",
    "host/hub/src/lib.rs",
    "host/engine/src/lib.rs",
    "host/server/src/lib.rs",
    "host/cli/src/main.rs",
    "backends/llama/src/lib.rs",
    "tests/testkit/src/lib.rs",
    "tests/layering/src/lib.rs",
];

/// One cycle: its modules and the edges between them.
#[derive(Debug, Clone)]
pub struct Cycle {
    /// The modules, as `crate::a::b`.
    pub modules: Vec<String>,
    /// The imports that close it, `from -> to (file:line)`.
    pub edges: Vec<String>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "cycle among {}:", self.modules.join(", "))?;
        for e in &self.edges {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

fn name(path: &[String]) -> String {
    std::iter::once("crate")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("::")
}

/// The module cycles of the crate whose root file is `root`.
pub fn check(root: &Path) -> Result<Vec<Cycle>, String> {
    let tree = tree::ModuleTree::read(root)?;
    let refs = refs::references(&tree);
    let edges = graph::edges(&refs);
    Ok(graph::cycles(&edges)
        .into_iter()
        .map(|modules| {
            let inside = |e: &&Edge| modules.contains(&e.from) && modules.contains(&e.to);
            Cycle {
                modules: modules.iter().map(|m| name(m)).collect(),
                edges: edges
                    .iter()
                    .filter(inside)
                    .map(|e| format!("{} -> {} ({})", name(&e.from), name(&e.to), e.at))
                    .collect(),
            }
        })
        .collect())
}
