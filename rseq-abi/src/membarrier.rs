//! The membarrier rseq fence: `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ` once per
//! process, then `MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ` to restart every rseq critical
//! section of this process that is running, on all CPUs or on one.
//!
//! After the fence returns, no thread of the process is still inside a critical section it
//! entered before the call: each one that was running has been interrupted, and the kernel
//! restarted (aborted) its section on the way back to user space. Per-CPU data structures
//! use this to take a CPU's slot away from concurrent critical sections (e.g. to resize or
//! drain it).

use std::sync::OnceLock;

use crate::sys::{
    membarrier, membarrier_cpu, membarrier_query, MembarrierCommand, MembarrierQuery,
};
use crate::Errno;

/// `membarrier(MEMBARRIER_CMD_QUERY, 0, 0)`: the commands the kernel supports.
pub fn supported_commands() -> Result<MembarrierQuery, Errno> {
    membarrier_query()
}

/// Registers the process for the rseq fence (once; later calls return the first result).
/// `EINVAL` means the kernel lacks it (before Linux 5.10, or without `CONFIG_RSEQ`).
pub fn register_rseq_fence() -> Result<(), Errno> {
    static REGISTERED: OnceLock<Result<(), Errno>> = OnceLock::new();
    *REGISTERED.get_or_init(|| membarrier(MembarrierCommand::RegisterPrivateExpeditedRseq))
}

/// Restarts the rseq critical sections of every running thread of this process, on all
/// CPUs (registering the process first when needed).
pub fn rseq_fence() -> Result<(), Errno> {
    register_rseq_fence()?;
    membarrier(MembarrierCommand::PrivateExpeditedRseq)
}

/// Restarts the rseq critical section of the thread of this process running on `cpu`, if
/// any (registering the process first when needed). The kernel ignores a CPU that is not
/// possible; `EINVAL` for a number that does not fit the call's `int`.
pub fn rseq_fence_cpu(cpu: u32) -> Result<(), Errno> {
    register_rseq_fence()?;
    membarrier_cpu(MembarrierCommand::PrivateExpeditedRseq, cpu)
}
