//! `shimmy-layering [ROOT_FILE...]`: prints the module cycles of each crate (by default the
//! host workspace's crates) and exits with 1 when there is one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let roots: Vec<PathBuf> = if args.is_empty() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        shimmy_layering::HOST_CRATES
            .iter()
            .map(|r| workspace.join(r))
            .collect()
    } else {
        args
    };
    let mut failed = false;
    for root in &roots {
        match shimmy_layering::check(root) {
            Ok(cycles) if cycles.is_empty() => println!("ok: {}", root.display()),
            Ok(cycles) => {
                failed = true;
                println!("{}: {} module cycle(s)", root.display(), cycles.len());
                for c in cycles {
                    print!("{c}");
                }
            }
            Err(e) => {
                failed = true;
                println!("error: {e}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
