//! `inject` and `asm --diff`, run as the built binary over the fixture crate
//! `tests/fixtures/inject-demo` (built with `cargo build` where it stands, as the README
//! says):
//!
//! - the README's transcript (section "Abort injection on any program") runs as written
//!   and prints what the README shows, hexadecimal addresses aside
//!   (`RSEQ_EXPECT_OVERWRITE=1` rewrites the README's block);
//! - `inject` follows every thread, lets a forked child run without its breakpoints,
//!   finds the section of a shared object loaded with
//!   `dlopen`, injects at every visit with `--every-visit`, filters with `--function`,
//!   reports an injection that does not end at `abort_ip` (a section the kernel was never
//!   told about), and exits 2 when the program cannot run;
//! - `asm --diff` of a file with itself is clean (0), of an unreadable file 2.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const README_HEADING: &str = "## Abort injection on any program";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rseq-link-check"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn demo_dir() -> PathBuf {
    workspace().join("tests/fixtures/inject-demo")
}

/// Builds the fixture crate once (`cargo build -q` in its directory) and returns its
/// `target/debug`.
fn demo() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = Command::new(cargo)
                .args(["build", "-q"])
                .current_dir(demo_dir())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            demo_dir().join("target/debug")
        })
        .clone()
}

/// Builds the fixture's shared library (`dl/demo_dl.rs`) into `dir`.
fn dl_library(dir: &Path) -> PathBuf {
    let lib = dir.join("libdemo_dl.so");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let built = Command::new(rustc)
        .args(["--edition", "2021", "--crate-type", "cdylib", "-o"])
        .arg(&lib)
        .arg(demo_dir().join("dl/demo_dl.rs"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    lib
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Every `0x…` number replaced by `0x…`: addresses change with the toolchain.
fn without_addresses(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(k) = rest.find("0x") {
        out.push_str(&rest[..k]);
        out.push_str("0x…");
        rest = rest[k + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

/// The README's transcript block: its byte range in the README and its text.
fn readme_block() -> (PathBuf, std::ops::Range<usize>, String) {
    let path = workspace().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let section = readme.find(README_HEADING).expect("the README section");
    let open = section + readme[section..].find("```text\n").expect("a text block") + 8;
    let close = open + readme[open..].find("```\n").expect("the block ends");
    let block = readme[open..close].to_string();
    (path, open..close, block)
}

#[test]
fn readme_transcript_runs_as_written() {
    demo();
    let (path, range, block) = readme_block();
    let commands: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("$ ")).collect();
    assert!(commands.len() >= 4, "{block}");
    // One shell, so that `cd` carries over; each command echoed as the README shows it.
    let mut script = String::from("exec 2>&1\n");
    for c in &commands {
        script.push_str(&format!(
            "printf '%s\\n' '$ {}'\n{c}\n",
            c.replace('\'', "'\\''")
        ));
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_rseq-link-check"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path_var = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(workspace())
        .env("PATH", path_var)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&out.stdout).into_owned();
    if std::env::var_os("RSEQ_EXPECT_OVERWRITE").is_some() && got != block {
        let mut readme = std::fs::read_to_string(&path).unwrap();
        readme.replace_range(range, &got);
        std::fs::write(&path, readme).unwrap();
        return;
    }
    if without_addresses(&got) != without_addresses(&block) {
        panic!("the README's transcript differs.\n--- README\n{block}\n--- ran\n{got}");
    }
    // What the README promises of it.
    assert!(got.contains("exit status 0\n"), "{got}");
    assert!(
        got.contains("after the last injection: preempt injection at demo_add_broken: start+0x"),
        "{got}"
    );
    assert!(
        got.contains("1 changed, 0 added, 0 removed, 1 unchanged"),
        "{got}"
    );
    assert_eq!(got.matches("\n  + ").count(), 1, "{got}");
    assert_eq!(got.matches("\n  - ").count(), 0, "{got}");
}

#[test]
fn inject_follows_threads() {
    let exe = demo().join("inject-demo");
    let out = bin()
        .args(["inject", "--json", "--"])
        .arg(&exe)
        .arg("threads")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["threads"], 5, "{v}");
    let add = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["function"] == "demo_add")
        .unwrap();
    for b in add["boundaries"].as_array().unwrap() {
        assert!(
            b["preempt"].as_u64() == Some(1) && b["signal"].as_u64() == Some(1),
            "{b}"
        );
    }
}

#[test]
fn inject_lets_a_forked_child_run_without_breakpoints() {
    let out = bin()
        .args(["inject", "--"])
        .arg(demo().join("inject-demo"))
        .arg("fork")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    // The parent's sections were injected; the child ran its 1000 increments untraced.
    assert!(
        t.contains("demo_add: 6/6 reached, preempt 6, signal 6"),
        "{t}"
    );
    assert_eq!(t.matches("fork: 1000 increments").count(), 1, "{t}");
}

#[test]
fn inject_finds_sections_of_a_dlopened_library() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dl_library(dir.path());
    let out = bin()
        .args(["inject", "--json", "--"])
        .arg(demo().join("inject-demo"))
        .arg("dlopen")
        .arg(&lib)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let dl = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["function"] == "demo_dl_add")
        .unwrap_or_else(|| panic!("no section of the library: {v}"));
    assert!(
        dl["module"].as_str().unwrap().ends_with("libdemo_dl.so"),
        "{dl}"
    );
    let boundaries = dl["boundaries"].as_array().unwrap();
    assert!(!boundaries.is_empty());
    for b in boundaries {
        assert!(
            b["preempt"].as_u64() == Some(1) && b["signal"].as_u64() == Some(1),
            "{b}"
        );
    }
}

#[test]
fn inject_reports_a_section_the_kernel_does_not_abort() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dl_library(dir.path());
    let out = bin()
        .args(["inject", "--"])
        .arg(demo().join("inject-demo"))
        .arg("dlopen")
        .arg(&lib)
        .arg("demo_dl_unarmed")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("error: after the preempt injection at demo_dl_unarmed: start+0x0 (0x"),
        "{t}"
    );
    assert!(
        t.contains("the thread went on to its post_commit_ip 0x"),
        "{t}"
    );
}

#[test]
fn inject_every_visit_and_function_filter() {
    let exe = demo().join("inject-demo");
    let out = bin()
        .args([
            "inject",
            "--every-visit",
            "--function",
            "demo_add",
            "--json",
            "--",
        ])
        .arg(&exe)
        .arg("correct")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let sections = v["sections"].as_array().unwrap();
    // `demo_add` matches `demo_add_broken` too, as `asm --function` does.
    assert_eq!(sections.len(), 2, "{v}");
    let add = sections
        .iter()
        .find(|s| s["function"] == "demo_add")
        .unwrap();
    let total: u64 = add["boundaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["preempt"].as_u64().unwrap() + b["signal"].as_u64().unwrap())
        .sum();
    // One injection per increment (the retry after each is left alone).
    assert!(total >= 900, "{total} injections: {v}");

    let out = bin()
        .args(["inject", "--function", "broken", "--"])
        .arg(&exe)
        .arg("correct")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("1 critical sections (0 entered)"), "{t}");
}

#[test]
fn inject_exit_statuses() {
    let out = bin()
        .args(["inject", "--", "/nonexistent/program"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = bin()
        .args(["inject", "--signal", "SIGNOPE", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let out = bin().args(["inject", "--", "false"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("error: the program failed (exit status 1)"),
        "{}",
        text(&out)
    );
}

#[test]
fn asm_diff_exit_statuses() {
    let exe = demo().join("inject-demo");
    let out = bin()
        .args(["asm", "--diff"])
        .arg(&exe)
        .arg(&exe)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("0 changed, 0 added, 0 removed, 2 unchanged"),
        "{}",
        text(&out)
    );
    let out = bin()
        .args(["asm", "--json", "--diff"])
        .arg(&exe)
        .arg(demo().join("inject-demo-v2"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["sections"][0]["change"], "changed", "{v}");
    assert_eq!(v["sections"][0]["function"], "demo_add", "{v}");
    assert_eq!(
        v["sections"][0]["new"]["fast_path"].as_u64(),
        v["sections"][0]["old"]["fast_path"].as_u64().map(|n| n + 1)
    );
    let out = bin()
        .args(["asm", "--diff", "/nonexistent/old"])
        .arg(&exe)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
