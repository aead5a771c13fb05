//! The README's per-CPU counter example compiles and runs: it is extracted from
//! `README.md` (section "A per-CPU counter"), wrapped in `fn main`, and built with rustc
//! against the `rseq-percpu` this test was built with.

use rseq_tests::command::rlibs;
use std::path::Path;
use std::process::Command;

/// The first ```rust block after the heading `## A per-CPU counter`.
fn readme_example() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let section = text
        .split_once("## A per-CPU counter")
        .expect("README has a per-CPU counter section")
        .1;
    let block = section
        .split_once("```rust\n")
        .expect("a rust block in the section")
        .1;
    let code = block.split_once("```").expect("the block ends").0;
    assert!(
        code.lines().count() <= 10,
        "the README example has {} lines:\n{code}",
        code.lines().count()
    );
    code.to_string()
}

#[test]
fn readme_per_cpu_counter_example_builds_and_runs() {
    let code = readme_example();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("readme_counter.rs");
    std::fs::write(&src, format!("fn main() {{\n{code}}}\n")).unwrap();
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let bin = dir.path().join("readme_counter");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut errors = String::new();
    for percpu in rlibs(deps, "rseq_percpu") {
        let out = Command::new(&rustc)
            .args(["--edition", "2021", "--crate-type", "bin"])
            .arg("--extern")
            .arg(format!("rseq_percpu={}", percpu.display()))
            .arg("-L")
            .arg(format!("dependency={}", deps.display()))
            .arg(&src)
            .arg("-o")
            .arg(&bin)
            .output()
            .unwrap();
        if out.status.success() {
            let run = Command::new(&bin).output().unwrap();
            assert!(
                run.status.success(),
                "the README example failed:\n{}",
                String::from_utf8_lossy(&run.stderr)
            );
            return;
        }
        errors.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    panic!("the README example did not build:\n{code}\n{errors}");
}
