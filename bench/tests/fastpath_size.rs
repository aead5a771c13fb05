//! The fast paths of `rseq_percpu`'s operations do not grow: each one's instruction count,
//! read from the disassembly of an optimised build (not timed), stays at or below the
//! count recorded in [`LIMITS`].
//!
//! The test builds `rseq_abi`, `rseq_percpu` and the fixture `fixtures/fastpath_ops.rs`
//! (one `#[inline(never)]` function per operation and index kind) with rustc at opt-level 3
//! without debug assertions or overflow checks, as the release profile does (in one codegen
//! unit, so that the counts are stable), taking the
//! other dependencies (libc, crossbeam-utils, the proc macros, ...) from this test's own
//! `deps` directory. It then counts each function's fast path with `rseq_bench::disasm`
//! (entry → every critical section of the function and of its callees → return, nothing
//! aborting, no slow path). A count above its limit fails, with the listing of the path;
//! every count is printed (`-- --nocapture`), so that a limit can be lowered with an
//! improvement.

use rseq_bench::disasm::Code;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The recorded instruction counts of the fast paths (x86_64), by function of the
/// fixture. Raise one only with a reason; lower it when a change makes the path shorter.
/// Last raised by the bound on the CPU or concurrency index before any slot is touched
/// (a compare and an untaken branch in each prelude; the spin lock also passes its slot
/// count into the section).
const LIMITS: &[(&str, u64)] = &[
    ("fp_cpu_counter_add", 20),
    ("fp_cid_counter_add", 31),
    ("fp_cpu_spinlock_lock_inc_unlock", 40),
    ("fp_cid_spinlock_lock_inc_unlock", 49),
    ("fp_cpu_stack_push", 31),
    ("fp_cid_stack_push", 39),
    ("fp_cpu_stack_pop", 39),
    ("fp_cid_stack_pop", 47),
    ("fp_cpu_ring_push", 51),
    ("fp_cid_ring_push", 60),
    ("fp_cpu_ring_pop", 56),
    ("fp_cid_ring_pop", 81),
    ("fp_cpu_copy_ring_push", 87),
    ("fp_cid_copy_ring_push", 94),
    ("fp_cpu_copy_ring_pop", 91),
    ("fp_cid_copy_ring_pop", 95),
];

/// `lib{name}-*.{ext}` files of `dir`, newest first.
fn artifacts(dir: &Path, name: &str, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .expect("read the deps directory")
        .flatten()
        .filter(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            file.starts_with(&format!("lib{name}-")) && file.ends_with(&format!(".{ext}"))
        })
        .map(|e| {
            let t = e.metadata().and_then(|m| m.modified());
            (t.unwrap_or(std::time::UNIX_EPOCH), e.path())
        })
        .collect();
    found.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    found.into_iter().map(|(_, p)| p).collect()
}

/// `--extern name=PATH` for the newest build of `name` in `deps`.
fn extern_arg(deps: &Path, name: &str, ext: &str) -> String {
    let path = artifacts(deps, name, ext)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no lib{name}-*.{ext} in {}", deps.display()));
    format!("{name}={}", path.display())
}

/// Runs rustc at opt-level 3 (release: no debug assertions, no overflow checks).
fn rustc(out: &Path, args: &[&str], externs: &[String]) {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let exe = std::env::current_exe().expect("the test executable");
    let deps = exe.parent().expect("the deps directory");
    let mut cmd = Command::new(rustc);
    // One codegen unit: the counts do not move with the partitioning of unrelated code.
    cmd.args([
        "--edition",
        "2021",
        "-C",
        "opt-level=3",
        "-C",
        "codegen-units=1",
    ])
    .args(["-C", "debug-assertions=off", "-C", "overflow-checks=off"])
    .arg("-L")
    .arg(format!("dependency={}", deps.display()))
    .arg("-L")
    .arg(format!("dependency={}", out.display()))
    .arg("--out-dir")
    .arg(out)
    .args(args)
    .env("CARGO_PKG_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR"))
    .env("CARGO_PKG_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR"));
    for e in externs {
        cmd.arg("--extern").arg(e);
    }
    let output = cmd.output().expect("run rustc");
    assert!(
        output.status.success(),
        "rustc {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds the fixture; returns the executable.
fn build(out: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let exe = std::env::current_exe().expect("the test executable");
    let deps = exe.parent().expect("the deps directory");
    let abi = root.join("rseq-abi/src/lib.rs");
    rustc(
        out,
        &[
            "--crate-type",
            "rlib",
            "--crate-name",
            "rseq_abi",
            "--cfg",
            "feature=\"std\"",
            "--cfg",
            "feature=\"default\"",
            &abi.to_string_lossy(),
        ],
        &[
            extern_arg(deps, "libc", "rlib"),
            extern_arg(deps, "thiserror", "rlib"),
            extern_arg(deps, "bitflags", "rlib"),
        ],
    );
    let percpu = root.join("rseq-percpu/src/lib.rs");
    rustc(
        out,
        &[
            "--crate-type",
            "rlib",
            "--crate-name",
            "rseq_percpu",
            &percpu.to_string_lossy(),
        ],
        &[
            format!("rseq_abi={}", out.join("librseq_abi.rlib").display()),
            extern_arg(deps, "rseq_macros", "so"),
            extern_arg(deps, "crossbeam_utils", "rlib"),
            extern_arg(deps, "libc", "rlib"),
            extern_arg(deps, "thiserror", "rlib"),
        ],
    );
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fastpath_ops.rs");
    rustc(
        out,
        &[
            "--crate-type",
            "bin",
            "--crate-name",
            "fastpath_ops",
            &fixture.to_string_lossy(),
        ],
        &[format!(
            "rseq_percpu={}",
            out.join("librseq_percpu.rlib").display()
        )],
    );
    out.join("fastpath_ops")
}

#[test]
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn fast_paths_stay_within_their_recorded_instruction_counts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exe = build(dir.path());
    let mut code = Code::load(&exe).expect("analyse the fixture");
    let mut report = String::new();
    let mut over = Vec::new();
    for &(name, limit) in LIMITS {
        let f = code
            .find(name)
            .unwrap_or_else(|| panic!("{name} is not in the fixture"));
        let fp = code
            .fast_path(&f)
            .unwrap_or_else(|| panic!("{name}: no fast path found"));
        assert!(
            fp.sections > 0,
            "{name}: no critical section on its fast path"
        );
        report.push_str(&format!(
            "{name}: {} instructions (limit {limit}), {} sections\n",
            fp.instructions, fp.sections
        ));
        if fp.instructions > limit {
            over.push(format!(
                "{name}: {} instructions, recorded {limit}:\n{}",
                fp.instructions,
                code.listing(&f, &fp.path, &code.sections_in(&f))
            ));
        }
    }
    println!("{report}");
    assert!(
        over.is_empty(),
        "fast paths grew past their recorded counts (LIMITS in {}):\n{}",
        file!(),
        over.join("\n")
    );
}
