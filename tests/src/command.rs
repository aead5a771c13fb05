//! Running the build steps of the tests (gcc, cargo) and failing with their diagnostics.

use std::process::{Command, Output};

/// Runs `cmd` to completion and returns its output; panics, showing its standard error,
/// when it cannot be started or exits unsuccessfully. `what` names the step in the message.
pub fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
