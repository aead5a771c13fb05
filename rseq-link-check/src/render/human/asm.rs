//! Text for an [`AsmListing`]: addresses, encodings, Intel-syntax (x86_64) or Arm-syntax
//! (aarch64) instructions in aligned columns, markers in the left margin, comments on the
//! right, and the verdict under each section; and the [`AsmDiff`] of two builds. ANSI
//! colour only when the render options say so.

use std::fmt::Write as _;
use std::io;

use super::verify::kind_text;
use crate::asm::{AsmDiff, AsmListing, Line, Marker, SectionChange, SectionListing};
use crate::render::{ColorChoice, Render, RenderOptions};
use crate::verify::image::machine_name;
use crate::verify::Severity;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Longest encoding shown in full; longer ones are cut with `..`.
const MAX_BYTES: usize = 8;

fn bytes_text(bytes: &[u8]) -> String {
    let shown = if bytes.len() > MAX_BYTES {
        &bytes[..MAX_BYTES - 1]
    } else {
        bytes
    };
    let mut s: String = shown
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    if bytes.len() > MAX_BYTES {
        s.push_str(" ..");
    }
    s
}

fn render_section(out: &mut String, s: &SectionListing, p: &Paint) {
    let r = &s.section;
    let d = &r.descriptor;
    let func = r
        .function_text()
        .unwrap_or_else(|| "<no symbol>".to_string());
    let post = r
        .post_commit_ip
        .map(|p| format!("{p:#x}"))
        .unwrap_or_else(|| "wraps".to_string());
    let _ = writeln!(
        out,
        "{}  section [{:#x}, {post})  descriptor {:#x}  abort {:#x}",
        p.wrap("1", &func),
        d.start_ip,
        d.addr,
        d.abort_ip
    );
    let lines = s.blocks.iter().flat_map(|b| b.lines.iter());
    let addr_w = lines
        .clone()
        .map(|l| format!("{:#x}", l.addr).len())
        .max()
        .unwrap_or(6);
    let bytes_w = lines
        .clone()
        .map(|l| bytes_text(&l.bytes).len())
        .max()
        .unwrap_or(0);
    let mnem_w = lines
        .clone()
        .map(|l| l.mnemonic.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let ops_w = lines
        .clone()
        .map(|l| l.operands.len())
        .max()
        .unwrap_or(0)
        .min(40);
    for (k, block) in s.blocks.iter().enumerate() {
        if k > 0 {
            out.push('\n');
        }
        for line in &block.lines {
            render_line(out, line, p, addr_w, bytes_w, mnem_w, ops_w);
        }
    }
    let defects: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .collect();
    let notes = r.findings.len() - defects.len();
    let verdict = if defects.is_empty() {
        let mut v = p.wrap("32", "ok");
        if notes > 0 {
            let _ = write!(v, " ({notes} note{})", if notes == 1 { "" } else { "s" });
        }
        v
    } else {
        p.wrap(
            "31;1",
            &format!(
                "{} finding{}",
                defects.len(),
                if defects.len() == 1 { "" } else { "s" }
            ),
        )
    };
    let _ = writeln!(out, "  verdict: {verdict}");
    for f in &r.findings {
        let sev = match f.severity {
            Severity::Error => p.wrap("31", "error"),
            Severity::Warning => p.wrap("33", "warning"),
            Severity::Info => p.wrap("36", "info"),
        };
        let _ = writeln!(out, "    {sev}[{}]: {}", f.code, f.message);
    }
}

fn render_line(
    out: &mut String,
    line: &Line,
    p: &Paint,
    addr_w: usize,
    bytes_w: usize,
    mnem_w: usize,
    ops_w: usize,
) {
    let label = line.marker.map(Marker::label).unwrap_or("");
    let label = format!("{label:<10}");
    let label = match line.marker {
        Some(Marker::Signature) => p.wrap("2", &label),
        Some(_) => p.wrap("36;1", &label),
        None => label,
    };
    let addr = format!("{:>addr_w$}", format!("{:#x}", line.addr));
    let gutter = if line.in_section { "│" } else { " " };
    let bytes = format!("{:<bytes_w$}", bytes_text(&line.bytes));
    let mnemonic = format!("{:<mnem_w$}", line.mnemonic);
    let mut text = format!(
        "  {label}{} {gutter} {}  {}",
        p.wrap("2", &addr),
        p.wrap("2", &bytes),
        p.wrap("33", &mnemonic)
    );
    if let Some(c) = &line.comment {
        let _ = write!(
            text,
            " {:<ops_w$}  {}",
            line.operands,
            p.wrap("32", &format!("; {c}"))
        );
    } else if !line.operands.is_empty() {
        let _ = write!(text, " {}", line.operands);
    }
    let _ = writeln!(out, "{}", text.trim_end());
}

/// The whole listing as text; `Auto` colour resolves to none (a string is not a terminal).
pub fn render_listing(listing: &AsmListing, color: ColorChoice) -> String {
    listing_text(listing, color.enabled(false))
}

fn listing_text(listing: &AsmListing, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    if listing.total_sections == 0 {
        let _ = writeln!(
            out,
            "{}: no rseq critical sections found ({}, {})",
            listing.path,
            machine_name(listing.arch),
            kind_text(listing.kind)
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{}: {} of {} critical section{} ({}, {})",
        listing.path,
        listing.sections.len(),
        listing.total_sections,
        if listing.total_sections == 1 { "" } else { "s" },
        machine_name(listing.arch),
        kind_text(listing.kind)
    );
    for f in &listing.findings {
        let _ = writeln!(out, "{}[{}]: {}", f.severity_text(), f.code, f.message);
    }
    if listing.filter_matched_nothing() {
        let _ = writeln!(
            out,
            "error: no critical section is in a function matching `{}`; functions with sections: {}",
            listing.function_filter.as_deref().unwrap_or(""),
            if listing.functions.is_empty() {
                "none has a name (no symbols)".to_string()
            } else {
                listing.functions.join(", ")
            }
        );
    }
    for s in &listing.sections {
        out.push('\n');
        render_section(&mut out, s, &p);
    }
    out
}

impl Render for AsmListing {
    fn human(&self, w: &mut dyn io::Write, opts: &RenderOptions) -> io::Result<()> {
        w.write_all(listing_text(self, opts.color).as_bytes())
    }
}

fn change_text(c: SectionChange) -> &'static str {
    match c {
        SectionChange::Added => "added",
        SectionChange::Removed => "removed",
        SectionChange::Changed => "changed",
    }
}

/// The text of an [`AsmDiff`]: a summary line, then each section that differs (notable
/// ones first) with its verdicts, fast-path change and instruction-level diff; removed
/// lines in red and added ones in green when colour is on.
pub fn diff_text(diff: &AsmDiff, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let count = |c| diff.sections.iter().filter(|s| s.change == c).count();
    let _ = writeln!(
        out,
        "{} -> {}: {} changed, {} added, {} removed, {} unchanged",
        diff.old,
        diff.new,
        count(SectionChange::Changed),
        count(SectionChange::Added),
        count(SectionChange::Removed),
        diff.unchanged
    );
    for s in &diff.sections {
        out.push('\n');
        let verdict = |side: &Option<crate::asm::DiffSide>| {
            side.as_ref().map_or("-".to_string(), |d| d.verdict.clone())
        };
        let fast = |side: &Option<crate::asm::DiffSide>| {
            side.as_ref()
                .map_or("-".to_string(), |d| d.fast_path.to_string())
        };
        let delta = s.fast_path_delta();
        let _ = writeln!(
            out,
            "{} {} #{}: verdict {} -> {}; fast path {} -> {} instructions ({}{})",
            p.wrap("1", change_text(s.change)),
            s.function,
            s.position,
            verdict(&s.old),
            verdict(&s.new),
            fast(&s.old),
            fast(&s.new),
            if delta >= 0 { "+" } else { "" },
            delta
        );
        for l in &s.lines {
            let line = format!("  {} {}", l.tag, l.text);
            let painted = match l.tag {
                '-' => p.wrap("31", &line),
                '+' => p.wrap("32", &line),
                _ => line,
            };
            let _ = writeln!(out, "{painted}");
        }
    }
    out
}

impl Render for AsmDiff {
    fn human(&self, w: &mut dyn io::Write, opts: &RenderOptions) -> io::Result<()> {
        w.write_all(diff_text(self, opts.color).as_bytes())
    }
}
