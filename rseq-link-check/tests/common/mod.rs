//! Shared by the integration tests: re-running one test in a child process with its own
//! environment (glibc's tunable that turns its rseq registration off).

use std::process::Command;

/// The environment variable that selects the scenario a child process runs.
pub const SCENARIO: &str = "RSEQ_LINK_CHECK_TEST_SCENARIO";
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

/// Runs the test named `name` (this test) alone in a child process of the current test
/// binary, with environment `env`; in that child, runs `body`. The parent asserts that the
/// child ran exactly that test and that it passed.
pub fn in_child(name: &str, env: Env, body: impl FnOnce()) {
    if std::env::var(SCENARIO).as_deref() == Ok(name) {
        body();
        return;
    }
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, name);
    match env {
        Env::GlibcDefault => cmd.env_remove("GLIBC_TUNABLES"),
        Env::NoGlibcRseq => cmd.env("GLIBC_TUNABLES", NO_GLIBC_RSEQ),
    };
    let out = cmd.output().expect("spawn the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scenario {name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "scenario {name} did not run exactly one test:\n{stdout}"
    );
}
