//! Every crate of the host workspace has a module graph without cycles.

use std::path::Path;

#[test]
fn host_crates_have_no_module_cycles() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut report = String::new();
    for root in shimmy_layering::HOST_CRATES {
        let cycles =
            shimmy_layering::check(&workspace.join(root)).unwrap_or_else(|e| panic!("{root}: {e}"));
        for c in cycles {
            report.push_str(&format!("{root}: {c}"));
        }
    }
    assert!(report.is_empty(), "module cycles:\n{report}");
}

#[test]
fn every_workspace_member_is_checked() {
    // A crate added to the workspace but not to HOST_CRATES would escape the checker.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = ["))
        .expect("a `members = [...]` line in the root Cargo.toml");
    let members: Vec<&str> = members
        .trim_end_matches(']')
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 8, "{members:?}");
    for member in members {
        assert!(
            shimmy_layering::HOST_CRATES
                .iter()
                .any(|root| root.starts_with(&format!("{member}/src/"))),
            "{member} is a workspace member missing from shimmy_layering::HOST_CRATES"
        );
    }
}

#[test]
fn a_cycle_across_files_is_reported_with_its_imports() {
    let dir = std::env::temp_dir().join(format!("shimmy-layering-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::inner::X;\n").unwrap();
    std::fs::write(dir.join("b/mod.rs"), "pub mod inner;\n").unwrap();
    std::fs::write(
        dir.join("b/inner.rs"),
        "// use crate::c; (a comment)\npub struct X;\nfn f() { let _ = \"crate::c\"; super::super::a::g(); }\n",
    )
    .unwrap();
    std::fs::write(dir.join("c.rs"), "use crate::{a, b::{self, inner}};\n").unwrap();
    let cycles = shimmy_layering::check(&dir.join("lib.rs")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(cycles[0].modules, ["crate::a", "crate::b"]);
    let edges = cycles[0].edges.join("\n");
    assert!(
        edges.contains("crate::a -> crate::b (") && edges.contains("a.rs:1)"),
        "{edges}"
    );
    assert!(
        edges.contains("crate::b -> crate::a (") && edges.contains("inner.rs:3)"),
        "{edges}"
    );
}
