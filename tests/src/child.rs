//! Re-running the current test binary as a child process in a chosen environment: with
//! `GLIBC_TUNABLES`, or with a seccomp filter that refuses `rseq(2)` installed before `exec`
//! (the command, the filter and the CPU helpers are `rseq_testkit`'s).

use std::process::Output;

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
    let mut cmd = rseq_testkit::child::test_command(name, scenario_var, scenario, env.refuse_rseq);
    for (k, v) in &env.vars {
        cmd.env(k, v);
    }
    cmd.output().expect("running the child test binary")
}
