//! The `verify` and `asm` subcommands, run as the built binary: exit status 0 for a clean
//! file, 1 for findings, 2 for unreadable input; `--json` for tools; `asm` with its
//! function filter and colour choice. Fixtures are the assembly twins under
//! `tests/fixtures/verify/` of the workspace, built with gcc at test time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rseq-link-check"))
}

fn fixture(out: &Path, name: &str, broken: bool) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/verify/x86_64");
    let dst = out.join(format!("{name}-{broken}"));
    let mut cmd = Command::new("gcc");
    cmd.arg(format!("-Wa,-I{}", dir.display())).arg("-pie");
    if broken {
        cmd.arg("-Wa,--defsym,BROKEN=1");
    }
    let status = cmd
        .arg(dir.join(format!("{name}.s")))
        .arg("-o")
        .arg(&dst)
        .status()
        .unwrap();
    assert!(status.success());
    dst
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().unwrap(),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

#[test]
fn verify_exits_0_when_clean_and_1_with_findings() {
    let dir = tempfile::tempdir().unwrap();
    let clean = fixture(dir.path(), "call-in-section", false);
    let (code, out, _) = run(bin().arg("verify").arg(&clean));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 critical section"), "{out}");
    assert!(out.contains("in cmpxchg_percpu"), "{out}");

    let broken = fixture(dir.path(), "call-in-section", true);
    let (code, out, _) = run(bin().arg("verify").arg(&broken));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error[rseq-call-in-section]: call `call 0x"),
        "{out}"
    );
    assert!(out.contains("<cmpxchg_percpu+0x"), "{out}");
}

#[test]
fn verify_json_names_the_code_the_section_and_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let broken = fixture(dir.path(), "branch-out-of-section", true);
    let (code, out, _) = run(bin().args(["verify", "--json"]).arg(&broken));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let section = &v["sections"][0];
    assert_eq!(section["function"], "cmpxchg_percpu");
    let finding = &section["findings"][0];
    assert_eq!(finding["code"], "rseq-branch-out-of-section");
    assert_eq!(finding["severity"], "error");
    assert!(finding["hint"]
        .as_str()
        .unwrap()
        .contains("__rseq_exit_point_array"));
    assert!(
        finding["address"].as_u64().unwrap() > section["descriptor"]["start_ip"].as_u64().unwrap()
    );
}

#[test]
fn unreadable_input_exits_2_with_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an ELF file\n").unwrap();
    for (path, what) in [
        (text.clone(), "not an ELF file"),
        (dir.path().join("missing"), "cannot read"),
    ] {
        for cmd in ["verify", "asm"] {
            let (code, out, err) = run(bin().arg(cmd).arg(&path));
            assert_eq!(code, 2, "{cmd} {}: {out}{err}", path.display());
            assert!(out.is_empty());
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(what) && err.contains(&*path.to_string_lossy()),
                "{err}"
            );
        }
    }
    // A truncated ELF file is malformed, not a crash.
    let clean = fixture(dir.path(), "correct-reference", false);
    let bytes = std::fs::read(&clean).unwrap();
    let cut = dir.path().join("cut");
    std::fs::write(&cut, &bytes[..200]).unwrap();
    let (code, _, err) = run(bin().arg("verify").arg(&cut));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn asm_lists_the_section_filters_by_function_and_colours_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let clean = fixture(dir.path(), "correct-reference", false);
    let (code, out, _) = run(bin().arg("asm").arg(&clean));
    assert_eq!(code, 0, "{out}");
    for needle in [
        "start:",
        "commit:",
        "signature",
        "abort:",
        "exit:",
        "verdict: ok",
    ] {
        assert!(out.contains(needle), "{needle}:\n{out}");
    }
    assert!(!out.contains('\x1b'), "not a terminal: no colour");
    let (_, out, _) = run(bin().args(["asm", "--color", "always"]).arg(&clean));
    assert!(out.contains("\x1b["), "{out}");
    let (code, out, _) = run(bin()
        .args(["asm", "--function", "nothing_like_it"])
        .arg(&clean));
    // A pattern that matches no section is a finding: exit 1, and the names that exist.
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("0 of 1 critical section"), "{out}");
    assert!(
        out.contains("no critical section is in a function matching `nothing_like_it`")
            && out.contains("functions with sections: cmpxchg_percpu"),
        "{out}"
    );
    let (code, out, _) = run(bin().args(["asm", "--json"]).arg(&clean));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sections"][0]["blocks"][0]["lines"][2]["marker"], "start");

    let broken = fixture(dir.path(), "commit-not-store", true);
    let (code, out, _) = run(bin().arg("asm").arg(&broken));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error[rseq-commit-not-store]"), "{out}");
}

#[test]
fn a_large_binary_without_sections_says_so() {
    let exe = std::env::current_exe().unwrap();
    for cmd in ["verify", "asm"] {
        let (code, out, _) = run(bin().arg(cmd).arg(&exe));
        assert_eq!(code, 0);
        assert!(out.contains("no rseq critical sections found"), "{out}");
    }
}

#[test]
fn explain_knows_every_verify_code() {
    let (code, out, _) = run(bin().arg("explain"));
    assert_eq!(code, 0);
    for c in rseq_link_check::VerifyCode::ALL {
        assert!(out.contains(c.as_str()), "{c}");
        let (code, text, _) = run(bin().args(["explain", c.as_str()]));
        assert_eq!(code, 0);
        assert!(
            text.contains(c.explain()) && text.contains(c.hint()),
            "{text}"
        );
    }
}
