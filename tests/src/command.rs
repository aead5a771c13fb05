//! Running the build steps of the tests (gcc, cargo, rustc) and failing with their
//! diagnostics, and finding the artifacts of this suite's own build for them.

use std::path::{Path, PathBuf};
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

/// `lib{name}-*.rlib` in `deps`, newest first (several builds of a crate can sit there),
/// for `--extern` arguments of a test that runs rustc itself.
pub fn rlibs(deps: &Path, name: &str) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(deps)
        .unwrap()
        .flatten()
        .filter(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            file.starts_with(&format!("lib{name}-")) && file.ends_with(".rlib")
        })
        .map(|e| {
            let modified = e.metadata().and_then(|m| m.modified());
            (modified.unwrap_or(std::time::UNIX_EPOCH), e.path())
        })
        .collect();
    found.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    found.into_iter().map(|(_, p)| p).collect()
}
