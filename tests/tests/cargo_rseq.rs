//! `cargo rseq check` on a fresh Cargo project: a correct rseq-abi user builds, every
//! artifact (the bin and an example) is checked, and the exit status is 0; a usage error
//! exits 64; a build that fails exits 2. A C library's 16-byte `__rseq_abi` next to the
//! `legacy-rseq-abi` feature, and a cdylib whose default version script hides its
//! `__rseq_abi` from a C module that needs it, are findings (exit 1). On copies of the
//! fixture crate `tests/fixtures/inject-demo`: `verify` (human and `--message-format=json`),
//! `asm FUNCTION` (one function's sections; a function matching nothing exits 1 and names
//! the functions that have sections), `inject --bin` (the correct section exits 0, the
//! broken one 1 naming the boundary) and `asm --diff REV` in a git repository whose two
//! commits differ by one instruction in one section.

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
    project_with(
        name,
        "rseq-abi = { path = \"RSEQ_ABI\" }\n",
        &[
            ("src/main.rs", main),
            (
                "examples/probe.rs",
                "fn main() { println!(\"{:?}\", rseq_abi::thread::prepare_current_thread().is_ok()); }\n",
            ),
        ],
    )
}

/// A fresh project `name` whose manifest ends with `manifest_tail` (after `[package]`;
/// `RSEQ_ABI` stands for rseq-abi's directory) and holds `files`, and the target directory
/// the projects share.
fn project_with(name: &str, manifest_tail: &str, files: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cargo-rseq");
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tail = manifest_tail.replace(
        "RSEQ_ABI",
        &workspace().join("rseq-abi").display().to_string(),
    );
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{tail}\n[workspace]\n"
        ),
    )
    .unwrap();
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
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

/// A build script that compiles `csrc/small.c` with gcc into a shared library `libsmall.so`
/// in `OUT_DIR` and links it (with a run path, so the loader model finds it).
const SMALL_C_BUILD_RS: &str = r#"use std::process::Command;

fn main() {
    let out = std::env::var("OUT_DIR").unwrap();
    let lib = format!("{out}/libsmall.so");
    let cc = ["-shared", "-fPIC", "-O2", "-o", lib.as_str(), "csrc/small.c"];
    assert!(Command::new("cc").args(cc).status().unwrap().success());
    println!("cargo:rerun-if-changed=csrc/small.c");
    println!("cargo:rustc-link-search=native={out}");
    println!("cargo:rustc-link-lib=dylib=small");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{out}");
}
"#;

#[test]
fn a_c_library_with_a_16_byte_rseq_abi_next_to_the_legacy_feature_is_a_finding() {
    let (dir, target) = project_with(
        "small_c_area",
        "rseq-abi = { path = \"RSEQ_ABI\", features = [\"legacy-rseq-abi\"] }\n",
        &[
            ("build.rs", SMALL_C_BUILD_RS),
            (
                "csrc/small.c",
                "/* A C library with its own 16-byte __rseq_abi (too small for struct rseq). */\n\
                 __attribute__((aligned(32))) __thread char __rseq_abi[16];\n\
                 int small_touch(void) { return __rseq_abi[0]; }\n",
            ),
            (
                "src/main.rs",
                "extern \"C\" {\n    fn small_touch() -> i32;\n}\n\n\
                 fn main() {\n    // SAFETY: small_touch only reads its own thread-local area.\n    \
                 let c = unsafe { small_touch() };\n    \
                 println!(\"{c} {:?}\", rseq_abi::thread::prepare_current_thread().is_ok());\n}\n",
            ),
        ],
    );
    let out = cargo_rseq(&dir, &target, &["check", "--offline"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("package `small_c_area`, bin `small_c_area`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("libsmall.so"),
        "the C library's definition:\n{stderr}"
    );
    assert!(stderr.contains("16"), "its size:\n{stderr}");
    assert!(stderr.contains("32"), "rseq-abi's size:\n{stderr}");
}

/// A build script that compiles `csrc/need.c` with gcc into a shared library `libneed.so`
/// in `OUT_DIR` and links it (with a run path, so the loader model finds it).
const NEED_C_BUILD_RS: &str = r#"use std::process::Command;

fn main() {
    let out = std::env::var("OUT_DIR").unwrap();
    let lib = format!("{out}/libneed.so");
    let cc = ["-shared", "-fPIC", "-O2", "-o", lib.as_str(), "csrc/need.c"];
    assert!(Command::new("cc").args(cc).status().unwrap().success());
    println!("cargo:rerun-if-changed=csrc/need.c");
    println!("cargo:rustc-link-search=native={out}");
    println!("cargo:rustc-link-lib=dylib=need");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{out}");
}
"#;

#[test]
fn a_cdylib_whose_default_version_script_hides_the_legacy_rseq_abi_is_a_finding() {
    let (dir, target) = project_with(
        "hidden_area_plugin",
        "rseq-abi = { path = \"RSEQ_ABI\", features = [\"legacy-rseq-abi\"] }\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n",
        &[
            ("build.rs", NEED_C_BUILD_RS),
            (
                "csrc/need.c",
                "/* A C module that uses the shared __rseq_abi some other module defines. */\n\
                 extern __thread char __rseq_abi[];\n\
                 int need_touch(void) { return __rseq_abi[4]; }\n",
            ),
            (
                "src/lib.rs",
                "extern \"C\" {\n    fn need_touch() -> i32;\n}\n\n\
                 /// Registers the calling thread and reads its CPU through the C module.\n\
                 #[no_mangle]\n\
                 pub extern \"C\" fn plugin_register() -> i32 {\n    \
                 let _ = rseq_abi::thread::prepare_current_thread();\n    \
                 // SAFETY: need_touch only reads the calling thread's area.\n    \
                 unsafe { need_touch() }\n}\n",
            ),
        ],
    );
    let out = cargo_rseq(&dir, &target, &["check", "--offline"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("package `hidden_area_plugin`, cdylib `hidden_area_plugin`"),
        "{stderr}"
    );
    // The C module's reference finds nothing exported; the cdylib keeps its private copy.
    assert!(stderr.contains("error[split-instance]"), "{stderr}");
    assert!(stderr.contains("libneed.so -> nothing"), "{stderr}");
    assert!(
        stderr.contains("libhidden_area_plugin.so -> ") && stderr.contains("(static)"),
        "{stderr}"
    );

    // --json: the artifact's message carries the loader model's report with the code.
    let out = cargo_rseq(&dir, &target, &["check", "--offline", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let messages: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["command"], "check");
    assert_eq!(messages[0]["target"]["kind"], "cdylib");
    assert_eq!(messages[0]["status"], "findings");
    assert_eq!(
        messages[0]["report"]["check"]["diagnostics"][0]["code"], "split-instance",
        "{}",
        messages[0]
    );
    assert_eq!(messages[1]["reason"], "rseq-finished");
    assert_eq!(messages[1]["success"], false);
}

/// A copy of the fixture crate `tests/fixtures/inject-demo` (hand-written x86_64 critical
/// sections: `demo_add` correct, `demo_add_broken` not) as the project `name`.
#[cfg(target_arch = "x86_64")]
fn inject_demo(name: &str) -> (PathBuf, PathBuf) {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cargo-rseq");
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let fixture = workspace().join("tests/fixtures/inject-demo");
    for rel in [
        "Cargo.toml",
        "Cargo.lock",
        "src/lib.rs",
        "src/add_fn.rs",
        "src/bin/inject-demo.rs",
        "src/bin/inject-demo-v2.rs",
        "dl/demo_dl.rs",
    ] {
        std::fs::create_dir_all(dir.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(fixture.join(rel), dir.join(rel)).unwrap();
    }
    (dir, base.join("target"))
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
#[cfg(target_arch = "x86_64")]
fn verify_checks_every_artifacts_critical_sections() {
    let (dir, target) = inject_demo("verify_demo");
    let out = cargo_rseq(&dir, &target, &["verify", "--offline"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("rseq-link-check: 2 artifact(s) checked: clean"),
        "both bins are verified:\n{stderr}"
    );

    // --json: one object per artifact with the verifier's report, then a final one.
    let out = cargo_rseq(
        &dir,
        &target,
        &[
            "verify",
            "--offline",
            "--message-format=json",
            "--bin",
            "inject-demo",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let messages: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["reason"], "rseq-artifact");
    assert_eq!(messages[0]["command"], "verify");
    assert_eq!(messages[0]["package"], "inject-demo");
    assert_eq!(messages[0]["target"]["name"], "inject-demo");
    assert_eq!(messages[0]["target"]["kind"], "bin");
    assert_eq!(messages[0]["status"], "clean");
    assert_eq!(
        messages[0]["report"]["sections"].as_array().map(Vec::len),
        Some(2),
        "{}",
        messages[0]
    );
    assert_eq!(messages[1]["reason"], "rseq-finished");
    assert_eq!(messages[1]["success"], true);
}

#[test]
#[cfg(target_arch = "x86_64")]
fn asm_lists_one_functions_sections_and_names_the_others_when_nothing_matches() {
    let (dir, target) = inject_demo("asm_demo");
    let out = cargo_rseq(
        &dir,
        &target,
        &[
            "asm",
            "demo_add_broken",
            "--offline",
            "--bin",
            "inject-demo",
        ],
    );
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("==> package `inject-demo`, bin `inject-demo`"),
        "{stdout}"
    );
    assert!(stdout.contains("demo_add_broken"), "{stdout}");
    assert_eq!(
        stdout.matches("section ").count(),
        1,
        "one section:\n{stdout}"
    );

    let out = cargo_rseq(
        &dir,
        &target,
        &[
            "asm",
            "no_such_function",
            "--offline",
            "--bin",
            "inject-demo",
        ],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no critical section is in a function matching `no_such_function`"),
        "{stderr}"
    );
    assert!(stderr.contains("\n  demo_add\n"), "{stderr}");
    assert!(stderr.contains("\n  demo_add_broken\n"), "{stderr}");
    assert!(stdout_of(&out).is_empty());

    let usage = cargo_rseq(&dir, &target, &["asm", "--offline"]);
    assert_eq!(usage.status.code(), Some(64));
}

#[test]
#[cfg(target_arch = "x86_64")]
fn inject_runs_the_selected_binary_under_abort_injection() {
    let (dir, target) = inject_demo("inject_demo");
    let out = cargo_rseq(
        &dir,
        &target,
        &[
            "inject",
            "--bin",
            "inject-demo",
            "--offline",
            "--",
            "correct",
        ],
    );
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("correct: 1000 increments, a = b = 1000"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok: the program succeeded (exit status 0)"),
        "{stdout}"
    );

    let out = cargo_rseq(
        &dir,
        &target,
        &[
            "inject",
            "--bin",
            "inject-demo",
            "--offline",
            "--",
            "broken",
        ],
    );
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("INVARIANT BROKEN"), "{stdout}");
    assert!(
        stdout
            .contains("after the last injection: preempt injection at demo_add_broken: start+0x14"),
        "the boundary:\n{stdout}"
    );

    // Two binaries and no selection: which one to run is a usage error.
    let out = cargo_rseq(&dir, &target, &["inject", "--offline"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("bin `inject-demo-v2`"));
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr_of(&out));
}

#[test]
#[cfg(target_arch = "x86_64")]
fn asm_diff_builds_the_revision_in_a_worktree_and_shows_the_changed_section() {
    let (dir, target) = inject_demo("asm_diff_demo");
    // Its own target directory: the other copies of the fixture build binaries of the same
    // names at the same time.
    let target = target.with_file_name("target-asm-diff");
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "one"]);
    // One more instruction in demo_add's section, as inject-demo-v2 has.
    let bin = dir.join("src/bin/inject-demo.rs");
    let text = std::fs::read_to_string(&bin).unwrap();
    std::fs::write(&bin, text.replace("demo!(\"\")", "demo!(\"nop\")")).unwrap();
    git(&dir, &["commit", "-q", "-a", "-m", "two"]);

    let out = cargo_rseq(
        &dir,
        &target,
        &[
            "asm",
            "--diff",
            "HEAD~1",
            "--offline",
            "--bin",
            "inject-demo",
        ],
    );
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("==> package `inject-demo`, bin `inject-demo`: HEAD~1 -> working tree"),
        "{stdout}"
    );
    assert!(
        stdout.contains(": 1 changed, 0 added, 0 removed, 1 unchanged"),
        "{stdout}"
    );
    assert!(stdout.contains("changed demo_add #0"), "{stdout}");
    assert!(stdout.contains("  +           nop"), "{stdout}");
    assert!(
        stderr.contains("1 artifact(s) compared with HEAD~1: changes"),
        "{stderr}"
    );

    // The same in JSON: exactly demo_add's section changed, demo_add_broken's did not.
    let out = cargo_rseq(
        &dir,
        &target,
        &[
            "asm",
            "--diff",
            "HEAD~1",
            "--json",
            "--offline",
            "--bin",
            "inject-demo",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let messages: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    let report = &messages[0]["report"];
    let sections = report["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 1, "{report}");
    assert_eq!(sections[0]["function"], "demo_add", "{report}");
    assert_eq!(sections[0]["change"], "changed", "{report}");
    assert_eq!(report["unchanged"], 1, "{report}");
    assert_eq!(messages[1]["reason"], "rseq-finished");
    assert_eq!(messages[1]["status"], "findings");

    // The temporary worktree is gone again.
    let worktrees = Command::new("git")
        .args(["worktree", "list"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&worktrees).lines().count(),
        1,
        "{}",
        stdout_of(&worktrees)
    );

    // Against HEAD itself nothing changed.
    let out = cargo_rseq(
        &dir,
        &target,
        &[
            "asm",
            "demo_add",
            "--diff",
            "HEAD",
            "--offline",
            "--bin",
            "inject-demo",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}
