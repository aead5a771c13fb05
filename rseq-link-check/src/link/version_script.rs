//! Version scripts (`--version-script`) and dynamic lists (`--dynamic-list`): which global
//! symbols a link keeps in `.dynsym` and which it turns local.
//!
//! Only what decides a symbol's fate is modelled: version nodes with `global:` and `local:`
//! pattern lists (shell globs `*`, `?`, `[...]`), `extern "C"` blocks, comments. As in GNU ld,
//! an exact name beats any glob, and a global glob beats a local one; `local: *;` is the
//! weakest pattern of all.

use std::path::Path;

use super::LinkError;

/// One pattern of a version script or dynamic list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SymbolPattern {
    /// The pattern as written.
    pub pattern: String,
    /// The version node it appears in (empty for an anonymous node or a dynamic list).
    pub version: String,
}

impl SymbolPattern {
    fn is_glob(&self) -> bool {
        self.pattern.contains(['*', '?', '['])
    }
}

/// A parsed version script.
#[derive(Debug, Clone, Default)]
pub struct VersionScript {
    /// Patterns under `global:` (or before any `local:`).
    pub global: Vec<SymbolPattern>,
    /// Patterns under `local:`.
    pub local: Vec<SymbolPattern>,
}

/// What a version script says about one symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptVerdict {
    /// Exported, by the given pattern.
    Global(SymbolPattern),
    /// Made local, by the given pattern.
    Local(SymbolPattern),
    /// Not mentioned: exported.
    Unmentioned,
}

impl VersionScript {
    /// Reads and parses a version script file.
    pub fn read(path: &Path) -> Result<VersionScript, LinkError> {
        let text = std::fs::read_to_string(path).map_err(|e| LinkError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        VersionScript::parse(&text).map_err(|msg| LinkError::Script {
            path: path.to_path_buf(),
            message: msg,
        })
    }

    /// Parses version script text.
    pub fn parse(text: &str) -> Result<VersionScript, String> {
        let toks = tokenize(text)?;
        let mut vs = VersionScript::default();
        let mut i = 0;
        // Either an anonymous node `{ ... };` or named nodes `NAME { ... } DEPS;`.
        while i < toks.len() {
            let mut version = String::new();
            if toks[i] != "{" {
                version = toks[i].clone();
                i += 1;
            }
            if toks.get(i).map(String::as_str) != Some("{") {
                return Err(format!("expected `{{` after `{version}`"));
            }
            i += 1;
            i = parse_node(&toks, i, &version, &mut vs, false)?;
            // Dependencies up to `;`.
            while i < toks.len() && toks[i] != ";" {
                i += 1;
            }
            i += 1;
        }
        Ok(vs)
    }

    /// Decides whether `name` is exported or made local.
    pub fn verdict(&self, name: &str) -> ScriptVerdict {
        let exact_g = self
            .global
            .iter()
            .find(|p| !p.is_glob() && p.pattern == name);
        if let Some(p) = exact_g {
            return ScriptVerdict::Global(p.clone());
        }
        let exact_l = self
            .local
            .iter()
            .find(|p| !p.is_glob() && p.pattern == name);
        if let Some(p) = exact_l {
            return ScriptVerdict::Local(p.clone());
        }
        let glob_g = self
            .global
            .iter()
            .find(|p| p.is_glob() && p.pattern != "*" && glob_match(&p.pattern, name));
        if let Some(p) = glob_g {
            return ScriptVerdict::Global(p.clone());
        }
        let glob_l = self
            .local
            .iter()
            .find(|p| p.is_glob() && p.pattern != "*" && glob_match(&p.pattern, name));
        if let Some(p) = glob_l {
            return ScriptVerdict::Local(p.clone());
        }
        if let Some(p) = self.global.iter().find(|p| p.pattern == "*") {
            return ScriptVerdict::Global(p.clone());
        }
        if let Some(p) = self.local.iter().find(|p| p.pattern == "*") {
            return ScriptVerdict::Local(p.clone());
        }
        ScriptVerdict::Unmentioned
    }

    /// Appends another script's patterns (several `--version-script` options combine).
    pub fn merge(&mut self, other: VersionScript) {
        self.global.extend(other.global);
        self.local.extend(other.local);
    }
}

/// A parsed `--dynamic-list`: `{ pattern; ... };`.
#[derive(Debug, Clone, Default)]
pub struct DynamicList {
    /// The listed patterns.
    pub patterns: Vec<SymbolPattern>,
}

impl DynamicList {
    /// Reads and parses a dynamic list file.
    pub fn read(path: &Path) -> Result<DynamicList, LinkError> {
        let text = std::fs::read_to_string(path).map_err(|e| LinkError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        DynamicList::parse(&text).map_err(|msg| LinkError::Script {
            path: path.to_path_buf(),
            message: msg,
        })
    }

    /// Parses dynamic list text.
    pub fn parse(text: &str) -> Result<DynamicList, String> {
        let toks = tokenize(text)?;
        if toks.first().map(String::as_str) != Some("{") {
            return Err("a dynamic list starts with `{`".to_string());
        }
        let mut vs = VersionScript::default();
        parse_node(&toks, 1, "", &mut vs, true)?;
        Ok(DynamicList {
            patterns: vs.global,
        })
    }

    /// True when `name` is listed.
    pub fn contains(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(&p.pattern, name))
    }
}

/// Parses the body of a node from just after `{` to just after `}`; returns the next index.
fn parse_node(
    toks: &[String],
    mut i: usize,
    version: &str,
    vs: &mut VersionScript,
    list_only: bool,
) -> Result<usize, String> {
    let mut local = false;
    while i < toks.len() {
        let t = toks[i].as_str();
        match t {
            "}" => return Ok(i + 1),
            ";" => {}
            "global:" if !list_only => local = false,
            "local:" if !list_only => local = true,
            "extern" => {
                // `extern "C" { ... }` / `extern "C++" { ... }`: patterns inside are matched
                // against plain (C) or demangled names; we keep them as plain patterns.
                i += 1; // language string
                if toks.get(i + 1).map(String::as_str) == Some("{") {
                    i += 2;
                    while i < toks.len() && toks[i] != "}" {
                        if toks[i] != ";" {
                            push(vs, local, unquote(&toks[i]), version);
                        }
                        i += 1;
                    }
                }
            }
            _ => push(vs, local, unquote(t), version),
        }
        i += 1;
    }
    Err("unterminated `{`".to_string())
}

fn push(vs: &mut VersionScript, local: bool, pattern: String, version: &str) {
    let p = SymbolPattern {
        pattern,
        version: version.to_string(),
    };
    if local {
        vs.local.push(p);
    } else {
        vs.global.push(p);
    }
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

/// Splits script text into tokens: `{`, `}`, `;`, `global:`/`local:` and names.
fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut toks = Vec::new();
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            if i + 1 >= b.len() {
                return Err("unterminated comment".to_string());
            }
            i += 2;
        } else if matches!(c, '{' | '}' | ';') {
            toks.push(c.to_string());
            i += 1;
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != '"' {
                i += 1;
            }
            i += 1;
            toks.push(b[start..i.min(b.len())].iter().collect());
        } else {
            let start = i;
            while i < b.len() && !b[i].is_whitespace() && !matches!(b[i], '{' | '}' | ';') {
                i += 1;
                if b[i - 1] == ':' {
                    break;
                }
            }
            let t: String = b[start..i].iter().collect();
            // `global :` with a space.
            if t == ":" {
                if let Some(last) = toks.last_mut() {
                    last.push(':');
                }
            } else {
                toks.push(t);
            }
        }
    }
    Ok(toks)
}

/// Shell glob matching (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`), as `fnmatch` without flags.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking on the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class_match(&p, pi, n[ni]) {
                        if matched {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `c` against the bracket expression starting at `p[start] == '['`; returns whether
/// it matched and the index after `]`, or `None` when the expression is unterminated.
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustc_cdylib_script_localises_everything_else() {
        let vs =
            VersionScript::parse("{\n  global:\n    f;\n    g;\n\n  local:\n    *;\n};\n").unwrap();
        assert!(matches!(vs.verdict("f"), ScriptVerdict::Global(_)));
        assert!(matches!(vs.verdict("__rseq_abi"), ScriptVerdict::Local(_)));
    }

    #[test]
    fn exact_beats_glob_and_named_nodes() {
        let vs = VersionScript::parse(
            "# comment\nV1 { global: rseq_*; /* c */ local: __rseq_abi; }; V2 { global: x; } V1;",
        )
        .unwrap();
        assert!(matches!(vs.verdict("__rseq_abi"), ScriptVerdict::Local(_)));
        assert!(matches!(vs.verdict("rseq_x"), ScriptVerdict::Global(p) if p.version == "V1"));
        assert_eq!(vs.verdict("other"), ScriptVerdict::Unmentioned);
    }

    #[test]
    fn globs() {
        assert!(glob_match("__rseq_*", "__rseq_abi"));
        assert!(glob_match("*abi", "__rseq_abi"));
        assert!(glob_match("__rseq_?bi", "__rseq_abi"));
        assert!(glob_match("__rseq_[a-c]bi", "__rseq_abi"));
        assert!(!glob_match("__rseq_[!a]bi", "__rseq_abi"));
        assert!(!glob_match("rseq*", "__rseq_abi"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn dynamic_list() {
        let dl = DynamicList::parse("{ __rseq_abi; foo*; };").unwrap();
        assert!(dl.contains("__rseq_abi") && dl.contains("foobar") && !dl.contains("bar"));
        assert!(DynamicList::parse("__rseq_abi;").is_err());
    }

    #[test]
    fn unterminated_is_an_error() {
        assert!(VersionScript::parse("{ global: a;").is_err());
    }
}
