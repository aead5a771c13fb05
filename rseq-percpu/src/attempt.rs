//! How one attempt at a critical section ended, and the process-wide count of aborted
//! sections.
//!
//! Every section of this module is generated with `on_abort = return Err(Attempt::Aborted)`,
//! so an abort comes back to the operation's retry loop, which counts it (one relaxed
//! atomic add, only on the abort path) before trying again. The fast path is unchanged.

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

static ABORTS: AtomicU64 = AtomicU64::new(0);

/// Counts one aborted section.
#[cold]
#[inline(never)]
pub(crate) fn count_abort() {
    ABORTS.fetch_add(1, Ordering::Relaxed);
}

/// The number of per-CPU critical sections of this module that the kernel aborted (and
/// that were then retried) in this process so far. A diagnostic for stress tests and
/// tuning: each abort is a preemption, migration or signal that landed inside a section,
/// or a first use on a thread whose area was not yet registered.
pub fn aborted_sections() -> u64 {
    ABORTS.load(Ordering::Relaxed)
}
