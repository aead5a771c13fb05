//! Text for the verifier's [`VerifyReport`] (JSON is its `serde` form).

use std::fmt::Write as _;
use std::io;

use crate::render::{Render, RenderOptions};
use crate::verify::image::{machine_name, FileType};
use crate::verify::{Severity, VerifyReport};

/// Describes the ELF type for people.
pub fn kind_text(kind: FileType) -> &'static str {
    match kind {
        FileType::Relocatable => "object file (addresses are a layout of its sections from 0)",
        FileType::Executable => "executable",
        FileType::SharedObject => "PIE executable or shared object",
        FileType::Other => "ELF file",
    }
}

fn severity_text(s: Severity) -> String {
    s.to_string()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The report as text: one block per section, then a summary line.
pub fn render_text(report: &VerifyReport) -> String {
    let mut out = String::new();
    let n = report.sections.len();
    if n == 0 && report.findings.is_empty() {
        let _ = writeln!(
            out,
            "{}: no rseq critical sections found ({}, {})",
            report.path,
            machine_name(report.arch),
            kind_text(report.kind)
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{}: {} ({}, {})",
        report.path,
        plural(n, "critical section"),
        machine_name(report.arch),
        kind_text(report.kind)
    );
    for f in &report.findings {
        let _ = writeln!(
            out,
            "{}[{}]: {}",
            severity_text(f.severity),
            f.code,
            f.message
        );
    }
    for s in &report.sections {
        let d = &s.descriptor;
        let range = match s.post_commit_ip {
            Some(p) => format!("[{:#x}, {p:#x})", d.start_ip),
            None => format!("[{:#x}, wraps)", d.start_ip),
        };
        let func = s
            .function_text()
            .map(|f| format!(" in {f}"))
            .unwrap_or_default();
        let errors = s
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .count();
        let verdict = if errors == 0 {
            "ok".to_string()
        } else {
            plural(errors, "finding")
        };
        let _ = writeln!(
            out,
            "section {range}{func}: descriptor {:#x}, abort {:#x}, {}: {verdict}",
            d.addr,
            d.abort_ip,
            plural(s.instructions, "instruction")
        );
        for f in &s.findings {
            let _ = writeln!(
                out,
                "  {}[{}]: {}",
                severity_text(f.severity),
                f.code,
                f.message
            );
        }
    }
    let _ = writeln!(
        out,
        "{}, {}, {}",
        plural(report.count(Severity::Error), "error"),
        plural(report.count(Severity::Warning), "warning"),
        plural(report.count(Severity::Info), "note")
    );
    out
}

impl Render for VerifyReport {
    fn human(&self, w: &mut dyn io::Write, _opts: &RenderOptions) -> io::Result<()> {
        w.write_all(render_text(self).as_bytes())
    }
}
