//! How one attempt at a critical section ended, and the process-wide count of aborted
//! sections.
//!
//! Every section of this module is generated with `on_abort = return Err(Attempt::Aborted)`,
//! so an abort comes back to the operation's retry loop, which counts it (one relaxed
//! atomic add, only on the abort path) before trying again. The fast path is unchanged.

use crate::thread::{self, Unavailable};
use core::sync::atomic::{AtomicU64, Ordering};

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

/// Run in the prelude of every `mm_cid()` section, before its first use of the index.
///
/// A section bound to `cpu_id` protects itself: on an area that is not live its `cpu_id`
/// compare always fails. An `mm_cid` compare does not: the field reads 0 in an
/// unregistered area and on kernels that do not fill it, and a section that compared equal
/// there would run unprotected. So: the kernel must fill `mm_cid`, and the thread's area
/// must be live (registering it if this crate owns registration). When the area was just
/// made live, the index read before it may be stale; the section's compare then fails and
/// the section is tried again with a fresh one.
#[inline(always)]
pub(crate) fn mm_cid_ready() -> Result<(), Attempt> {
    if thread::cpu_id() < 0 {
        thread::prepare_current_thread()?;
    }
    if !thread::mm_cid_supported() {
        return Err(Attempt::Fallback);
    }
    Ok(())
}
