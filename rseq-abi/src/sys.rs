//! Thin wrappers of the system calls this crate makes: `rseq(2)` and `membarrier(2)`.
//!
//! Each wrapper mirrors one C call, issues it with `syscall(2)` (the C library has no
//! wrappers for either), and returns a typed [`Errno`] on failure.
//!
//! # Safety
//!
//! This module uses `unsafe` for the raw system calls. `rseq(2)` hands the kernel a
//! pointer it will write to for the rest of the thread's life, so [`rseq`] is itself an
//! `unsafe fn`; `membarrier(2)` touches no user memory and is safe to call.
#![allow(unsafe_code)]

use crate::abi::{Rseq, SYS_RSEQ};
use crate::Errno;

/// `MEMBARRIER_CMD_QUERY`: returns the bit mask of supported commands.
pub const MEMBARRIER_CMD_QUERY: i32 = 0;
/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ`: restart the rseq critical sections of every
/// thread of the process that is running (on all CPUs, or one with
/// [`MEMBARRIER_CMD_FLAG_CPU`]).
pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 7;
/// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ`: the registration the process must
/// do once before using [`MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ`].
pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 8;
/// `MEMBARRIER_CMD_FLAG_CPU`: the command targets only the CPU given as `cpu_id`.
pub const MEMBARRIER_CMD_FLAG_CPU: u32 = 1 << 0;

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

/// `int membarrier(int cmd, unsigned int flags, int cpu_id)`: issues a memory barrier on
/// the set of threads the command selects.
///
/// See `membarrier(2)`. Returns the command's non-negative result (a bit mask for
/// [`MEMBARRIER_CMD_QUERY`], 0 otherwise).
pub fn membarrier(cmd: i32, flags: u32, cpu_id: i32) -> Result<i32, Errno> {
    // SAFETY: membarrier takes no pointers; every argument is passed by value and any
    // invalid combination is rejected by the kernel with an errno.
    let ret = unsafe { libc::syscall(libc::SYS_membarrier, cmd, flags, cpu_id) };
    if ret >= 0 {
        Ok(ret as i32)
    } else {
        Err(Errno::last())
    }
}

/// `int sched_getcpu(void)`: the CPU the calling thread is running on.
///
/// See `sched_getcpu(3)`.
pub fn sched_getcpu() -> Result<u32, Errno> {
    // SAFETY: sched_getcpu takes no arguments and touches no caller memory.
    let ret = unsafe { libc::sched_getcpu() };
    if ret >= 0 {
        Ok(ret as u32)
    } else {
        Err(Errno::last())
    }
}
