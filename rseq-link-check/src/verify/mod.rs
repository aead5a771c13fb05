//! Critical-section verification: reads every `struct rseq_cs` of an ELF file (after
//! applying the relocations that fill it in), and checks each section against the rules
//! the kernel and correctness impose (see [`finding::Code`] for the catalog).
//!
//! The pipeline is load ([`image`], [`reloc`]) → discover ([`descriptor`]) → check
//! ([`rules`], with [`decode`] per architecture) → [`report::VerifyReport`], which
//! [`crate::render`] turns into text; JSON is the report's `serde` form.
//!
//! Choices worth knowing when reading a verdict:
//! - Instructions are decoded linearly from start_ip; post_commit_ip must be the end of an
//!   instruction and that instruction a store (an `add` to memory counts: it ends in one
//!   store).
//! - A branch may go inside the section, to abort_ip, to a declared exit of this section,
//!   or to the destination of the direct `jmp`/`b` found at abort_ip: the abort handler is
//!   usually such a trampoline, and going straight to its destination is aborting too.
//! - Errors and warnings are findings (exit status 1); the speculative-store notes are
//!   information for review and leave the status at 0.
//! - A file without `__rseq_*` sections is answered from its section headers alone, so
//!   large binaries without critical sections cost next to nothing.

pub mod decode;
pub mod descriptor;
pub mod finding;
pub mod image;
pub mod report;
pub mod rules;

use std::path::Path;

use crate::elf::map::Mapping;
use crate::error::Result;

pub use finding::{Code, Finding, Severity};
pub use image::{FileType, Image, Machine};
pub use report::{SectionReport, VerifyReport};

use decode::Disassembler;
use descriptor::discover;
use rules::Decoded;

/// A symbol name for people: Rust (legacy and v0) and C++-free names demangled.
pub fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// The report together with the decoded instructions of each section (same order), for
/// the listing.
#[derive(Debug)]
pub struct Analysis {
    /// The verdict.
    pub report: VerifyReport,
    /// Instructions of each section, in the order of `report.sections`.
    pub decoded: Vec<Decoded>,
}

/// Maps the file at `path` (read-only).
pub fn map_file(path: &Path) -> Result<Mapping> {
    Mapping::open(path)
}

/// Verifies every critical section of the ELF file at `path`.
pub fn verify_file(path: &Path) -> Result<VerifyReport> {
    let map = map_file(path)?;
    verify_bytes(path, map.bytes())
}

/// Verifies every critical section of an ELF file already in memory; `path` names it in
/// reports and errors.
pub fn verify_bytes(path: &Path, data: &[u8]) -> Result<VerifyReport> {
    let image = Image::parse(path, data)?;
    Ok(analyse(&image, &path.display().to_string()).report)
}

/// Verifies every critical section of a loaded image; `path` is only used for display.
pub fn analyse(image: &Image<'_>, path: &str) -> Analysis {
    let found = discover(image);
    let mut findings = found.findings;
    let mut sections = Vec::with_capacity(found.descriptors.len());
    let mut decoded = Vec::with_capacity(found.descriptors.len());
    let mut dis = Disassembler::new(image.arch);

    // Exit points by start_ip.
    let mut exits_by_start: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    for e in &found.exits {
        exits_by_start
            .entry(e.start_ip)
            .or_default()
            .push(e.exit_ip);
    }
    let starts: std::collections::BTreeSet<u64> =
        found.descriptors.values().map(|d| d.start_ip).collect();
    for e in &found.exits {
        if !starts.contains(&e.start_ip) {
            findings.push(Finding::new(
                Code::ExitUnknownSection,
                Some(e.addr),
                format!(
                    "exit point at {:#x} names start_ip {:#x}, which starts no critical section",
                    e.addr, e.start_ip
                ),
            ));
        }
    }

    for d in found.descriptors.values() {
        let mut out = Vec::new();
        if !d.in_ptr_array {
            out.push(Finding::new(
                Code::CsNotInPtrArray,
                Some(d.addr),
                format!(
                    "descriptor at {:#x} is in __rseq_cs but not listed in __rseq_cs_ptr_array",
                    d.addr
                ),
            ));
        }
        for off in [8u64, 24] {
            if let Some(name) = d
                .addr
                .checked_add(off)
                .and_then(|a| image.unresolved.get(&a))
            {
                out.push(Finding::new(
                    Code::UnresolvedRelocation,
                    Some(d.addr),
                    format!(
                        "descriptor at {:#x} refers to `{name}`, which this file does not define",
                        d.addr
                    ),
                ));
            }
        }
        rules::check_descriptor(d, &mut out);
        let range_ok = rules::check_layout(image, d, &mut out);
        let exits = exits_by_start.get(&d.start_ip).cloned().unwrap_or_default();
        if let Some(post) = d.post_commit_ip() {
            for &x in &exits {
                if x >= d.start_ip && x < post {
                    out.push(Finding::new(
                        Code::ExitInsideSection,
                        Some(x),
                        format!(
                            "declared exit {x:#x} lies inside the section [{:#x}, {post:#x})",
                            d.start_ip
                        ),
                    ));
                }
            }
        }
        let insns = if range_ok {
            rules::check_instructions(image, &mut dis, d, &exits, &mut out)
        } else {
            Decoded::default()
        };
        let function = image.symbolize(d.start_ip).map(|(s, _)| demangle(&s.name));
        sections.push(SectionReport {
            descriptor: d.clone(),
            post_commit_ip: d.post_commit_ip(),
            function,
            source_function: found.functions.get(&d.addr).cloned(),
            exits,
            instructions: insns.insns.len(),
            findings: out,
        });
        decoded.push(insns);
    }

    Analysis {
        report: VerifyReport {
            path: path.to_string(),
            arch: image.arch,
            kind: image.kind,
            sections,
            exit_points: found.exits,
            findings,
        },
        decoded,
    }
}
