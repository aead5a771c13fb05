//! What changed in the critical sections between two builds (`rseq-link-check asm --diff
//! OLD NEW`).
//!
//! Both files are listed ([`super::listing`]); sections are paired by the function that
//! holds them and their position among that function's sections (by `start_ip`). Each
//! listing line is normalised before comparison so that moving code does not count as a
//! change: branch targets become labels relative to the section or function (`start+0x12`,
//! `abort`, `post_commit_ip`, `exit`, `<function+0x40>`), RIP-relative displacements are
//! elided, addresses and encodings are left out. The instruction-level diff is
//! `similar`'s Myers diff of those lines.
//!
//! The fast path is the lead-in (from the descriptor's address being taken) plus the
//! section's instructions up to the commit: what runs on every uninterrupted operation.
//! Sections whose verdict changed or whose fast path grew are listed first.

use std::collections::BTreeMap;

use serde::Serialize;
use similar::{capture_diff_slices, Algorithm, DiffTag};

use super::listing::{AsmListing, Line, SectionListing};
use crate::error::ExitStatus;
use crate::verify::Severity;

/// How a section differs between the two builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SectionChange {
    /// Only in the new build.
    Added,
    /// Only in the old build.
    Removed,
    /// In both, with different instructions or verdict.
    Changed,
}

/// One side of a paired section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffSide {
    /// `start_ip` in that build.
    pub start_ip: u64,
    /// `ok`, `warning` or `error`, with the codes of the findings.
    pub verdict: String,
    /// Instructions on the fast path (lead-in and section).
    pub fast_path: usize,
}

/// One line of an instruction-level diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `' '` unchanged, `'-'` only in the old build, `'+'` only in the new one.
    pub tag: char,
    /// The normalised line (marker, mnemonic, operands).
    pub text: String,
}

/// A section that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionDiff {
    /// The function that holds it (demangled; `?` without symbols).
    pub function: String,
    /// Its position among that function's sections.
    pub position: usize,
    /// Added, removed or changed.
    pub change: SectionChange,
    /// The old build's side.
    pub old: Option<DiffSide>,
    /// The new build's side.
    pub new: Option<DiffSide>,
    /// The instruction-level diff (all lines of the section's listing).
    pub lines: Vec<DiffLine>,
}

impl SectionDiff {
    /// Whether the verdict differs (an added or removed section counts when not `ok`).
    pub fn verdict_changed(&self) -> bool {
        fn v(s: &Option<DiffSide>) -> &str {
            s.as_ref().map_or("ok", |s| s.verdict.as_str())
        }
        v(&self.old) != v(&self.new)
    }

    /// New fast path minus old (a missing side counts as 0).
    pub fn fast_path_delta(&self) -> i64 {
        let n = |s: &Option<DiffSide>| s.as_ref().map_or(0, |s| s.fast_path as i64);
        n(&self.new) - n(&self.old)
    }

    /// Listed first: a changed verdict or a longer fast path.
    pub fn is_notable(&self) -> bool {
        self.verdict_changed() || self.fast_path_delta() > 0
    }
}

/// The differences between the critical sections of two builds.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AsmDiff {
    /// The old file as given.
    pub old: String,
    /// The new file as given.
    pub new: String,
    /// Sections that differ, notable ones first.
    pub sections: Vec<SectionDiff>,
    /// Paired sections with no difference.
    pub unchanged: usize,
}

impl crate::report::Outcome for AsmDiff {
    /// [`ExitStatus::Findings`] when any section differs.
    fn exit_status(&self) -> ExitStatus {
        if self.sections.is_empty() {
            ExitStatus::Clean
        } else {
            ExitStatus::Findings
        }
    }
}

fn verdict(s: &SectionListing) -> String {
    let worst = s
        .section
        .findings
        .iter()
        .map(|f| f.severity)
        .filter(|&sev| sev != Severity::Info)
        .max_by_key(|&sev| sev == Severity::Error);
    match worst {
        None => "ok".to_string(),
        Some(sev) => {
            let mut codes: Vec<String> = s
                .section
                .findings
                .iter()
                .filter(|f| f.severity != Severity::Info)
                .map(|f| f.code.to_string())
                .collect();
            codes.dedup();
            format!("{sev}: {}", codes.join(", "))
        }
    }
}

fn fast_path(s: &SectionListing) -> usize {
    s.blocks.first().map_or(0, |b| {
        b.lines
            .iter()
            .filter(|l| l.addr < s.section.post_commit_ip.unwrap_or(0))
            .count()
    })
}

/// Replaces each `rip+0x…` / `rip-0x…` displacement with `rip+…`.
fn elide_rip(operands: &str) -> String {
    let mut out = String::new();
    let mut rest = operands;
    while let Some(k) = rest.find("rip") {
        out.push_str(&rest[..k + 3]);
        rest = &rest[k + 3..];
        if let Some(after) = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-')) {
            let digits = after
                .strip_prefix("0x")
                .map(|h| 2 + h.chars().take_while(char::is_ascii_hexdigit).count())
                .unwrap_or_else(|| after.chars().take_while(char::is_ascii_digit).count());
            if digits > 0 {
                out.push_str("+…");
                rest = &after[digits..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where a section is, for labelling branch destinations.
struct Frame<'a> {
    function: &'a str,
    start: u64,
    post: u64,
}

/// A branch destination as a label: the part of the listing's `→ …` comment that does not
/// depend on where the code was placed. A destination elsewhere in the section's own
/// function is counted from `start_ip` (before it) or `post_commit_ip` (after it), so an
/// instruction added inside the section does not change it.
fn label(place: &str, frame: &Frame<'_>) -> String {
    if let Some((addr, sym)) = place.split_once(" <") {
        let sym = sym.trim_end_matches('>');
        let own = sym
            .rsplit_once('+')
            .is_some_and(|(f, _)| f == frame.function)
            || sym == frame.function;
        let addr = addr
            .strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        return match addr {
            Some(a) if own && a >= frame.post => format!("post_commit_ip+{:#x}", a - frame.post),
            Some(a) if own && a < frame.start => format!("start-{:#x}", frame.start - a),
            _ => format!("<{sym}>"),
        };
    }
    if place.starts_with("exit ") {
        return "exit".to_string();
    }
    if place.starts_with("0x") {
        return "?".to_string();
    }
    place.to_string()
}

/// The line as compared: marker, mnemonic, operands with addresses normalised.
fn normalise(line: &Line, frame: &Frame<'_>) -> String {
    let marker = line.marker.map(|m| m.label()).unwrap_or("");
    let operands = match line.comment.as_deref().and_then(|c| c.strip_prefix("→ ")) {
        Some(place) => label(place, frame),
        None if matches!(line.mnemonic.as_str(), "call" | "bl" | "b") => "<call>".to_string(),
        None => elide_rip(&line.operands),
    };
    format!("{marker:<10}{:<7}{operands}", line.mnemonic)
        .trim_end()
        .to_string()
}

fn lines_of(s: &SectionListing) -> Vec<String> {
    let start = s.section.descriptor.start_ip;
    let frame = Frame {
        function: s.section.function.as_deref().unwrap_or("?"),
        start,
        post: s.section.post_commit_ip.unwrap_or(start),
    };
    s.blocks
        .iter()
        .flat_map(|b| {
            std::iter::once(format!("; {}", b.title))
                .chain(b.lines.iter().map(|l| normalise(l, &frame)))
        })
        .collect()
}

fn side(s: &SectionListing) -> DiffSide {
    DiffSide {
        start_ip: s.section.descriptor.start_ip,
        verdict: verdict(s),
        fast_path: fast_path(s),
    }
}

/// Sections by (function, position within the function by `start_ip`).
fn keyed(listing: &AsmListing) -> BTreeMap<(String, usize), &SectionListing> {
    let mut by_function: BTreeMap<String, Vec<&SectionListing>> = BTreeMap::new();
    for s in &listing.sections {
        let f = s
            .section
            .function
            .clone()
            .unwrap_or_else(|| "?".to_string());
        by_function.entry(f).or_default().push(s);
    }
    let mut out = BTreeMap::new();
    for (f, mut list) in by_function {
        list.sort_by_key(|s| s.section.descriptor.start_ip);
        for (k, s) in list.into_iter().enumerate() {
            out.insert((f.clone(), k), s);
        }
    }
    out
}

/// Notable sections (changed verdict, longer fast path) first; each group keeps its
/// (function, position) order.
fn order(sections: &mut [SectionDiff]) {
    sections.sort_by_key(|s| !s.is_notable());
}

/// Compares the listings of two builds.
pub fn diff_listings(old: &AsmListing, new: &AsmListing) -> AsmDiff {
    let (o, n) = (keyed(old), keyed(new));
    let mut keys: Vec<&(String, usize)> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut sections = Vec::new();
    let mut unchanged = 0;
    for key in keys {
        let (a, b) = (o.get(key), n.get(key));
        let (la, lb) = (a.map(|s| lines_of(s)), b.map(|s| lines_of(s)));
        let (sa, sb) = (a.map(|s| side(s)), b.map(|s| side(s)));
        let change = match (a, b) {
            (Some(_), None) => SectionChange::Removed,
            (None, Some(_)) => SectionChange::Added,
            _ => {
                let same_verdict =
                    sa.as_ref().map(|s| &s.verdict) == sb.as_ref().map(|s| &s.verdict);
                if la == lb && same_verdict {
                    unchanged += 1;
                    continue;
                }
                SectionChange::Changed
            }
        };
        let (la, lb) = (la.unwrap_or_default(), lb.unwrap_or_default());
        let mut lines = Vec::new();
        for op in capture_diff_slices(Algorithm::Myers, &la, &lb) {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => lines.extend(la[old_range].iter().map(|t| DiffLine {
                    tag: ' ',
                    text: t.clone(),
                })),
                DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                    lines.extend(la[old_range].iter().map(|t| DiffLine {
                        tag: '-',
                        text: t.clone(),
                    }));
                    lines.extend(lb[new_range].iter().map(|t| DiffLine {
                        tag: '+',
                        text: t.clone(),
                    }));
                }
            }
        }
        sections.push(SectionDiff {
            function: key.0.clone(),
            position: key.1,
            change,
            old: sa,
            new: sb,
            lines,
        });
    }
    order(&mut sections);
    AsmDiff {
        old: old.path.clone(),
        new: new.path.clone(),
        sections,
        unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(
        function: &str,
        old: Option<(&str, usize)>,
        new: Option<(&str, usize)>,
    ) -> SectionDiff {
        let side = |s: Option<(&str, usize)>| {
            s.map(|(verdict, fast_path)| DiffSide {
                start_ip: 0x1000,
                verdict: verdict.to_string(),
                fast_path,
            })
        };
        SectionDiff {
            function: function.to_string(),
            position: 0,
            change: SectionChange::Changed,
            old: side(old),
            new: side(new),
            lines: Vec::new(),
        }
    }

    #[test]
    fn changed_verdicts_and_longer_fast_paths_come_first() {
        let mut list = vec![
            section("a_shorter", Some(("ok", 9)), Some(("ok", 8))),
            section("b_longer", Some(("ok", 9)), Some(("ok", 10))),
            section("c_same_length", Some(("ok", 9)), Some(("ok", 9))),
            section("d_verdict", Some(("ok", 9)), Some(("error: rseq-x", 9))),
            section("e_removed_ok", Some(("ok", 9)), None),
            section("f_added_broken", None, Some(("error: rseq-x", 4))),
        ];
        order(&mut list);
        let names: Vec<&str> = list.iter().map(|s| s.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "b_longer",
                "d_verdict",
                "f_added_broken",
                "a_shorter",
                "c_same_length",
                "e_removed_ok"
            ]
        );
        assert_eq!(list[0].fast_path_delta(), 1);
        assert!(list[1].verdict_changed());
    }

    #[test]
    fn rip_displacements_are_elided() {
        assert_eq!(elide_rip("r9, [rip+0x48a71]"), "r9, [rip+…]");
        assert_eq!(elide_rip("[rip-0x10], eax"), "[rip+…], eax");
        assert_eq!(elide_rip("rax, rbx"), "rax, rbx");
    }

    #[test]
    fn branch_labels_drop_addresses() {
        let frame = Frame {
            function: "f",
            start: 0x1000,
            post: 0x1010,
        };
        assert_eq!(label("start+0x12", &frame), "start+0x12");
        assert_eq!(label("exit 0x1234", &frame), "exit");
        assert_eq!(label("0x5b19c <foo+0x40>", &frame), "<foo+0x40>");
        assert_eq!(label("0x1014 <f+0x54>", &frame), "post_commit_ip+0x4");
        assert_eq!(label("0xff0 <f+0x30>", &frame), "start-0x10");
        assert_eq!(label("abort handler body", &frame), "abort handler body");
        assert_eq!(label("0x5b19c", &frame), "?");
    }
}
