//! Text for the build-time reports: the static link prediction, the link report (with the
//! loader model's view of the output) and the build-script report.

use std::io::{self, Write};

use super::diagnostics;
use crate::link::report::BuildReport;
use crate::link::{LinkPrediction, LinkReport, OutcomeState};
use crate::render::{Render, RenderOptions};

/// One line for the linker wrapper: where the symbol comes from and how many findings
/// there are.
pub fn summary_line(report: &LinkReport) -> String {
    let p = &report.prediction;
    let out = p
        .output
        .as_ref()
        .map(|o| o.display().to_string())
        .unwrap_or_else(|| "a.out".into());
    let from = match &report.resolved {
        Some(r) => match &r.winner {
            Some(w) => format!("{} from {} ({} bytes)", p.symbol, w.module, w.size),
            None => format!("{}: no definition", p.symbol),
        },
        None => outcome_text(p),
    };
    let errors = report.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = report.diagnostics.len() - errors;
    format!("rseq-link-check: {out}: {from}; {errors} error(s), {warnings} warning(s)")
}

/// What the static link makes of the symbol, in a few words.
pub fn outcome_text(p: &LinkPrediction) -> String {
    let o = &p.outcome;
    let prov = o.provider.as_deref().unwrap_or("?");
    let size = o.size.unwrap_or(0);
    match o.state {
        OutcomeState::Defined => format!("{} defined by {prov} ({size} bytes)", p.symbol),
        OutcomeState::Dynamic => format!("{} from {prov} at run time ({size} bytes)", p.symbol),
        OutcomeState::DroppedByGc => format!("{} from {prov} dropped by --gc-sections", p.symbol),
        OutcomeState::UndefinedWeak => format!("{} undefined (weak)", p.symbol),
        OutcomeState::Undefined => format!("{} undefined", p.symbol),
        OutcomeState::Absent => format!("{} not used", p.symbol),
    }
}

/// Writes the prediction part.
fn prediction_text(p: &LinkPrediction, w: &mut dyn Write) -> io::Result<()> {
    let out = p
        .output
        .as_ref()
        .map(|o| o.display().to_string())
        .unwrap_or_else(|| "a.out".into());
    writeln!(
        w,
        "{out} ({:?} output, {} rules): symbol {}",
        p.output_kind,
        p.linker.display_name(),
        p.symbol
    )?;
    writeln!(w, "definitions on the link line:")?;
    if p.candidates.is_empty() {
        writeln!(w, "  (none)")?;
    }
    for c in &p.candidates {
        writeln!(
            w,
            "  {}: {} bytes, {} {} {}{}",
            c.origin,
            c.size,
            c.binding.as_str(),
            c.visibility.as_str(),
            c.kind.as_str(),
            match (c.loaded, c.input_kind) {
                (true, _) => "",
                (false, "shared-library") => " (library dropped: --as-needed)",
                (false, _) => " (archive member not loaded)",
            }
        )?;
    }
    let o = &p.outcome;
    writeln!(w, "static link: {}", outcome_text(p))?;
    if o.state == OutcomeState::Defined {
        match &o.local_reason {
            None => writeln!(w, "  in .dynsym: yes")?,
            Some(r) => writeln!(w, "  in .dynsym: no ({r})")?,
        }
        writeln!(
            w,
            "  the output's own references: {}",
            if o.binds_locally {
                "fixed to this definition"
            } else {
                "interposable (resolved by the dynamic loader)"
            }
        )?;
    }
    if let Some(other) = &p.other_linker {
        let what = if other.rejections.is_empty() {
            outcome_text(&LinkPrediction {
                outcome: other.outcome.clone(),
                ..p.clone()
            })
        } else {
            format!("fails: {}", other.rejections[0].message)
        };
        writeln!(w, "{} instead: {what}", other.linker.display_name())?;
    }
    for r in &p.rejections {
        writeln!(
            w,
            "{} refuses the link: {}",
            p.linker.display_name(),
            r.message
        )?;
    }
    Ok(())
}

impl Render for LinkPrediction {
    fn human(&self, w: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
        prediction_text(self, w)?;
        diagnostics(&self.diagnostics, w)
    }
}

impl Render for LinkReport {
    fn human(&self, w: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
        prediction_text(&self.prediction, w)?;
        if let Some(r) = &self.resolved {
            writeln!(w, "at run time (loader model over {}):", r.program)?;
            for d in &r.definitions {
                writeln!(
                    w,
                    "  defined in {}: {} bytes, {} {}{}",
                    d.module,
                    d.size,
                    d.binding,
                    d.kind,
                    if d.exported { "" } else { ", private copy" }
                )?;
            }
            match &r.winner {
                Some(win) => writeln!(w, "  winner: {} ({} bytes)", win.module, win.size)?,
                None => writeln!(w, "  winner: none")?,
            }
            for b in &r.references {
                writeln!(
                    w,
                    "  {} -> {} ({})",
                    b.module,
                    b.binds_to.as_deref().unwrap_or("UNRESOLVED"),
                    b.how
                )?;
            }
        }
        diagnostics(&self.diagnostics, w)
    }
}

impl Render for BuildReport {
    fn human(&self, w: &mut dyn Write, opts: &RenderOptions) -> io::Result<()> {
        if let Some(l) = &self.libc {
            writeln!(w, "C library: {}", l.describe())?;
        }
        if let Some(e) = &self.link_error {
            writeln!(w, "the trial link failed:\n{e}")?;
        }
        self.link.human(w, opts)
    }
}
