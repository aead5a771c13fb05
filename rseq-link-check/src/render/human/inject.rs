//! Text for the abort-injection report [`InjectReport`] (JSON is its `serde` form): per
//! file, one line per section with its coverage, the sections never entered, and the
//! verdict naming the last injection when the program failed.

use std::io::{self, Write};

use crate::inject::{InjectFailure, InjectReport, Injection};
use crate::render::{Render, RenderOptions};

impl Render for InjectReport {
    fn human(&self, w: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
        writeln!(w, "inject: {}", self.command.join(" "))?;
        let points = self.points();
        let reached: usize = self.sections.iter().map(|s| s.reached()).sum();
        let entered = self.sections.iter().filter(|s| s.entered()).count();
        writeln!(
            w,
            "{} critical sections ({} entered), {} boundaries ({} reached); injected: preempt {}/{}, signal {}/{}; {} threads",
            self.sections.len(),
            entered,
            points,
            reached,
            self.covered(Injection::Preempt),
            points,
            self.covered(Injection::Signal),
            points,
            self.threads
        )?;
        let mut module: Option<&str> = None;
        for s in self.sections.iter().filter(|s| s.entered()) {
            if module != Some(s.module.as_str()) {
                writeln!(w, "{}:", s.module)?;
                module = Some(&s.module);
            }
            writeln!(
                w,
                "  {:#x} {}: {}/{} reached, preempt {}, signal {}",
                s.start_ip,
                s.function.as_deref().unwrap_or("?"),
                s.reached(),
                s.boundaries.len(),
                s.injected(Injection::Preempt),
                s.injected(Injection::Signal),
            )?;
        }
        let never: Vec<_> = self.sections.iter().filter(|s| !s.entered()).collect();
        if !never.is_empty() {
            writeln!(w, "never entered:")?;
            for s in never {
                writeln!(
                    w,
                    "  {:#x} {} in {}",
                    s.start_ip,
                    s.function.as_deref().unwrap_or("?"),
                    s.module
                )?;
            }
        }
        if self.signals_skipped > 0 {
            writeln!(
                w,
                "note: {} signal injections left out: the program neither handles nor ignores the signal",
                self.signals_skipped
            )?;
        }
        if self.budget_exhausted {
            writeln!(w, "note: the time budget ran out")?;
        }
        let last = self
            .last_injection
            .as_ref()
            .map(|l| self.describe(l))
            .unwrap_or_else(|| "no injection".to_string());
        match &self.failure {
            Some(InjectFailure::NotAborted { at, stopped_at }) => {
                let place = match self.sections.get(at.section) {
                    Some(s) if s.post_commit_ip == *stopped_at => "post_commit_ip",
                    _ => "exit",
                };
                writeln!(
                    w,
                    "error: after the {} the thread went on to its {place} {stopped_at:#x}, not to abort_ip",
                    self.describe(at)
                )?
            }
            None if !self.exit.success() => writeln!(
                w,
                "error: the program failed ({}) after the last injection: {last}",
                self.exit
            )?,
            None => {
                let missing = self.uninjected();
                if missing > 0 {
                    writeln!(
                        w,
                        "error: {missing} reached boundaries did not get every kind of injection"
                    )?;
                } else {
                    writeln!(
                        w,
                        "ok: the program succeeded ({}) with every reached boundary injected",
                        self.exit
                    )?;
                }
            }
        }
        Ok(())
    }
}
