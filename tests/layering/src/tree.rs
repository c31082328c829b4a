//! The module tree of a crate, read from its files: `mod name;` declarations lead to
//! `name.rs` or `name/mod.rs`, inline `mod name { ... }` blocks are modules of their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::lexer::{tokens, Tok, Token};

/// A module path from the crate root (`[]` is the root, `["openai", "chat"]` is
/// `crate::openai::chat`).
pub type ModPath = Vec<String>;

/// One source file and the module its text starts in.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file.
    pub path: PathBuf,
    /// The module the file is.
    pub module: ModPath,
    /// Its tokens.
    pub tokens: Vec<Token>,
    /// For each token, the module it is in (the file's own, or an inline one).
    pub scope: Vec<ModPath>,
}

/// Every module of a crate and the files they come from.
#[derive(Debug, Default)]
pub struct ModuleTree {
    /// Every module (inline ones included), with the file that holds it.
    pub modules: BTreeMap<ModPath, PathBuf>,
    /// Every file, in the order read.
    pub files: Vec<SourceFile>,
}

impl ModuleTree {
    /// Reads the crate whose root file (`lib.rs` or `main.rs`) is `root`.
    pub fn read(root: &Path) -> Result<ModuleTree, String> {
        let mut tree = ModuleTree::default();
        tree.read_file(root, Vec::new(), true)?;
        Ok(tree)
    }

    /// Whether `path` is a module of the crate.
    pub fn contains(&self, path: &[String]) -> bool {
        self.modules.contains_key(path)
    }

    fn read_file(&mut self, file: &Path, module: ModPath, owns_dir: bool) -> Result<(), String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let toks = tokens(&text);
        self.modules.insert(module.clone(), file.to_path_buf());
        // The folder where this file's child modules live.
        let dir = if owns_dir {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            let stem = file.file_stem().map(|s| s.to_string_lossy().to_string());
            file.parent()
                .map(|p| p.join(stem.unwrap_or_default()))
                .unwrap_or_default()
        };
        // Inline modules: (path, brace depth inside them).
        let mut stack: Vec<(ModPath, usize)> = vec![(module.clone(), 0)];
        let mut depth = 0usize;
        let mut children = Vec::new();
        let mut scope = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            let current = stack.last().map(|(p, _)| p.clone()).unwrap_or_default();
            scope.resize(i + 1, current);
            match &toks[i].tok {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if stack.len() > 1 && stack.last().is_some_and(|(_, d)| *d > depth) {
                        stack.pop();
                    }
                }
                Tok::Ident(kw) if kw == "mod" => {
                    if let (Some(Tok::Ident(name)), Some(next)) = (
                        toks.get(i + 1).map(|t| &t.tok),
                        toks.get(i + 2).map(|t| &t.tok),
                    ) {
                        let mut path = stack.last().map(|(p, _)| p.clone()).unwrap_or_default();
                        path.push(name.clone());
                        match next {
                            Tok::Punct(';') if stack.len() == 1 => {
                                children.push((name.clone(), path));
                            }
                            Tok::Punct('{') => {
                                self.modules.insert(path.clone(), file.to_path_buf());
                                depth += 1;
                                scope.resize(i + 3, path.clone());
                                stack.push((path, depth));
                                i += 3;
                                continue;
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.files.push(SourceFile {
            path: file.to_path_buf(),
            module,
            tokens: toks,
            scope,
        });
        for (name, path) in children {
            let flat = dir.join(format!("{name}.rs"));
            let nested = dir.join(&name).join("mod.rs");
            if flat.is_file() {
                self.read_file(&flat, path, false)?;
            } else if nested.is_file() {
                self.read_file(&nested, path, true)?;
            } else {
                return Err(format!(
                    "{}: `mod {name};` but neither {} nor {} exists",
                    file.display(),
                    flat.display(),
                    nested.display()
                ));
            }
        }
        Ok(())
    }
}
