//! `check`: the rseq policy verdict, every rule of the loader part of the diagnostics
//! catalog over one modelled process.

use super::definitions::definitions;
use super::kernel::{kernel_diagnostics, KernelRseq};
use super::resolve::resolve;
use super::rules::capture_diagnostics;
use super::RSEQ_ABI;
use crate::loader::Process;
use crate::report::CheckReport;

/// The rseq policy verdict, with `__rseq_abi` definitions judged against this machine's
/// kernel ([`KernelRseq::this_machine`]).
pub fn check(p: &Process) -> CheckReport {
    check_for_kernel(p, KernelRseq::this_machine())
}

/// The rseq policy verdict, with `__rseq_abi` definitions judged against kernel `k`.
pub fn check_for_kernel(p: &Process, k: KernelRseq) -> CheckReport {
    let r = resolve(p, RSEQ_ABI);
    let mut diagnostics = r.diagnostics;
    diagnostics.extend(kernel_diagnostics(
        &definitions(p, &p.load_order(), RSEQ_ABI),
        k,
    ));
    diagnostics.extend(capture_diagnostics(p));
    CheckReport {
        program: r.program,
        load_order: r.load_order,
        diagnostics,
    }
}
