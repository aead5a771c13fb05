//! Re-running the current test binary as a child process in a chosen environment: with
//! `GLIBC_TUNABLES`, with a seccomp filter that refuses `rseq(2)` installed before `exec`, and
//! pinning threads to CPUs.
//!
//! # Safety
//!
//! Uses `unsafe` for `prctl`/`sched_setaffinity` calls and for the `pre_exec` hook, each with
//! its own justification.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

/// How to start a child.
#[derive(Debug, Default, Clone)]
pub struct ChildEnv {
    /// Extra environment variables.
    pub vars: Vec<(String, String)>,
    /// Install a seccomp filter making `rseq(2)` fail with this errno before `exec`.
    pub refuse_rseq: Option<i32>,
}

/// Runs the test `name` of the current test binary in a child process with `env`, and
/// returns its output. The child sees `scenario_var=scenario`.
pub fn run_test_in_child(name: &str, scenario_var: &str, scenario: &str, env: &ChildEnv) -> Output {
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", name, "--test-threads=1", "--nocapture"]);
    cmd.env(scenario_var, scenario);
    for (k, v) in &env.vars {
        cmd.env(k, v);
    }
    if let Some(errno) = env.refuse_rseq {
        // SAFETY: the hook only calls `prctl`, which is async-signal-safe, and allocates
        // nothing (the filter lives on the hook's stack).
        unsafe {
            cmd.pre_exec(move || {
                install_rseq_filter(errno).map_err(std::io::Error::from_raw_os_error)
            });
        }
    }
    cmd.output().expect("running the child test binary")
}

/// Installs a seccomp filter (inherited across `exec` and by later threads) making `rseq(2)`
/// fail with `errno` and allowing every other call. Returns the errno of a failed `prctl`.
pub fn install_rseq_filter(errno: i32) -> Result<(), i32> {
    use libc::{sock_filter, sock_fprog};
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xc000_003e;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xc000_00b7;
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
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `prog` points to a valid filter program that outlives the call (the kernel
    // copies it).
    if unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const sock_fprog,
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(())
}

/// The CPUs the calling thread may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(
        rc,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `c` is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Restricts the calling thread to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: callers pass CPUs from `allowed_cpus`, below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(
        rc,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}
