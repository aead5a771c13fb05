//! Process and CPU helpers shared by the test suites and the benchmarks: which CPUs the
//! calling thread may use, pinning it, the C library's `sched_getcpu`, and a seccomp filter
//! that makes `rseq(2)` fail (how the tests take rseq away from a process or a thread), and
//! the reader of the real dynamic loader's `LD_DEBUG=bindings` output ([`ld_debug`]), the
//! ground truth the loader model is compared with; and [`child`], which re-runs one test in a
//! child process with its own environment.
//!
//! The affinity helpers panic with the system's error when a call fails: they serve tests
//! and benchmarks, where that failure ends the run anyway.
//!
//! # Unsafe
//!
//! `cpu_set_t` and the filter program are built and passed to libc; each block says why it
//! holds.
#![allow(unsafe_code)]

use std::io;

pub mod child;
pub mod ld_debug;

/// The CPUs the calling thread may run on (`sched_getaffinity(2)`), in increasing order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity: {}", io::Error::last_os_error());
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the number of CPUs a `cpu_set_t` holds.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Restricts the calling thread to `cpus` (`sched_setaffinity(2)`).
pub fn pin_current_thread(cpus: &[usize]) {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        assert!(
            cpu < libc::CPU_SETSIZE as usize,
            "CPU {cpu} is beyond cpu_set_t"
        );
        // SAFETY: `cpu` is below CPU_SETSIZE (checked above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(
        rc,
        0,
        "sched_setaffinity({cpus:?}): {}",
        io::Error::last_os_error()
    );
}

/// The C library's `sched_getcpu(3)`: the CPU the calling thread runs on, or -1. (glibc
/// 2.35+ reads it from the thread's rseq area when glibc registered one.)
#[inline]
pub fn sched_getcpu() -> i32 {
    // SAFETY: `sched_getcpu` has no preconditions.
    unsafe { libc::sched_getcpu() }
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xc000_00f3;

/// Installs a seccomp filter on the calling thread, inherited by the threads it creates
/// later and across `exec`, that makes `rseq(2)` fail with `errno` and allows every other
/// call. Allocates nothing, so it can run between `fork` and `exec` (`pre_exec`).
pub fn refuse_rseq(errno: i32) -> io::Result<()> {
    use libc::{sock_filter, sock_fprog};
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let mut filter = [
        // A = seccomp_data.arch; another architecture: allow.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH,
            0,
            3,
        ),
        // A = seccomp_data.nr; rseq: fail with errno.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_rseq as u32,
            0,
            1,
        ),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `prog` points to a valid filter program that outlives the call (the kernel
    // copies it).
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const sock_fprog,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_moves_the_thread() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        for &cpu in &cpus {
            pin_current_thread(&[cpu]);
            assert_eq!(sched_getcpu(), cpu as i32);
        }
        pin_current_thread(&cpus);
        assert_eq!(allowed_cpus(), cpus);
    }

    #[test]
    fn the_filter_refuses_rseq_only() {
        // In a thread of its own: the filter stays with that thread (and ones it creates).
        std::thread::spawn(|| {
            refuse_rseq(libc::ENOSYS).expect("install the filter");
            // SAFETY: rseq with a null area only returns an error; getpid has no arguments.
            let rc = unsafe { libc::syscall(libc::SYS_rseq, 0usize, 0u32, 0i32, 0u32) };
            assert_eq!(rc, -1);
            assert_eq!(
                io::Error::last_os_error().raw_os_error(),
                Some(libc::ENOSYS)
            );
            // SAFETY: getpid has no preconditions.
            assert!(unsafe { libc::getpid() } > 0);
        })
        .join()
        .unwrap();
        // This thread is unfiltered: the same call fails for its arguments (EINVAL), not ENOSYS.
        // SAFETY: as above.
        let rc = unsafe { libc::syscall(libc::SYS_rseq, 0usize, 0u32, 0i32, 0u32) };
        assert_eq!(rc, -1);
        assert_ne!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOSYS)
        );
    }
}
