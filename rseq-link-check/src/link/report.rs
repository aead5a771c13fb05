//! The build-time report: the static prediction, and once the output file exists, what the
//! loader model makes of it (the run-time winner and every module's binding), with all
//! findings after the [`Policy`]. Rendered by the same renderers as the CLI's reports.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::policy::Policy;
use super::prediction::{LinkPrediction, OutcomeState};
use crate::diag::Diagnostic;
use crate::error::ExitStatus;
use crate::loader::Options;
use crate::report::render::human;
use crate::report::{Render, ResolveReport};

/// What a link resolved, statically and at run time.
#[derive(Debug, Clone, Serialize)]
pub struct LinkReport {
    /// The static link prediction.
    pub prediction: LinkPrediction,
    /// The loader model over the produced file (with the link's library directories as
    /// `LD_LIBRARY_PATH`), when there is one.
    pub resolved: Option<ResolveReport>,
    /// Every finding (prediction and loader model), after the policy.
    pub diagnostics: Vec<Diagnostic>,
}

impl LinkReport {
    /// Builds the report from a prediction alone (no output file to look at).
    pub fn from_prediction(prediction: LinkPrediction, policy: &Policy) -> LinkReport {
        let diagnostics = policy.apply(prediction.diagnostics.clone());
        LinkReport {
            prediction,
            resolved: None,
            diagnostics,
        }
    }

    /// Runs the loader model over `output` (the produced executable or library) and merges
    /// its findings with the prediction's.
    pub fn with_output(
        prediction: LinkPrediction,
        output: &Path,
        library_path: Vec<String>,
        policy: &Policy,
    ) -> crate::Result<LinkReport> {
        let opts = Options {
            library_path,
            ..Options::default()
        };
        let p = crate::rseq::load(output, &opts)?;
        let resolved = crate::rseq::resolve(&p, &prediction.symbol);
        let check = crate::rseq::check(&p);
        let mut all = prediction.diagnostics.clone();
        for d in check
            .diagnostics
            .into_iter()
            .chain(resolved.diagnostics.iter().cloned())
        {
            if !all
                .iter()
                .any(|e| e.code == d.code && e.message == d.message)
            {
                all.push(d);
            }
        }
        Ok(LinkReport {
            prediction,
            resolved: Some(resolved),
            diagnostics: policy.apply(all),
        })
    }

    /// True when a finding has error severity.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// One line: where the symbol comes from and how many findings there are.
    pub fn summary_line(&self) -> String {
        let p = &self.prediction;
        let out = p
            .output
            .as_ref()
            .map(|o| o.display().to_string())
            .unwrap_or_else(|| "a.out".into());
        let from = match &self.resolved {
            Some(r) => match &r.winner {
                Some(w) => format!("{} from {} ({} bytes)", p.symbol, w.module, w.size),
                None => format!("{}: no definition", p.symbol),
            },
            None => outcome_text(p),
        };
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = self.diagnostics.len() - errors;
        format!("rseq-link-check: {out}: {from}; {errors} error(s), {warnings} warning(s)")
    }
}

fn outcome_text(p: &LinkPrediction) -> String {
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
    fn human(&self, w: &mut dyn Write) -> io::Result<()> {
        prediction_text(self, w)?;
        human::diagnostics(&self.diagnostics, w)
    }
    fn exit_status(&self) -> ExitStatus {
        if self.has_errors() {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }
}

impl Render for LinkReport {
    fn human(&self, w: &mut dyn Write) -> io::Result<()> {
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
        human::diagnostics(&self.diagnostics, w)
    }
    fn exit_status(&self) -> ExitStatus {
        if self.has_errors() {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }
}
