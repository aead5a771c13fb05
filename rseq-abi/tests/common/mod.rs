//! Shared by the integration tests: re-running one test in a child process with its own
//! environment, seccomp filters that refuse `rseq(2)`, CPU pinning.
#![allow(dead_code, unsafe_code)]

use std::process::Command;

/// The environment variable that selects the scenario a child process runs.
pub const SCENARIO: &str = "RSEQ_ABI_TEST_SCENARIO";
/// glibc's tunable that turns its rseq registration off.
pub const NO_GLIBC_RSEQ: &str = "glibc.pthread.rseq=0";

/// How the child's environment differs from this process's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Env {
    /// glibc registers rseq itself (the machine's default).
    GlibcDefault,
    /// `GLIBC_TUNABLES=glibc.pthread.rseq=0`: glibc does not register.
    NoGlibcRseq,
}

/// True in the child process that runs scenario `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(SCENARIO).as_deref() == Ok(name)
}

/// How a scenario's child process is started and how it must end.
#[derive(Clone, Copy)]
pub struct Child {
    /// The environment.
    pub env: Env,
    /// Install a seccomp filter refusing `rseq(2)` with this errno before `exec`, as
    /// container runtimes do.
    pub refuse_before_exec: Option<i32>,
    /// The child must be killed by `SIGABRT` with this text on stderr, instead of passing.
    pub aborts_with: Option<&'static str>,
}

impl Child {
    /// A child with environment `env` that must pass.
    pub const fn new(env: Env) -> Child {
        Child {
            env,
            refuse_before_exec: None,
            aborts_with: None,
        }
    }
}

/// Runs the test named `name` (this test) alone in a child process of the current test
/// binary, with environment `env`; in that child, runs `body`. The parent asserts that the
/// child ran exactly that test and that it passed, and returns the child's stdout.
pub fn in_child(name: &str, env: Env, body: impl FnOnce()) -> String {
    in_child_with(name, Child::new(env), body)
}

/// [`in_child`] with full control over the child.
pub fn in_child_with(name: &str, child: Child, body: impl FnOnce()) -> String {
    use std::os::unix::process::CommandExt;
    if is_child(name) {
        body();
        return String::new();
    }
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, name);
    match child.env {
        Env::GlibcDefault => cmd.env_remove("GLIBC_TUNABLES"),
        Env::NoGlibcRseq => cmd.env("GLIBC_TUNABLES", NO_GLIBC_RSEQ),
    };
    if let Some(errno) = child.refuse_before_exec {
        // SAFETY: the hook runs in the forked child before exec and only calls prctl,
        // which is async-signal-safe; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || install_filter(errno).map_err(std::io::Error::from_raw_os_error));
        }
    }
    if child.aborts_with.is_some() {
        // SAFETY: runs in the forked child before exec; setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                // No core file from the expected abort.
                if libc::setrlimit(libc::RLIMIT_CORE, &none) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let out = cmd.output().expect("spawn the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(message) = child.aborts_with {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "scenario {name} must abort:\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.contains(message),
            "scenario {name} stderr:\n{stderr}"
        );
        return stdout;
    }
    assert!(
        out.status.success(),
        "scenario {name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "scenario {name} did not run exactly one test:\n{stdout}"
    );
    stdout
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// Installs a seccomp filter on the calling thread (inherited by threads it creates later
/// and across `exec`) that makes `rseq(2)` fail with `errno` and allows every other call.
pub fn refuse_rseq(errno: i32) {
    if let Err(e) = install_filter(errno) {
        panic!(
            "installing the seccomp filter: {}",
            std::io::Error::from_raw_os_error(e)
        );
    }
}

/// The filter of [`refuse_rseq`]; returns the errno of a failed `prctl`. Allocates nothing,
/// so it can run between `fork` and `exec`.
fn install_filter(errno: i32) -> Result<(), i32> {
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
        // A = seccomp_data.arch
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        // other architecture: allow
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            0,
            3,
        ),
        // A = seccomp_data.nr
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_rseq as u32,
            0,
            1,
        ),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | errno as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    let errno_now = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(errno_now());
    }
    // SAFETY: `prog` points to a valid filter program that outlives the call (the kernel
    // copies it).
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const sock_fprog,
        )
    };
    if r != 0 {
        return Err(errno_now());
    }
    Ok(())
}

/// The CPUs the calling thread may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(r, 0);
    // SAFETY: CPU_ISSET reads the set.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Pins the calling thread to `cpu`; returns the previous mask's CPUs.
pub fn pin_to(cpu: usize) {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(
        r,
        0,
        "sched_setaffinity({cpu}): {}",
        std::io::Error::last_os_error()
    );
}

/// `sched_getcpu()` straight from the C library.
pub fn sched_getcpu() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::sched_getcpu() }
}
