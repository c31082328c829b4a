//! The import graph between sibling modules and its cycles.
//!
//! A reference from `a::x::y` to `a::z` is an edge `a::x -> a::z`: references are lifted to
//! the two children of their common ancestor. A module's use of its own ancestors' items
//! (`super::Item`) and a parent's use of its own children are not edges: a parent declares
//! and re-exports its children, the children share its items. Every other pair must point
//! one way only: among the children of one module the imports form a DAG.

use std::collections::{BTreeMap, BTreeSet};

use crate::refs::Reference;
use crate::tree::ModPath;

/// An edge between two sibling modules, with one place that makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The importing module.
    pub from: ModPath,
    /// The imported module.
    pub to: ModPath,
    /// A `file:line` where the import is made.
    pub at: String,
}

/// The sibling edges of `refs` (one per pair, the first place seen).
pub fn edges(refs: &[Reference]) -> Vec<Edge> {
    let mut seen: BTreeMap<(ModPath, ModPath), String> = BTreeMap::new();
    for r in refs {
        let common = r.from.iter().zip(&r.to).take_while(|(a, b)| a == b).count();
        if common == r.from.len() || common == r.to.len() {
            continue; // an ancestor or a descendant
        }
        let from = r.from[..=common].to_vec();
        let to = r.to[..=common].to_vec();
        seen.entry((from, to)).or_insert_with(|| r.at.clone());
    }
    seen.into_iter()
        .map(|((from, to), at)| Edge { from, to, at })
        .collect()
}

/// The strongly connected components with more than one module (Tarjan), each sorted.
pub fn cycles(edges: &[Edge]) -> Vec<Vec<ModPath>> {
    let nodes: BTreeSet<&ModPath> = edges.iter().flat_map(|e| [&e.from, &e.to]).collect();
    let index_of: BTreeMap<&ModPath, usize> =
        nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let names: Vec<&ModPath> = nodes.into_iter().collect();
    let mut adj = vec![Vec::new(); names.len()];
    for e in edges {
        adj[index_of[&e.from]].push(index_of[&e.to]);
    }
    let mut t = Tarjan {
        adj: &adj,
        index: vec![None; names.len()],
        low: vec![0; names.len()],
        on_stack: vec![false; names.len()],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..names.len() {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    let mut out: Vec<Vec<ModPath>> = t
        .out
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut c: Vec<ModPath> = c.into_iter().map(|i| names[i].clone()).collect();
            c.sort();
            c
        })
        .collect();
    out.sort();
    out
}

struct Tarjan<'a> {
    adj: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    out: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.adj[v] {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.out.push(component);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(from: &str, to: &str) -> Reference {
        let path = |s: &str| -> ModPath {
            s.split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        Reference {
            from: path(from),
            to: path(to),
            at: "x.rs:1".into(),
        }
    }

    #[test]
    fn references_lift_to_siblings_and_ancestors_do_not_count() {
        let e = edges(&[
            r("a::x", "b"),
            r("a::x", "a"),
            r("a", "a::x"),
            r("a::x", "a::y"),
        ]);
        let pairs: Vec<(String, String)> = e
            .iter()
            .map(|e| (e.from.join("::"), e.to.join("::")))
            .collect();
        assert_eq!(
            pairs,
            [("a".into(), "b".into()), ("a::x".into(), "a::y".into())]
        );
    }

    #[test]
    fn cycles_are_found_and_dags_pass() {
        let dag = edges(&[r("a", "b"), r("b", "c"), r("a", "c")]);
        assert!(cycles(&dag).is_empty());
        let cyclic = edges(&[r("a", "b"), r("b", "c"), r("c", "a"), r("c", "d")]);
        let found = cycles(&cyclic);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), 3);
    }
}
