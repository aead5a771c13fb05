//! Thin wrappers of the system calls this crate makes: `rseq(2)`, `membarrier(2)`,
//! `rseq_slice_yield(2)` and the `prctl(PR_RSEQ_SLICE_EXTENSION)` options.
//!
//! Each wrapper mirrors one C call, issues it with `syscall(2)` (the C library has no
//! wrappers for the system calls) or `prctl(2)`, and returns a typed [`Errno`] on failure.
//!
//! # Safety
//!
//! This module uses `unsafe` for the raw system calls. `rseq(2)` hands the kernel a
//! pointer it will write to for the rest of the thread's life, so [`rseq`] is itself an
//! `unsafe fn`; `membarrier(2)` touches no user memory and is safe to call.
#![allow(unsafe_code)]

use crate::abi::{
    Rseq, PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_GET, PR_RSEQ_SLICE_EXTENSION_SET,
    PR_RSEQ_SLICE_EXT_ENABLE, SYS_RSEQ, SYS_RSEQ_SLICE_YIELD,
};
use crate::Errno;

/// `int rseq(struct rseq *rseq, uint32_t rseq_len, int flags, uint32_t sig)`: registers
/// (`flags` = 0) or unregisters ([`RSEQ_FLAG_UNREGISTER`](crate::abi::RSEQ_FLAG_UNREGISTER))
/// the calling thread's rseq area.
///
/// See `rseq(2)` and the kernel's `kernel/rseq.c`. Errors: `EINVAL` (bad flags, length,
/// alignment, or another area registered), `EBUSY` (this area is already registered),
/// `EFAULT` (not writable), `EPERM` (unregister with a different signature, or a seccomp
/// filter), `ENOSYS` (no rseq in the kernel, or a seccomp filter).
///
/// # Safety
///
/// When registering, `area` must point to `len` bytes of memory writable by the calling
/// thread that stay valid until the area is unregistered or the thread exits: the kernel
/// writes to it on every return to user space. Invalid pointers are reported as `EFAULT`
/// only when the kernel checks them at registration time.
pub unsafe fn rseq(area: *mut Rseq, len: u32, flags: i32, sig: u32) -> Result<(), Errno> {
    // SAFETY: the system call reads and writes only `area`, which the caller vouches for;
    // all arguments are passed by value.
    let ret = unsafe { libc::syscall(SYS_RSEQ as libc::c_long, area, len, flags, sig) };
    if ret == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// `int rseq_slice_yield(void)`: gives the CPU back at the end of a time-slice extension
/// the kernel granted (Linux 7.0+).
///
/// See the kernel's `Documentation/userspace-api/rseq.rst`. `Ok(true)` when the thread
/// yielded within the granted extension, `Ok(false)` when no extension was granted or it
/// was already revoked; `ENOSYS` on kernels without the call.
pub fn rseq_slice_yield() -> Result<bool, Errno> {
    // SAFETY: the system call takes no arguments and touches no user memory.
    let ret = unsafe { libc::syscall(SYS_RSEQ_SLICE_YIELD as libc::c_long) };
    if ret >= 0 {
        Ok(ret != 0)
    } else {
        Err(Errno::last())
    }
}

/// `prctl(PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_GET, 0, 0, 0)`: whether the
/// time-slice extension is enabled for the calling thread.
///
/// See `prctl(2)` and `Documentation/userspace-api/rseq.rst`. `EINVAL` on kernels without
/// the extension (Linux before 7.0, or built without `CONFIG_RSEQ_SLICE_EXTENSION`).
pub fn rseq_slice_extension_get() -> Result<bool, Errno> {
    // SAFETY: prctl with integer arguments only; this option reads no user memory.
    let ret = unsafe {
        libc::prctl(
            PR_RSEQ_SLICE_EXTENSION,
            PR_RSEQ_SLICE_EXTENSION_GET as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret >= 0 {
        Ok(ret as u64 & PR_RSEQ_SLICE_EXT_ENABLE != 0)
    } else {
        Err(Errno::last())
    }
}

/// `prctl(PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_SET, enable, 0, 0)`: enables or
/// disables the time-slice extension for the calling thread.
///
/// See `prctl(2)` and `Documentation/userspace-api/rseq.rst`. `EINVAL` on kernels without
/// the extension, `ENOTSUPP` when it is disabled on the kernel command line, `ENXIO` when
/// the thread has no registered rseq area.
pub fn rseq_slice_extension_set(enable: bool) -> Result<(), Errno> {
    let flags = if enable { PR_RSEQ_SLICE_EXT_ENABLE } else { 0 };
    // SAFETY: prctl with integer arguments only; the kernel updates the flags of the
    // calling thread's registered area, which it already writes to.
    let ret = unsafe {
        libc::prctl(
            PR_RSEQ_SLICE_EXTENSION,
            PR_RSEQ_SLICE_EXTENSION_SET as libc::c_ulong,
            flags as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// `MEMBARRIER_CMD_QUERY`.
const MEMBARRIER_CMD_QUERY: i32 = 0;
/// `MEMBARRIER_CMD_FLAG_CPU`: the command targets only the CPU given as `cpu_id`.
const MEMBARRIER_CMD_FLAG_CPU: u32 = 1 << 0;

/// A `membarrier(2)` command (`enum membarrier_cmd` of `<linux/membarrier.h>`), except
/// `MEMBARRIER_CMD_QUERY`, which is [`membarrier_query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum MembarrierCommand {
    /// `MEMBARRIER_CMD_GLOBAL`: a barrier on every running thread of the system.
    Global = 1 << 0,
    /// `MEMBARRIER_CMD_GLOBAL_EXPEDITED`: a barrier on the running threads of every process
    /// registered for it.
    GlobalExpedited = 1 << 1,
    /// `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`.
    RegisterGlobalExpedited = 1 << 2,
    /// `MEMBARRIER_CMD_PRIVATE_EXPEDITED`: a barrier on the running threads of this process.
    PrivateExpedited = 1 << 3,
    /// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`.
    RegisterPrivateExpedited = 1 << 4,
    /// `MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE`: also a core-serialising instruction.
    PrivateExpeditedSyncCore = 1 << 5,
    /// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE`.
    RegisterPrivateExpeditedSyncCore = 1 << 6,
    /// `MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ`: restart the rseq critical sections of every
    /// running thread of this process (on all CPUs, or one with [`membarrier_cpu`]).
    PrivateExpeditedRseq = 1 << 7,
    /// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ`: the registration the process must
    /// do once before using [`MembarrierCommand::PrivateExpeditedRseq`].
    RegisterPrivateExpeditedRseq = 1 << 8,
}

bitflags::bitflags! {
    /// The commands the kernel supports: the result of [`membarrier_query`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MembarrierQuery: u32 {
        /// [`MembarrierCommand::Global`].
        const GLOBAL = MembarrierCommand::Global as u32;
        /// [`MembarrierCommand::GlobalExpedited`].
        const GLOBAL_EXPEDITED = MembarrierCommand::GlobalExpedited as u32;
        /// [`MembarrierCommand::RegisterGlobalExpedited`].
        const REGISTER_GLOBAL_EXPEDITED = MembarrierCommand::RegisterGlobalExpedited as u32;
        /// [`MembarrierCommand::PrivateExpedited`].
        const PRIVATE_EXPEDITED = MembarrierCommand::PrivateExpedited as u32;
        /// [`MembarrierCommand::RegisterPrivateExpedited`].
        const REGISTER_PRIVATE_EXPEDITED = MembarrierCommand::RegisterPrivateExpedited as u32;
        /// [`MembarrierCommand::PrivateExpeditedSyncCore`].
        const PRIVATE_EXPEDITED_SYNC_CORE = MembarrierCommand::PrivateExpeditedSyncCore as u32;
        /// [`MembarrierCommand::RegisterPrivateExpeditedSyncCore`].
        const REGISTER_PRIVATE_EXPEDITED_SYNC_CORE =
            MembarrierCommand::RegisterPrivateExpeditedSyncCore as u32;
        /// [`MembarrierCommand::PrivateExpeditedRseq`].
        const PRIVATE_EXPEDITED_RSEQ = MembarrierCommand::PrivateExpeditedRseq as u32;
        /// [`MembarrierCommand::RegisterPrivateExpeditedRseq`].
        const REGISTER_PRIVATE_EXPEDITED_RSEQ =
            MembarrierCommand::RegisterPrivateExpeditedRseq as u32;
        // Commands of newer kernels are kept, not dropped.
        const _ = !0;
    }
}

impl MembarrierQuery {
    /// Whether the kernel supports `cmd`.
    pub fn supports(self, cmd: MembarrierCommand) -> bool {
        self.bits() & cmd as u32 != 0
    }
}

/// The raw call: `cmd`, `flags`, `cpu_id` passed through, the non-negative result returned.
fn raw_membarrier(cmd: i32, flags: u32, cpu_id: i32) -> Result<u32, Errno> {
    // SAFETY: membarrier takes no pointers; every argument is passed by value and any
    // invalid combination is rejected by the kernel with an errno.
    let ret = unsafe { libc::syscall(libc::SYS_membarrier, cmd, flags, cpu_id) };
    if ret >= 0 {
        Ok(ret as u32)
    } else {
        Err(Errno::last())
    }
}

/// `membarrier(MEMBARRIER_CMD_QUERY, 0, 0)`: the commands the kernel supports.
///
/// See `membarrier(2)`. `ENOSYS` when the kernel (or a seccomp filter) has no membarrier.
pub fn membarrier_query() -> Result<MembarrierQuery, Errno> {
    raw_membarrier(MEMBARRIER_CMD_QUERY, 0, 0).map(MembarrierQuery::from_bits_retain)
}

/// `membarrier(cmd, 0, 0)`: issues a memory barrier on the set of threads `cmd` selects.
///
/// See `membarrier(2)`. `EINVAL` for a command the kernel lacks, `EPERM` for a command the
/// process did not register for.
pub fn membarrier(cmd: MembarrierCommand) -> Result<(), Errno> {
    raw_membarrier(cmd as i32, 0, 0).map(drop)
}

/// `membarrier(cmd, MEMBARRIER_CMD_FLAG_CPU, cpu)`: `cmd` restricted to the thread running
/// on `cpu`, if any (the kernel accepts it for
/// [`MembarrierCommand::PrivateExpeditedRseq`] only).
///
/// See `membarrier(2)`. The kernel ignores a CPU that is not possible; `EINVAL` for a
/// number that does not fit the call's `int`.
pub fn membarrier_cpu(cmd: MembarrierCommand, cpu: u32) -> Result<(), Errno> {
    let cpu = i32::try_from(cpu).map_err(|_| Errno::EINVAL)?;
    raw_membarrier(cmd as i32, MEMBARRIER_CMD_FLAG_CPU, cpu).map(drop)
}
