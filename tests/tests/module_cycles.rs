//! No module cycles in any crate of the workspace: within every module, the graph of which
//! child module names which sibling (through `crate::...`, `super::...` paths and `use`
//! trees, comments and `#[cfg(test)]` modules left out) has no cycle. A cycle means two
//! modules each need the other, so neither can be read, tested or moved alone.
//!
//! The check reads the source as text: a module is a file (`lib.rs`, `name.rs`,
//! `name/mod.rs`; test-only `tests.rs` files are left out like inline test modules); a reference from module `a::b::c` to `a::d::e` is the edge `b -> d` inside
//! `a`. Its broken twin (a small tree with a cycle) must be caught.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates' source roots, relative to the workspace root.
const CRATES: &[&str] = &[
    "rseq-abi/src",
    "rseq-percpu/src",
    "rseq-macros/src",
    "rseq-link-check/src",
    "testkit/src",
];

/// Module path (from the crate root) of a source file under `root`.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// The text of a file without comments, string contents and `#[cfg(test)]` modules.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    // Drop string literals (paths inside quote!/format strings are not dependencies).
    let mut code = String::new();
    let mut in_str = false;
    let mut prev = ' ';
    for c in out.chars() {
        if c == '"' && prev != '\\' && prev != '\'' {
            in_str = !in_str;
        } else if !in_str {
            code.push(c);
        }
        prev = c;
    }
    if let Some(at) = code.find("#[cfg(test)]\nmod tests") {
        code.truncate(at);
    }
    code
}

/// Every path a piece of code names through `crate::` or `super::`, expanded from `use`
/// trees (`crate::{a::x, b::{c, d}}`), resolved against `module`.
fn referenced_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if boundary && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let (base, skip) = if rest.starts_with("crate::") {
                (Vec::new(), 7)
            } else {
                let mut base = module.to_vec();
                let mut j = i;
                // `super::super::...`
                while bytes[j..].iter().collect::<String>().starts_with("super::") {
                    base.pop();
                    j += 7;
                }
                (base, j - i)
            };
            let mut j = i + skip;
            parse_tree(&bytes, &mut j, base, &mut out);
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Parses one use tree (`a::b`, `a::{b, c::d}`) at `*j`, pushing every full path.
fn parse_tree(s: &[char], j: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        while *j < s.len() && s[*j].is_whitespace() {
            *j += 1;
        }
        if *j < s.len() && s[*j] == '{' {
            *j += 1;
            loop {
                parse_tree(s, j, path.clone(), out);
                while *j < s.len() && s[*j].is_whitespace() {
                    *j += 1;
                }
                match s.get(*j) {
                    Some(',') => *j += 1,
                    Some('}') => {
                        *j += 1;
                        return;
                    }
                    _ => return,
                }
                while *j < s.len() && s[*j].is_whitespace() {
                    *j += 1;
                }
                if s.get(*j) == Some(&'}') {
                    *j += 1;
                    return;
                }
            }
        }
        let start = *j;
        while *j < s.len() && (s[*j].is_alphanumeric() || s[*j] == '_') {
            *j += 1;
        }
        if *j == start {
            out.push(path);
            return;
        }
        path.push(s[start..*j].iter().collect());
        if s[*j..].iter().take(2).collect::<String>() == "::" {
            *j += 2;
        } else {
            out.push(path);
            return;
        }
    }
}

/// Sibling edges inside each parent module: parent -> (from -> {to}).
type Graph = BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>>;

fn graph_of(root: &Path) -> Graph {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("tests.rs") {
                files.push(p);
            }
        }
    }
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(root, f)).collect();
    let mut graph = Graph::new();
    for f in &files {
        let m = module_of(root, f);
        let code = code_of(&fs::read_to_string(f).unwrap());
        for target in referenced_paths(&code, &m) {
            // The longest prefix of the target that is a module.
            let Some(t) = (0..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|p| modules.contains(p))
            else {
                continue;
            };
            let k = m.iter().zip(&t).take_while(|(a, b)| a == b).count();
            if k < m.len() && k < t.len() {
                graph
                    .entry(m[..k].to_vec())
                    .or_default()
                    .entry(m[k].clone())
                    .or_default()
                    .insert(t[k].clone());
            }
        }
    }
    graph
}

/// The cycles of the graph, one line each (`parent: a -> b -> a`).
fn cycles(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (parent, edges) in graph {
        for start in edges.keys() {
            // Depth-first search for a path back to `start`.
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((node, path)) = stack.pop() {
                for next in edges.get(&node).into_iter().flatten() {
                    if next == start {
                        let mut cycle = path.clone();
                        cycle.push(start.clone());
                        // Report each cycle once, from its smallest member.
                        if path.iter().min() == Some(start) {
                            found.push(format!("{}: {}", parent.join("::"), cycle.join(" -> ")));
                        }
                    } else if seen.insert(next.clone()) {
                        let mut p = path.clone();
                        p.push(next.clone());
                        stack.push((next.clone(), p));
                    }
                }
            }
        }
    }
    found
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn no_crate_has_a_module_cycle() {
    let mut all = Vec::new();
    let mut checked = 0;
    for krate in CRATES {
        let root = workspace_root().join(krate);
        if !root.exists() {
            continue;
        }
        checked += 1;
        all.extend(
            cycles(&graph_of(&root))
                .into_iter()
                .map(|c| format!("{krate}: {c}")),
        );
    }
    assert!(checked >= 4, "crate roots not found");
    assert!(all.is_empty(), "module cycles:\n{}", all.join("\n"));
}

#[test]
fn a_cycle_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::create_dir_all(src.join("verify")).unwrap();
    fs::write(src.join("lib.rs"), "pub mod diag;\npub mod verify;\n").unwrap();
    fs::write(
        src.join("diag.rs"),
        "// crate::nothing in a comment\nuse crate::verify::Code;\n",
    )
    .unwrap();
    fs::write(src.join("verify/mod.rs"), "pub mod finding;\n").unwrap();
    fs::write(
        src.join("verify/finding.rs"),
        "use crate::{diag::{Diagnostic, Severity}, verify::finding};\n",
    )
    .unwrap();
    let found = cycles(&graph_of(src));
    assert_eq!(found, vec![": diag -> verify -> diag".to_string()]);
    // Without the back edge there is none.
    fs::write(src.join("verify/finding.rs"), "use super::Thing;\n").unwrap();
    assert!(cycles(&graph_of(src)).is_empty());
}
