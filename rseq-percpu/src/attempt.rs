//! How one attempt at a critical section ended, and the process-wide count of aborted
//! sections.
//!
//! Every section of this crate is generated with `on_abort = return Err(Attempt::Aborted)`,
//! so an abort comes back to [`retry`], the one retry loop all structures share, which
//! counts it (one relaxed atomic add, only on the abort path) before trying again. `retry`
//! is inlined into each operation with its closures, so the fast path is unchanged.

use core::sync::atomic::{AtomicU64, Ordering};
use rseq_abi::thread::Unavailable;

/// Why a section did not commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// A value read before the section changed (an early exit): try again.
    Changed,
    /// Push: the slot is full.
    Full,
    /// Pop: the slot is empty.
    Empty,
    /// Lock: the slot's lock is held.
    Busy,
    /// The kernel aborted the section (preemption, migration, signal, or the index no
    /// longer matched): try again.
    Aborted,
    /// rseq is unavailable on this thread (or the kernel does not fill `mm_cid`): take the
    /// fallback path.
    Fallback,
}

impl From<Unavailable> for Attempt {
    fn from(_: Unavailable) -> Self {
        Attempt::Fallback
    }
}

/// Runs `attempt` until it commits (`Ok`) or ends in an outcome the operation handles
/// itself (`Err`): an aborted section is counted and retried, a section that left early
/// because a value changed is retried, and so is any outcome for which `retry_also` says
/// so (e.g. a held lock the caller waits for, after backing off inside `retry_also`).
#[inline(always)]
pub(crate) fn retry<T>(
    mut attempt: impl FnMut() -> Result<T, Attempt>,
    mut retry_also: impl FnMut(Attempt) -> bool,
) -> Result<T, Attempt> {
    loop {
        match attempt() {
            Err(Attempt::Aborted) => count_abort(),
            Err(Attempt::Changed) => {}
            Err(outcome) if retry_also(outcome) => {}
            done => return done,
        }
    }
}

static ABORTS: AtomicU64 = AtomicU64::new(0);

/// Counts one aborted section.
#[cold]
#[inline(never)]
pub(crate) fn count_abort() {
    ABORTS.fetch_add(1, Ordering::Relaxed);
}

/// The number of per-CPU critical sections of this crate that the kernel aborted (and
/// that were then retried) in this process so far. A diagnostic for stress tests and
/// tuning: each abort is a preemption, migration or signal that landed inside a section,
/// or a first use on a thread whose area was not yet registered.
pub fn aborted_sections() -> u64 {
    ABORTS.load(Ordering::Relaxed)
}
