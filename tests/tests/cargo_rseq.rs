//! `cargo rseq check` on a fresh Cargo project: a correct rseq-abi user builds, every
//! artifact (the bin and an example) is checked, and the exit status is 0; a usage error
//! exits 64; a build that fails exits 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CARGO_RSEQ: &str = env!("CARGO_BIN_EXE_cargo-rseq-under-test");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fresh project `name` using rseq-abi (default features) by path, with `main` as its
/// binary's source and one example, and the target directory the projects share.
fn project(name: &str, main: &str) -> (PathBuf, PathBuf) {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cargo-rseq");
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("examples")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nrseq-abi = {{ path = \"{}\" }}\n\n[workspace]\n",
            workspace().join("rseq-abi").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
    std::fs::write(
        dir.join("examples/probe.rs"),
        "fn main() { println!(\"{:?}\", rseq_abi::thread::prepare_current_thread().is_ok()); }\n",
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    (dir, base.join("target"))
}

fn cargo_rseq(dir: &Path, target: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(CARGO_RSEQ);
    cmd.arg("rseq")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TERM_COLOR", "never");
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().unwrap()
}

#[test]
fn a_correct_rseq_abi_user_is_clean() {
    let (dir, target) = project(
        "rseq_user",
        "fn main() {\n    println!(\"{:?}\", rseq_abi::thread::prepare_current_thread().is_ok());\n}\n",
    );
    let out = cargo_rseq(&dir, &target, &["check", "--offline", "--all-targets"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("rseq-link-check: 2 artifact(s) checked: clean"),
        "the bin and the example are checked:\n{stderr}"
    );

    let usage = cargo_rseq(&dir, &target, &["frobnicate"]);
    assert_eq!(usage.status.code(), Some(64));

    let (broken, target) = project("broken_user", "fn main() { this does not compile }\n");
    let out = cargo_rseq(&broken, &target, &["check", "--offline"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
