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
