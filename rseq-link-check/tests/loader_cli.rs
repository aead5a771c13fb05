//! The command line over the loader model: exit codes, one-line errors for bad input,
//! the JSON shape of `resolve`, `graph` as DOT, `explain`, and the no-argument run.

use std::path::Path;
use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rseq-link-check"))
        .args(args)
        .output()
        .expect("the CLI runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a copy of a real program with `patch` applied to its bytes.
fn patched(dir: &Path, name: &str, patch: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = std::fs::read("/usr/bin/ls")
        .or_else(|_| std::fs::read("/bin/ls"))
        .unwrap();
    patch(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn bad_input_is_one_line_naming_the_file_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = d.join("notes.txt");
    std::fs::write(&text, "hello\n").unwrap();
    let empty = d.join("empty");
    std::fs::write(&empty, "").unwrap();
    let loop_a = d.join("loop-a");
    std::os::unix::fs::symlink(d.join("loop-b"), &loop_a).unwrap();
    std::os::unix::fs::symlink(&loop_a, d.join("loop-b")).unwrap();
    let cases = [
        (text.to_string_lossy().into_owned(), "not an ELF file"),
        (empty.to_string_lossy().into_owned(), "not an ELF file"),
        (
            patched(d, "truncated", |b| b.truncate(200)),
            "malformed or truncated",
        ),
        (
            patched(d, "riscv", |b| {
                b[18..20].copy_from_slice(&243u16.to_le_bytes())
            }),
            "machine 243",
        ),
        (patched(d, "class32", |b| b[4] = 1), "32-bit"),
        (patched(d, "bigendian", |b| b[5] = 2), "unsupported"),
        (loop_a.to_string_lossy().into_owned(), "symbolic link loop"),
        (d.to_string_lossy().into_owned(), "cannot read"),
        (
            d.join("missing").to_string_lossy().into_owned(),
            "cannot read",
        ),
    ];
    for (file, what) in &cases {
        for cmd in ["resolve", "bindings", "check", "graph"] {
            let o = cli(&[cmd, file]);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{cmd} {file}: {err}");
            assert_eq!(
                err.lines().count(),
                1,
                "{cmd} {file}: one line, got {err:?}"
            );
            assert!(
                err.contains(file.as_str()) && err.contains(what),
                "{cmd} {file}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn truncations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read("/usr/bin/ls").unwrap();
    let path = dir.path().join("cut");
    let step = (full.len() / 97).max(1);
    let mut len = 0;
    while len < full.len() {
        std::fs::write(&path, &full[..len]).unwrap();
        // Any outcome but a panic: an error, or a model of whatever is readable.
        if let Ok(p) = rseq_link_check::Process::load(&path, &Default::default()) {
            let _ = rseq_link_check::bindings(&p);
            let _ = rseq_link_check::check(&p);
        }
        len += step;
    }
}

#[test]
fn missing_dependency_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.c"), "int a_value = 1;\n").unwrap();
    std::fs::write(
        d.join("main.c"),
        "extern int a_value; int main(void) { return a_value; }\n",
    )
    .unwrap();
    let gcc = |args: &[&str]| {
        let o = Command::new("gcc")
            .current_dir(d)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    gcc(&[
        "-shared",
        "-fPIC",
        "-o",
        "libgone.so",
        "a.c",
        "-Wl,-soname,libgone.so",
    ]);
    gcc(&["-o", "main", "main.c", "-L.", "-lgone"]);
    std::fs::remove_file(d.join("libgone.so")).unwrap();
    let main = d.join("main").to_string_lossy().into_owned();
    // The real loader refuses to start it.
    let real = Command::new(&main).output().unwrap();
    assert!(!real.status.success());
    assert!(stderr(&real).contains("libgone.so"));
    for cmd in ["resolve", "check", "bindings"] {
        let o = cli(&[cmd, &main]);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains("would refuse to start") && stderr(&o).contains("libgone.so"));
        assert!(String::from_utf8_lossy(&o.stdout).contains("missing-dependency"));
    }
}

#[test]
fn resolve_json_has_the_documented_shape() {
    let o = cli(&[
        "resolve",
        "/usr/bin/ls",
        "--symbol",
        "__rseq_size",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "load_order",
        "definitions",
        "winner",
        "references",
        "diagnostics",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    let def = &v["definitions"][0];
    for key in ["module", "size", "binding", "type", "visibility", "version"] {
        assert!(def.get(key).is_some(), "definition lacks {key}: {def}");
    }
    assert_eq!(def["version"], "GLIBC_2.35");
    assert_eq!(v["winner"]["module"], "/lib64/ld-linux-x86-64.so.2");
    assert_eq!(v["winner"]["size"], 4);
    // The C library's own reference is among the references, bound to ld.so.
    assert!(v["references"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["module"] == "/lib/x86_64-linux-gnu/libc.so.6"
            && r["binds_to"] == "/lib64/ld-linux-x86-64.so.2"));
}

#[test]
fn check_is_clean_on_a_system_program_and_graph_is_dot() {
    let o = cli(&["check", "/usr/bin/ls"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let g = cli(&["graph", "/usr/bin/ls", "--symbol", "__rseq_offset"]);
    assert_eq!(g.status.code(), Some(0));
    let dot = String::from_utf8_lossy(&g.stdout);
    assert!(dot.starts_with("digraph load {"), "{dot}");
    assert!(
        dot.contains("\"/usr/bin/ls\" -> \"/lib/x86_64-linux-gnu/libselinux.so.1\""),
        "{dot}"
    );
    assert!(dot.contains("winner: __rseq_offset"), "{dot}");
}

#[test]
fn explain_knows_every_code() {
    let list = cli(&["explain"]);
    assert_eq!(list.status.code(), Some(0));
    let text = String::from_utf8_lossy(&list.stdout);
    for code in rseq_link_check::CATALOG {
        assert!(text.contains(code.as_str()));
        let o = cli(&["explain", code.as_str()]);
        assert_eq!(o.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&o.stdout).contains(code.explain().lines().next().unwrap()));
    }
    // An unknown code is a usage error (EX_USAGE).
    let bad = cli(&["explain", "no-such-code"]);
    assert_eq!(bad.status.code(), Some(64));
}

#[test]
fn no_arguments_shows_the_main_job() {
    let o = cli(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("symbol __rseq_abi") && out.contains("symbol __rseq_offset"),
        "{out}"
    );
    assert!(out.contains("winner: /lib64/ld-linux-x86-64.so.2"), "{out}");
    assert!(out.contains(": ok ("), "the check verdict: {out}");
    assert!(
        out.lines().last().unwrap().starts_with("hint: pass a file"),
        "{out}"
    );
}
