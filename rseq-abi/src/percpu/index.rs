//! What a per-CPU slot is indexed by ([`CpuId`] or [`MmCid`]), which slot an operation
//! used ([`Slot`]), and why a critical section could not run (`Fallback`).

use crate::thread::{self, Unavailable};

mod sealed {
    pub trait Sealed {}
}

/// Selects the number a per-CPU structure indexes its slots by. Implemented by [`CpuId`]
/// and [`MmCid`] only.
pub trait IndexKind: sealed::Sealed + Send + Sync + 'static {
    /// `true` for [`MmCid`]: sections read `mm_cid()` instead of `cpu_id()`.
    const MM_CID: bool;
}

/// Index slots by the CPU the thread runs on (rseq `cpu_id_start` / `cpu_id`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuId;

/// Index slots by the thread's memory-map concurrency id (rseq `mm_cid`, Linux 6.3+): a
/// compact number below the number of CPUs the process runs on at once. Where the kernel
/// does not provide it, every operation takes the fallback path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmCid;

impl sealed::Sealed for CpuId {}
impl sealed::Sealed for MmCid {}

impl IndexKind for CpuId {
    const MM_CID: bool = false;
}

impl IndexKind for MmCid {
    const MM_CID: bool = true;
}

/// The slot an operation used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// The per-CPU slot of this CPU number or concurrency id (a critical section ran).
    PerCpu(usize),
    /// The shared slot of the fallback path (rseq is unavailable on the calling thread).
    Shared,
}

/// Why an operation takes its fallback path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// rseq cannot be used on this thread.
    Unavailable(Unavailable),
    /// The kernel does not fill `mm_cid` (feature size below 28).
    NoMmCid,
}

impl From<Unavailable> for Fallback {
    fn from(u: Unavailable) -> Self {
        Fallback::Unavailable(u)
    }
}

/// The end of `mm_cid` in `struct rseq`: the feature size from which the kernel fills it.
const MM_CID_END: u32 = (crate::abi::offsets::RSEQ_MM_CID + 4) as u32;

/// Run in the prelude of every `mm_cid()` section, before its first use of the index.
///
/// A section bound to `cpu_id` protects itself: on an area that is not live its `cpu_id`
/// compare always fails. An `mm_cid` compare does not: the field reads 0 in an
/// unregistered area and on kernels that do not fill it, and a section that compared equal
/// there would run unprotected. So: the kernel must fill `mm_cid`, and the thread's area
/// must be live (registering it if this crate owns registration). When the area was just
/// made live, the index read before it may be stale; the section's compare then fails and
/// the section retries with a fresh one.
#[inline(always)]
pub(crate) fn mm_cid_ready() -> Result<(), Fallback> {
    if thread::cpu_id() < 0 {
        thread::prepare_current_thread()?;
    }
    if thread::feature_size() < MM_CID_END {
        return Err(Fallback::NoMmCid);
    }
    Ok(())
}
