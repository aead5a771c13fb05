//! The linker wrapper on real link lines: it fails an unsafe link with a message naming both
//! definitions and their sizes (and removes the output), links a safe one exactly as `cc`
//! does (byte-identical output, nothing printed, same exit status), passes the linker's own
//! failures through, and follows the policy and summary settings from the environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const WRAPPER: &str = env!("CARGO_BIN_EXE_link-wrapper-under-test");

struct Lab {
    dir: tempfile::TempDir,
}

fn ok(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/link/c");
        for f in ["main_clib", "own32", "strong32", "strong64"] {
            ok(Command::new("cc")
                .args(["-c", "-fPIC", "-O1", "-o"])
                .arg(lab.p(&format!("{f}.o")))
                .arg(src.join(format!("{f}.c"))));
        }
        for (dir, c) in [("d64", "clib64"), ("d32", "clib32")] {
            std::fs::create_dir_all(lab.dir.path().join(dir)).unwrap();
            ok(Command::new("cc")
                .args(["-shared", "-fPIC", "-O1", "-o"])
                .arg(lab.p(&format!("{dir}/libclib.so")))
                .arg(src.join(format!("{c}.c"))));
        }
        lab
    }

    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The link line of an executable that has its own 32-byte area and uses the C library
    /// in `dir`.
    fn line(&self, dir: &str, out: &str) -> Vec<String> {
        vec![
            self.p("main_clib.o"),
            self.p("own32.o"),
            format!("-L{}", self.p(dir)),
            "-lclib".into(),
            "-o".into(),
            self.p(out),
        ]
    }
}

fn wrapper(args: &[String], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(WRAPPER);
    cmd.args(args);
    for var in [
        "RSEQ_LINK_CHECK_DENY",
        "RSEQ_LINK_CHECK_WARN",
        "RSEQ_LINK_CHECK_ALLOW",
        "RSEQ_LINK_CHECK_SUMMARY",
        "RSEQ_LINK_CHECK_LINKER",
        "RSEQ_LINK_CHECK_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the wrapper")
}

#[test]
fn unsafe_link_fails_naming_both_definitions_and_sizes() {
    let lab = Lab::new();
    let out = wrapper(&lab.line("d64", "unsafe"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // What the final link resolved: the executable's 32-byte definition wins, and the C
    // library, built for 64 bytes, binds to it.
    assert!(stderr.contains("winner-too-small"), "{stderr}");
    assert!(
        stderr.contains(&lab.p("unsafe")) && stderr.contains(&lab.p("d64/libclib.so")),
        "{stderr}"
    );
    assert!(
        stderr.contains("32 bytes") && stderr.contains("64 bytes"),
        "{stderr}"
    );
    assert!(stderr.contains("winner: "), "{stderr}");
    assert!(
        !Path::new(&lab.p("unsafe")).exists(),
        "the output of a failed link is removed"
    );

    // The policy decides: the same link passes when those findings are warnings.
    let out = wrapper(
        &lab.line("d64", "unsafe"),
        &[(
            "RSEQ_LINK_CHECK_WARN",
            "winner-too-small,link-size-mismatch",
        )],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Path::new(&lab.p("unsafe")).exists());
}

#[test]
fn safe_link_is_transparent() {
    let lab = Lab::new();
    let plain = lab.line("d32", "plain");
    let direct = Command::new("cc").args(&plain).output().unwrap();
    assert!(direct.status.success());
    let reference = std::fs::read(lab.p("plain")).unwrap();
    std::fs::remove_file(lab.p("plain")).unwrap();
    let out = wrapper(&plain, &[]);
    assert_eq!(out.status.code(), direct.status.code());
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(lab.p("plain")).unwrap(),
        reference,
        "same output file"
    );
    // It runs and uses one area (the C library's code reads the executable's definition).
    let run = Command::new(lab.p("plain"))
        .env("LD_LIBRARY_PATH", lab.p("d32"))
        .status()
        .unwrap();
    assert!(run.code().is_some());

    // Asked for it: exactly one summary line.
    let out = wrapper(&plain, &[("RSEQ_LINK_CHECK_SUMMARY", "1")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("__rseq_abi from") && stderr.contains("0 error(s)"),
        "{stderr}"
    );
}

#[test]
fn linker_failures_pass_through_with_the_prediction() {
    let lab = Lab::new();
    let args = vec![
        lab.p("main_clib.o"),
        lab.p("strong32.o"),
        lab.p("strong64.o"),
        format!("-L{}", lab.p("d32")),
        "-lclib".into(),
        "-o".into(),
        lab.p("dup"),
    ];
    let direct = Command::new("cc").args(&args).output().unwrap();
    let out = wrapper(&args, &[("RSEQ_LINK_CHECK_LINKER", "gcc")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!direct.status.success());
    assert_eq!(out.status.code(), direct.status.code());
    assert!(
        stderr.contains("multiple definition"),
        "the linker's own message: {stderr}"
    );
    assert!(
        stderr.contains("link-rejected") && stderr.contains("strong64.o"),
        "{stderr}"
    );
}

#[test]
fn predict_command_reports_json() {
    let lab = Lab::new();
    let args = lab.line("d64", "never-linked");
    let report = rseq_link_check::predict_command(&args, "__rseq_abi", Some("bfd"), "cc").unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let p = &json["prediction"];
    assert_eq!(p["linker"], "gnu-ld");
    assert_eq!(p["outcome"]["state"], "defined");
    assert_eq!(p["outcome"]["size"], 32);
    assert_eq!(p["outcome"]["in_dynsym"], true);
    let candidates: Vec<u64> = p["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    assert!(
        candidates.contains(&32) && candidates.contains(&64),
        "{candidates:?}"
    );
    assert!(json["resolved"].is_null(), "no output file yet");
    let _ = PathBuf::new();
}

/// `predict` takes the line exactly as `RUSTFLAGS=--print=link-args` prints it: leading
/// `NAME="value"` assignments and the quoted program name, pasted with or without the shell
/// removing the quotes, or as one argument; the prediction is the one of the bare arguments.
#[test]
fn predict_accepts_the_printed_link_line() {
    let lab = Lab::new();
    let bare = lab.line("d64", "never-linked");
    let predict = |args: &[String]| {
        let r = rseq_link_check::predict_command(args, "__rseq_abi", Some("bfd"), "cc")
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        serde_json::to_value(&r).unwrap()
    };
    let expected = predict(&bare);
    let env = [
        "LC_ALL=\"C\"",
        "PATH=\"/usr/local/bin:/usr/bin\"",
        "VSLANG=\"1033\"",
    ];
    let quoted: Vec<String> = env
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once("\"cc\"".to_string()))
        .chain(bare.iter().map(|a| format!("\"{a}\"")))
        .collect();
    let unquoted: Vec<String> = [
        "LC_ALL=C",
        "PATH=/usr/local/bin:/usr/bin",
        "VSLANG=1033",
        "cc",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(bare.iter().cloned())
    .collect();
    let one = vec![quoted.join(" ")];
    for form in [&quoted, &unquoted, &one] {
        let got = predict(form);
        assert_eq!(got, expected, "{form:?}");
        assert!(
            !got.to_string().contains("cannot find"),
            "{form:?}: {got:#}"
        );
    }
}

/// rustc's temporary objects are gone after the build: one finding names them and how to
/// keep them, and no rseq finding is made up from the missing inputs.
#[test]
fn predict_names_deleted_rustc_temporaries_on_one_line() {
    let lab = Lab::new();
    let mut args = lab.line("d32", "never-linked");
    let gone = [
        lab.p("app.app.3b1d8c0e-cgu.0.rcgu.o"),
        lab.p("app.app.3b1d8c0e-cgu.1.rcgu.o"),
    ];
    args.splice(0..0, gone.iter().cloned());
    let r = rseq_link_check::predict_command(&args, "__rseq_abi", None, "cc").unwrap();
    let missing: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == rseq_link_check::Code::LinkInputMissing)
        .collect();
    assert_eq!(missing.len(), 1, "{:#?}", r.diagnostics);
    assert!(
        gone.iter().all(|g| missing[0].message.contains(g.as_str())),
        "{missing:#?}"
    );
    assert!(missing[0].hint.contains("-C save-temps"), "{missing:#?}");
    assert!(
        !r.diagnostics
            .iter()
            .any(|d| d.code == rseq_link_check::Code::LinkRejected),
        "{:#?}",
        r.diagnostics
    );
}
