//! Builds the annotated listing of each critical section from a verified [`Image`].
//!
//! The lead-in before start_ip is found by decoding forward from a point before it (the
//! start of the enclosing function when it is near, else each of a bounded window of
//! byte offsets on x86_64, fixed 4-byte steps on aarch64) and keeping the instructions
//! from the one that takes the descriptor's address (`lea reg, [rip+desc]`,
//! `adr`/`adrp`) up to start_ip.

use serde::Serialize;

use crate::verify::decode::{Disassembler, Flow, Insn};
use crate::verify::image::signature;
use crate::verify::{analyse, FileType, Finding, Image, Machine, SectionReport};

/// Bytes before start_ip searched for the descriptor store.
pub const LEAD_IN_WINDOW: u64 = 96;
/// Most instructions shown after abort_ip or an exit.
pub const HANDLER_INSNS: usize = 12;
/// Most instructions shown after an exit.
pub const EXIT_INSNS: usize = 4;

/// What a line marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Marker {
    /// The first instruction of the section.
    Start,
    /// The last instruction of the section (the committing store).
    Commit,
    /// The signature before abort_ip.
    Signature,
    /// abort_ip.
    Abort,
    /// A declared exit.
    Exit,
}

impl Marker {
    /// The label printed before the line.
    pub fn label(self) -> &'static str {
        match self {
            Marker::Start => "start:",
            Marker::Commit => "commit:",
            Marker::Signature => "signature",
            Marker::Abort => "abort:",
            Marker::Exit => "exit:",
        }
    }
}

/// One instruction line.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// Address.
    pub addr: u64,
    /// Encoding.
    pub bytes: Vec<u8>,
    /// Mnemonic.
    pub mnemonic: String,
    /// Operands.
    pub operands: String,
    /// Marker, if the line starts a labelled point.
    pub marker: Option<Marker>,
    /// What the line does for the section (branch destination, descriptor, commit).
    pub comment: Option<String>,
    /// Whether the line is inside [start_ip, post_commit_ip).
    pub in_section: bool,
}

/// A group of lines shown together.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// What the block is ("section", "abort handler", "exit").
    pub title: String,
    /// Its lines.
    pub lines: Vec<Line>,
}

/// The listing of one section.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SectionListing {
    /// The verdict and addresses.
    pub section: SectionReport,
    /// Lead-in and section, abort handler, exits.
    pub blocks: Vec<Block>,
}

/// The listing of a file.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AsmListing {
    /// The input file as given.
    pub path: String,
    /// Its architecture.
    pub arch: Machine,
    /// Its ELF type.
    pub kind: FileType,
    /// Listed sections.
    pub sections: Vec<SectionListing>,
    /// Sections in the file (before filtering by function).
    pub total_sections: usize,
    /// File-level findings of the verifier.
    pub findings: Vec<Finding>,
    /// The `--function` pattern, when the listing was filtered.
    pub function_filter: Option<String>,
    /// The functions that hold sections (source and enclosing names, sorted, without
    /// duplicates): what a filter matching nothing could have named.
    pub functions: Vec<String>,
}

impl AsmListing {
    /// True when a `--function` filter was given and matched no section of a file that
    /// has some.
    pub fn filter_matched_nothing(&self) -> bool {
        self.function_filter.is_some() && self.sections.is_empty() && self.total_sections > 0
    }
}

fn split_text(text: &str) -> (String, String) {
    let text = text.trim();
    match text.split_once(' ') {
        Some((m, ops)) => (m.to_string(), ops.trim().to_string()),
        None => (text.to_string(), String::new()),
    }
}

/// Decodes consecutive instructions from `addr` while `keep_going` says so, at most `max`.
fn decode_from(
    image: &Image<'_>,
    dis: &mut Disassembler,
    mut addr: u64,
    max: usize,
    mut keep_going: impl FnMut(&Insn) -> bool,
) -> Vec<Insn> {
    let mut out = Vec::new();
    while out.len() < max {
        let Some(region) = image.region_of(addr) else {
            break;
        };
        let off = (addr - region.addr) as usize;
        let Some(insn) = dis.decode(region.data.get(off..).unwrap_or(&[]), addr) else {
            break;
        };
        addr = insn.end();
        let more = keep_going(&insn);
        out.push(insn);
        if !more {
            break;
        }
    }
    out
}

/// Instructions from the one taking the descriptor's address up to start_ip, if found.
fn lead_in(image: &Image<'_>, dis: &mut Disassembler, start: u64, desc: u64) -> Vec<Insn> {
    let takes_desc = |i: &Insn| match image.arch {
        Machine::X86_64 => i.pc_address == Some(desc),
        Machine::Aarch64 => i.pc_address == Some(desc) || i.pc_address == Some(desc & !0xfff),
    };
    let window_start = start.saturating_sub(LEAD_IN_WINDOW);
    let mut candidates: Vec<u64> = Vec::new();
    if let Some((sym, off)) = image.symbolize(start) {
        if off > 0 && off <= 4096 {
            candidates.push(sym.addr);
        }
    }
    match image.arch {
        Machine::X86_64 => candidates.extend(window_start..start),
        Machine::Aarch64 => {
            let first = start.saturating_sub(LEAD_IN_WINDOW) & !3;
            candidates.extend((first..start).step_by(4));
        }
    }
    for from in candidates {
        if from >= start {
            continue;
        }
        let insns = decode_from(image, dis, from, 2048, |i| i.end() < start);
        if insns.last().map(|i| i.end()) != Some(start) {
            continue;
        }
        if let Some(pos) = insns.iter().rposition(&takes_desc) {
            return insns[pos..].to_vec();
        }
    }
    Vec::new()
}

struct Annotator<'a, 'd> {
    image: &'a Image<'d>,
    start: u64,
    post: u64,
    abort: u64,
    /// Where the handler at abort_ip jumps (branching there is aborting too).
    abort_target: Option<u64>,
    desc: u64,
    exits: &'a [u64],
}

impl Annotator<'_, '_> {
    fn place(&self, target: u64) -> String {
        if target == self.abort {
            "abort".to_string()
        } else if Some(target) == self.abort_target {
            "abort handler body".to_string()
        } else if self.exits.contains(&target) {
            format!("exit {target:#x}")
        } else if target >= self.start && target < self.post {
            format!("start+{:#x}", target - self.start)
        } else if target == self.post {
            "post_commit_ip".to_string()
        } else {
            match self.image.describe(target) {
                Some(d) => format!("{target:#x} <{d}>"),
                None => format!("{target:#x}"),
            }
        }
    }

    fn line(&self, insn: &Insn, marker: Option<Marker>) -> Line {
        let (mnemonic, operands) = split_text(&insn.text);
        let in_section = insn.addr >= self.start && insn.addr < self.post;
        let mut comment = match insn.flow {
            Flow::Jump(t) | Flow::CondJump(t) => Some(format!("→ {}", self.place(t))),
            _ => None,
        };
        if insn.pc_address == Some(self.desc)
            || (self.image.arch == Machine::Aarch64 && insn.pc_address == Some(self.desc & !0xfff))
        {
            comment = Some(format!("descriptor {:#x}", self.desc));
        } else if insn.tls_store && !in_section && insn.addr < self.start {
            comment = Some("rseq_cs = descriptor".to_string());
        } else if let Some(addr) = insn.pc_address {
            if comment.is_none() {
                comment = self
                    .image
                    .describe(addr)
                    .map(|d| format!("{addr:#x} <{d}>"));
            }
        }
        if marker == Some(Marker::Commit) {
            comment = Some(match comment {
                Some(c) => format!("commit; {c}"),
                None => "commit".to_string(),
            });
        }
        let bytes = self
            .image
            .bytes(insn.addr, insn.len as usize)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        Line {
            addr: insn.addr,
            bytes,
            mnemonic,
            operands,
            marker,
            comment,
            in_section,
        }
    }
}

/// Builds the listing of every section of `image` whose function contains `function`.
pub fn build_listing(image: &Image<'_>, path: &str, function: Option<&str>) -> AsmListing {
    let analysis = analyse(image, path);
    let mut dis = Disassembler::new(image.arch);
    let total_sections = analysis.report.sections.len();
    let functions: Vec<String> = analysis
        .report
        .sections
        .iter()
        .flat_map(|r| [r.source_function.clone(), r.function.clone()])
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut sections = Vec::new();
    for (report, decoded) in analysis.report.sections.iter().zip(&analysis.decoded) {
        if let Some(pattern) = function {
            if !report.function_matches(pattern) {
                continue;
            }
        }
        let d = &report.descriptor;
        let post = report.post_commit_ip.unwrap_or(d.start_ip);
        let abort_target = decode_from(image, &mut dis, d.abort_ip, 1, |_| false)
            .first()
            .and_then(|i| i.flow.target().filter(|_| matches!(i.flow, Flow::Jump(_))));
        let ann = Annotator {
            image,
            start: d.start_ip,
            post,
            abort: d.abort_ip,
            abort_target,
            desc: d.addr,
            exits: &report.exits,
        };
        let mut blocks = Vec::new();

        let lead = lead_in(image, &mut dis, d.start_ip, d.addr);
        let mut lines: Vec<Line> = lead.iter().map(|i| ann.line(i, None)).collect();
        // On aarch64 the thread pointer is an ordinary register: the descriptor store is
        // the last store after the address was taken.
        if image.arch == Machine::Aarch64 {
            if let Some(k) = lead.iter().rposition(|i| i.is_store) {
                lines[k].comment = Some("rseq_cs = descriptor".to_string());
            }
        }
        let n = decoded.insns.len();
        for (k, insn) in decoded.insns.iter().enumerate() {
            let marker = if k == 0 {
                Some(Marker::Start)
            } else if k + 1 == n && insn.end() == post {
                Some(Marker::Commit)
            } else {
                None
            };
            let mut line = ann.line(insn, marker);
            if k == 0 && n == 1 && insn.end() == post {
                line.comment = Some(match line.comment {
                    Some(c) => format!("commit; {c}"),
                    None => "commit".to_string(),
                });
            }
            lines.push(line);
        }
        blocks.push(Block {
            title: "section".to_string(),
            lines,
        });

        let mut lines = Vec::new();
        let sig_len: u64 = match image.arch {
            Machine::X86_64 => 7,
            Machine::Aarch64 => 4,
        };
        if let Some(sig_addr) = d.abort_ip.checked_sub(sig_len) {
            let sig = decode_from(image, &mut dis, sig_addr, 1, |_| false);
            if let Some(insn) = sig.first().filter(|i| i.end() == d.abort_ip) {
                let mut line = ann.line(insn, Some(Marker::Signature));
                line.comment = Some(format!("RSEQ_SIG {:#010x}", signature(image.arch)));
                lines.push(line);
            } else if let Some(bytes) = d.abort_ip.checked_sub(4).and_then(|a| image.bytes(a, 4)) {
                lines.push(Line {
                    addr: d.abort_ip - 4,
                    bytes: bytes.to_vec(),
                    mnemonic: ".long".to_string(),
                    operands: format!(
                        "{:#010x}",
                        u32::from_le_bytes(bytes.try_into().unwrap_or([0; 4]))
                    ),
                    marker: Some(Marker::Signature),
                    comment: Some(format!("expected {:#010x}", signature(image.arch))),
                    in_section: false,
                });
            }
        }
        let handler = decode_from(image, &mut dis, d.abort_ip, HANDLER_INSNS, |i| {
            matches!(i.flow, Flow::Next | Flow::CondJump(_) | Flow::Call)
        });
        for (k, insn) in handler.iter().enumerate() {
            lines.push(ann.line(insn, (k == 0).then_some(Marker::Abort)));
        }
        blocks.push(Block {
            title: "abort handler".to_string(),
            lines,
        });

        for &exit in &report.exits {
            let insns = decode_from(image, &mut dis, exit, EXIT_INSNS, |i| {
                matches!(i.flow, Flow::Next | Flow::CondJump(_))
            });
            blocks.push(Block {
                title: "exit".to_string(),
                lines: insns
                    .iter()
                    .enumerate()
                    .map(|(k, i)| ann.line(i, (k == 0).then_some(Marker::Exit)))
                    .collect(),
            });
        }

        sections.push(SectionListing {
            section: report.clone(),
            blocks,
        });
    }
    AsmListing {
        path: path.to_string(),
        arch: image.arch,
        kind: image.kind,
        sections,
        total_sections,
        findings: analysis.report.findings,
        function_filter: function.map(str::to_string),
        functions,
    }
}

impl crate::report::Outcome for AsmListing {
    /// Findings (errors or warnings) in a listed section or in the file's arrays give
    /// [`ExitStatus::Findings`](crate::ExitStatus::Findings), as `verify` does; so does a
    /// `--function` filter that matches no section.
    fn exit_status(&self) -> crate::ExitStatus {
        if self.filter_matched_nothing() {
            return crate::ExitStatus::Findings;
        }
        let clean = self
            .findings
            .iter()
            .chain(self.sections.iter().flat_map(|s| s.section.findings.iter()))
            .all(|f| f.severity == crate::verify::Severity::Info);
        if clean {
            crate::ExitStatus::Clean
        } else {
            crate::ExitStatus::Findings
        }
    }
}
