//! Re-running one test of the current test binary in a child process with its own
//! environment: glibc's tunable turning its rseq registration off, or the seccomp filter
//! refusing `rseq(2)` ([`crate::refuse_rseq`]) installed before `exec`, and, for scenarios
//! that must end in glibc's own abort, no core file. The child runs exactly that test; the
//! parent asserts how it ended.
//!
//! # Unsafe
//!
//! The `pre_exec` hooks run in the forked child; each block says why it is sound there.

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
    let mut cmd = test_command(name, SCENARIO, name, child.refuse_before_exec);
    match child.env {
        Env::GlibcDefault => cmd.env_remove("GLIBC_TUNABLES"),
        Env::NoGlibcRseq => cmd.env("GLIBC_TUNABLES", NO_GLIBC_RSEQ),
    };
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

/// The command that re-runs the test `name` of the current test binary alone (exactly that
/// test, one thread, output shown), with `scenario_var=scenario` in its environment and,
/// with `refuse_before_exec`, the seccomp filter refusing `rseq(2)` with that errno
/// installed before `exec`.
pub fn test_command(
    name: &str,
    scenario_var: &str,
    scenario: &str,
    refuse_before_exec: Option<i32>,
) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(scenario_var, scenario);
    if let Some(errno) = refuse_before_exec {
        // SAFETY: the hook runs in the forked child before exec and only calls prctl,
        // which is async-signal-safe; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || crate::refuse_rseq(errno));
        }
    }
    cmd
}
