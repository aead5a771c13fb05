//! CPU placement of benchmark threads: `sched_setaffinity(2)` on the calling thread.
//!
//! # Unsafe
//!
//! `cpu_set_t` is built and passed to libc; each block says why it holds.
#![allow(unsafe_code)]

use std::io;

/// The CPUs the calling thread may run on (`sched_getaffinity(2)`), in increasing order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed.
    let rc =
        unsafe { libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * core::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `cpu < max`, the number of CPUs a `cpu_set_t` holds.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Restricts the calling thread to `cpus` (`sched_setaffinity(2)`).
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    let max = 8 * core::mem::size_of::<libc::cpu_set_t>();
    for &cpu in cpus {
        if cpu >= max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CPU {cpu} is beyond cpu_set_t"),
            ));
        }
        // SAFETY: `cpu < max` (checked above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPU the calling thread runs on (`sched_getcpu(3)`; glibc 2.35+ reads it from the
/// thread's rseq area when glibc registered one), or 0 if the call fails.
#[inline]
pub fn current_cpu() -> usize {
    // SAFETY: `sched_getcpu` has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).unwrap_or(0)
}
