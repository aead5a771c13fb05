//! README.md as a contract: every Rust snippet in it compiles and runs, and its commands run
//! as written.
//!
//! - Each ```rust block: the build script is the whole `build.rs` of
//!   `tests/fixtures/link/readme` (checked word for word), built in a fresh copy of that crate
//!   and run; every other block is wrapped in `fn main`, built with rustc against the
//!   `rseq-percpu` this test was built with, and run.
//! - `cargo install --path rseq-link-check` installs both tools (into a temporary root); the
//!   installed `rseq-link-check` then runs the README's `resolve` example, and the wrapper
//!   links the fixture crate with its summary line shown under `-Wlinker-messages`.
//! - The one-line build script of a crate that uses rseq-abi with default features builds
//!   in a fresh Cargo project and prints nothing.
//!
//! Not run here: `./test.sh` (it runs this suite) and the 30-minute stress run (its CI-sized
//! form is `--test stress`).

use rseq_tests::command::rlibs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).unwrap()
}

/// Every fenced block of `lang` in README.md, with the indentation of its fence removed.
fn blocks(lang: &str) -> Vec<String> {
    let text = readme();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start() != format!("```{lang}") {
            continue;
        }
        let mut code = String::new();
        for l in lines.by_ref() {
            if l.trim_start() == "```" {
                break;
            }
            code.push_str(l.get(indent..).unwrap_or(l.trim_start()));
            code.push('\n');
        }
        out.push(code);
    }
    out
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A Cargo command with the variables this suite's own build sets removed.
fn cargo(dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir).env("CARGO_TERM_COLOR", "never");
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RSEQ_LINK_CHECK_DENY",
        "RSEQ_LINK_CHECK_WARN",
        "RSEQ_LINK_CHECK_ALLOW",
        "RSEQ_LINK_CHECK_SUMMARY",
        "RSEQ_LINK_CHECK_LINKER",
        "RSEQ_LINK_CHECK_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A fresh copy named `copy` of `tests/fixtures/link/NAME` (path dependencies made absolute,
/// the workspace's Cargo.lock reused) under the test target directory, and the target
/// directory the copies share.
fn project(name: &str, copy: &str) -> (PathBuf, PathBuf) {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme");
    let dir = base.join(copy);
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&workspace().join("tests/fixtures/link").join(name), &dir);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let root = workspace().display().to_string();
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace("../../../..", &root),
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    (dir, base.join("target"))
}

#[test]
fn build_script_example_is_a_crate_that_builds_and_runs_clean() {
    let build_rs: Vec<String> = blocks("rust")
        .into_iter()
        .filter(|b| b.starts_with("// build.rs"))
        .collect();
    assert_eq!(build_rs.len(), 1, "one build-script example: {build_rs:#?}");
    let fixture =
        std::fs::read_to_string(workspace().join("tests/fixtures/link/readme/build.rs")).unwrap();
    assert_eq!(
        build_rs[0], fixture,
        "README's build.rs is tests/fixtures/link/readme/build.rs"
    );
    let (dir, target) = project("readme", "example");
    let out = cargo(&dir)
        .args(["build", "--offline"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    ok(&out, "cargo build of the README's crate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("warning: rseq-readme-app"),
        "the check of a correct crate prints nothing:\n{stderr}"
    );
    let run = Command::new(target.join("debug/rseq-readme-app"))
        .output()
        .unwrap();
    ok(&run, "the README's crate");
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("cpu_from_c"),
        "{run:?}"
    );
}

#[test]
fn one_line_check_of_a_default_rseq_abi_user_prints_nothing() {
    let readme = readme();
    let line = "rseq_link_check::buildscript::Check::new().run();";
    assert!(readme.contains(&format!("`{line}`")), "README names {line}");
    let (dir, target) = project("readme", "bare");
    // The same crate with rseq-abi's default features, no C library and the one-line check.
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest
            .replace("rseq-readme-app", "rseq-readme-bare")
            .replace(", features = [\"legacy-rseq-abi\"]", ""),
    )
    .unwrap();
    std::fs::write(
        dir.join("build.rs"),
        format!("fn main() {{\n    {line}\n}}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() {\n    println!(\"prepared {}\", rseq_abi::thread::prepare_current_thread().is_ok());\n}\n",
    )
    .unwrap();
    let out = cargo(&dir)
        .args(["build", "--offline"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    ok(&out, "cargo build of a default-feature rseq-abi user");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning: rseq-readme-bare"), "{stderr}");
    ok(
        &Command::new(target.join("debug/rseq-readme-bare"))
            .output()
            .unwrap(),
        "the default-feature crate",
    );
}

#[test]
fn every_other_rust_snippet_builds_and_runs() {
    let snippets: Vec<String> = blocks("rust")
        .into_iter()
        .filter(|b| !b.starts_with("// build.rs"))
        .collect();
    assert!(snippets.len() >= 2, "{snippets:#?}");
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    for (i, code) in snippets.iter().enumerate() {
        let src = dir.path().join(format!("snippet{i}.rs"));
        std::fs::write(&src, format!("fn main() {{\n{code}}}\n")).unwrap();
        let bin = dir.path().join(format!("snippet{i}"));
        let mut errors = String::new();
        let mut built = false;
        for percpu in rlibs(deps, "rseq_percpu") {
            let out = Command::new(&rustc)
                .args(["--edition", "2021", "--crate-type", "bin", "-A", "warnings"])
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
                built = true;
                break;
            }
            errors.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        assert!(built, "README snippet {i} did not build:\n{code}\n{errors}");
        ok(
            &Command::new(&bin).output().unwrap(),
            &format!("README snippet {i}"),
        );
    }
}

/// The `sh` and `console` commands of README.md that this test runs, and why the others are
/// left out.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "./test.sh",
        "it runs this test suite (and installs packages as root)",
    ),
    (
        "cargo run --release -p rseq-tests --example stress",
        "30 minutes; `--test stress` is its CI-sized form",
    ),
];

#[test]
fn install_step_and_the_installed_tools_work_as_written() {
    // Every shell command of the README is either run below or listed in NOT_RUN.
    let commands: Vec<String> = blocks("sh")
        .into_iter()
        .chain(blocks("console"))
        .flat_map(|b| {
            b.lines()
                .map(|l| l.trim_start_matches("$ ").to_string())
                .filter(|l| l.starts_with("cargo") || l.starts_with("./") || l.starts_with("rseq-"))
                .collect::<Vec<_>>()
        })
        .collect();
    let run_here = [
        "cargo install --path rseq-link-check",
        "cargo run --release -p rseq-link-check",
        "rseq-link-check resolve /usr/bin/ls --symbol __rseq_size",
    ];
    for c in &commands {
        assert!(
            run_here.iter().any(|r| c.starts_with(r))
                || NOT_RUN.iter().any(|(n, _)| c.starts_with(n)),
            "README command not covered by a test: {c}"
        );
    }

    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme");
    let root = base.join("install-root");
    let target = base.join("install-target");
    let out = cargo(&workspace())
        .args([
            "install",
            "--path",
            "rseq-link-check",
            "--offline",
            "--locked",
        ])
        .env("CARGO_INSTALL_ROOT", &root)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    ok(&out, "cargo install --path rseq-link-check");
    let bin = root.join("bin");
    for tool in ["rseq-link-check", "rseq-link-wrapper", "cargo-rseq"] {
        assert!(
            bin.join(tool).is_file(),
            "{tool} installed in {}",
            bin.display()
        );
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // The no-argument demo: a report on a real program, exit 0 or 1 (findings), never a
    // usage error or an unreadable input.
    let demo = cargo(&workspace())
        .args(["run", "--release", "-p", "rseq-link-check", "--offline"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        matches!(demo.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    assert!(String::from_utf8_lossy(&demo.stdout).contains("rseq-link-check check"));

    // The README's `resolve` example, with the installed tool on PATH: the same lines on a
    // machine like the one it was recorded on (glibc 2.35+ with ld.so at that path).
    let console = blocks("console").join("\n");
    let expected: Vec<&str> = console.lines().skip(1).collect();
    let real = Command::new("rseq-link-check")
        .args(["resolve", "/usr/bin/ls", "--symbol", "__rseq_size"])
        .env("PATH", &path)
        .output()
        .unwrap();
    ok(
        &real,
        "rseq-link-check resolve /usr/bin/ls --symbol __rseq_size",
    );
    let text = String::from_utf8_lossy(&real.stdout);
    for line in [
        "/usr/bin/ls: symbol __rseq_size",
        "winner: /lib64/ld-linux-x86-64.so.2 (4 bytes)",
    ] {
        if Path::new("/lib64/ld-linux-x86-64.so.2").exists() {
            assert!(
                expected.contains(&line) && text.contains(line),
                "{line}:\n{text}"
            );
        }
    }

    // The linker wrapper under cargo: its summary line is shown with -Wlinker-messages.
    let (dir, target) = project("readme", "wrapper");
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    let config = blocks("toml")
        .into_iter()
        .find(|b| b.contains("linker = \"rseq-link-wrapper\""))
        .expect("README's .cargo/config.toml");
    std::fs::write(dir.join(".cargo/config.toml"), &config).unwrap();
    let out = cargo(&dir)
        .args(["build", "--offline"])
        .env("CARGO_TARGET_DIR", target.with_file_name("target-wrapper"))
        .env("PATH", &path)
        .env("RSEQ_LINK_CHECK_SUMMARY", "1")
        .env("RUSTFLAGS", "-Wlinker-messages")
        .output()
        .unwrap();
    ok(&out, "cargo build with the linker wrapper");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rseq-link-check: ") && stderr.contains("0 error(s)"),
        "the wrapper's summary line is shown:\n{stderr}"
    );
}
