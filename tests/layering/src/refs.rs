//! The references a module makes to other modules of its crate: `use` trees and paths that
//! start with `crate::`, `self::` or `super::`, resolved against the module tree to the
//! deepest module they name.

use crate::lexer::Tok;
use crate::tree::{ModPath, ModuleTree, SourceFile};

/// One reference from a module to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The module that refers.
    pub from: ModPath,
    /// The module referred to.
    pub to: ModPath,
    /// Where: `file:line`.
    pub at: String,
}

/// Every reference in the crate's files.
pub fn references(tree: &ModuleTree) -> Vec<Reference> {
    let mut out = Vec::new();
    for file in &tree.files {
        let mut i = 0;
        while i < file.tokens.len() {
            match &file.tokens[i].tok {
                Tok::Ident(kw) if kw == "use" => {
                    let mut paths = Vec::new();
                    i = use_tree(file, i + 1, Vec::new(), &mut paths);
                    for (path, line) in paths {
                        push(tree, file, &file.scope[line.1], &path, line.0, &mut out);
                    }
                }
                Tok::Ident(kw) if is_anchor(kw) && is_sep(file, i + 1) => {
                    // A path in code or a type: crate::a::b, super::x, self::y.
                    let mut path = vec![kw.clone()];
                    let mut j = i + 1;
                    while is_sep(file, j) {
                        match file.tokens.get(j + 1).map(|t| &t.tok) {
                            Some(Tok::Ident(seg)) => {
                                path.push(seg.clone());
                                j += 2;
                            }
                            _ => break,
                        }
                    }
                    push(
                        tree,
                        file,
                        &file.scope[i],
                        &path,
                        file.tokens[i].line,
                        &mut out,
                    );
                    i = j;
                }
                _ => i += 1,
            }
        }
    }
    out
}

fn is_anchor(word: &str) -> bool {
    matches!(word, "crate" | "self" | "super")
}

fn is_sep(file: &SourceFile, i: usize) -> bool {
    matches!(file.tokens.get(i).map(|t| &t.tok), Some(Tok::PathSep))
}

/// Reads a use tree starting at `i` with the segments of the enclosing groups in `prefix`;
/// pushes every full path (with its line and token index) and returns the index after it.
fn use_tree(
    file: &SourceFile,
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, (usize, usize))>,
) -> usize {
    let mut path = prefix;
    let start = i;
    if is_sep(file, i) {
        // `use ::extern_crate::...`
        i += 1;
    }
    loop {
        match file.tokens.get(i).map(|t| &t.tok) {
            Some(Tok::Ident(seg)) if seg != "as" => {
                path.push(seg.clone());
                i += 1;
                if is_sep(file, i) {
                    i += 1;
                    continue;
                }
                let line = file.tokens.get(start).map_or(0, |t| t.line);
                out.push((path, (line, start.min(file.scope.len() - 1))));
                // Skip an `as name`.
                if matches!(file.tokens.get(i).map(|t| &t.tok), Some(Tok::Ident(w)) if w == "as") {
                    i += 2;
                }
                return end_of_tree(file, i);
            }
            Some(Tok::Punct('*')) => {
                let line = file.tokens.get(start).map_or(0, |t| t.line);
                out.push((path, (line, start.min(file.scope.len() - 1))));
                return end_of_tree(file, i + 1);
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    match file.tokens.get(i).map(|t| &t.tok) {
                        Some(Tok::Punct('}')) => return end_of_tree(file, i + 1),
                        Some(Tok::Punct(',')) => i += 1,
                        None => return i,
                        _ => i = use_tree(file, i, path.clone(), out),
                    }
                }
            }
            _ => return i + 1,
        }
    }
}

/// After one use tree: stays on a `,` or `}` of the enclosing group, steps over a `;`.
fn end_of_tree(file: &SourceFile, i: usize) -> usize {
    match file.tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Punct(';')) => i + 1,
        _ => i,
    }
}

/// Resolves `path` (as written in module `scope`) and records it when it names a module.
fn push(
    tree: &ModuleTree,
    file: &SourceFile,
    scope: &ModPath,
    path: &[String],
    line: usize,
    out: &mut Vec<Reference>,
) {
    let Some(first) = path.first() else { return };
    let (mut base, rest): (ModPath, &[String]) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (scope.clone(), &path[1..]),
        "super" => {
            let mut base = scope.clone();
            let mut k = 0;
            while path.get(k).is_some_and(|s| s == "super") {
                base.pop();
                k += 1;
            }
            (base, &path[k..])
        }
        // `use child::Item` (a module of this one) or an external crate.
        _ => {
            let mut child = scope.clone();
            child.push(first.clone());
            if !tree.contains(&child) {
                return;
            }
            (scope.clone(), path)
        }
    };
    for seg in rest {
        let mut next = base.clone();
        next.push(seg.clone());
        if !tree.contains(&next) {
            break;
        }
        base = next;
    }
    out.push(Reference {
        from: scope.clone(),
        to: base,
        at: format!("{}:{line}", file.path.display()),
    });
}
