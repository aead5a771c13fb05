//! What a per-CPU slot is indexed by ([`CpuId`] or [`MmCid`]), which slot an operation
//! used ([`Slot`]).

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
