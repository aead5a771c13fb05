//! `check`: the rseq policy verdict, every rule of the loader part of the diagnostics
//! catalog over one modelled process.

use super::resolve::resolve;
use super::rules::capture_diagnostics;
use super::RSEQ_ABI;
use crate::loader::Process;
use crate::report::CheckReport;

/// The rseq policy verdict.
pub fn check(p: &Process) -> CheckReport {
    let r = resolve(p, RSEQ_ABI);
    let mut diagnostics = r.diagnostics;
    diagnostics.extend(capture_diagnostics(p));
    CheckReport {
        program: r.program,
        load_order: r.load_order,
        diagnostics,
    }
}
