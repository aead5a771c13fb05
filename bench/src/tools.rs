//! External programs the benchmarks run: the workspace's `rseq-link-check` binary (built
//! on demand in the benchmark's own target directory), and timing of whole commands.

use crate::paths;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the parent of this package's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Builds (if needed) and returns the release `rseq-link-check` binary of this workspace,
/// in the target directory the benchmark runs from.
pub fn rseq_link_check() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "rseq-link-check",
            "--bin",
            "rseq-link-check",
        ])
        .env("CARGO_TARGET_DIR", paths::target_dir())
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build -p rseq-link-check failed ({status})"));
    }
    let bin = paths::release_dir().join("rseq-link-check");
    bin.exists()
        .then_some(bin.clone())
        .ok_or_else(|| format!("{} missing after the build", bin.display()))
}

/// Runs `cmd` once with its output discarded; returns its wall time and exit code.
pub fn time_command(cmd: &mut Command) -> Result<(Duration, i32), String> {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let t0 = Instant::now();
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    Ok((t0.elapsed(), status.code().unwrap_or(-1)))
}

/// Runs `cmd` and returns its standard output (`None` if it could not start).
pub fn output_of(cmd: &mut Command) -> Option<(i32, String, String)> {
    let out = cmd.stdin(Stdio::null()).output().ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The median of `n` runs of `f` (each returning a duration).
pub fn median_of(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut runs: Vec<Duration> = (0..n.max(1)).map(|_| f()).collect();
    runs.sort();
    runs[runs.len() / 2]
}
