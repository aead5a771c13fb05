//! Where the benchmarks find things and put their results.

use std::path::PathBuf;

/// The cargo target directory the running benchmark was built in (`…/target` for
/// `…/target/release/deps/NAME-HASH`), or `./target` when that shape is not recognised.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let from_exe = exe.as_deref().and_then(|e| {
        let deps = e.parent()?;
        let profile = deps.parent()?;
        (deps.file_name()? == "deps").then(|| profile.parent().map(PathBuf::from))?
    });
    from_exe.unwrap_or_else(|| PathBuf::from("target"))
}

/// The directory of this harness's own results (tables, side measurements):
/// `TARGET/rseq-bench`, created if missing.
pub fn results_dir() -> PathBuf {
    let dir = target_dir().join("rseq-bench");
    // A failure shows up when the first result is written.
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Criterion's output directory: `TARGET/criterion`.
pub fn criterion_dir() -> PathBuf {
    target_dir().join("criterion")
}

/// The release-profile directory next to this benchmark (`TARGET/release`), where
/// `cargo build --release` puts the workspace's binaries.
pub fn release_dir() -> PathBuf {
    target_dir().join("release")
}
