//! CPU placement of benchmark threads (`rseq_testkit`'s affinity helpers) and the CPU
//! number the `sched_getcpu`-indexed baselines use.

pub use rseq_testkit::{allowed_cpus, pin_current_thread};

/// The CPU the calling thread runs on (`sched_getcpu(3)`; glibc 2.35+ reads it from the
/// thread's rseq area when glibc registered one), or 0 if the call fails.
#[inline]
pub fn current_cpu() -> usize {
    usize::try_from(rseq_testkit::sched_getcpu()).unwrap_or(0)
}
