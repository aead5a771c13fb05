//! Re-running the current test binary as a child process in a chosen environment: with
//! `GLIBC_TUNABLES`, or with a seccomp filter that refuses `rseq(2)` installed before `exec`
//! (the filter and the CPU helpers are `rseq_testkit`'s).
//!
//! # Safety
//!
//! Uses `unsafe` for the `pre_exec` hook.
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
            cmd.pre_exec(move || rseq_testkit::refuse_rseq(errno));
        }
    }
    cmd.output().expect("running the child test binary")
}
