//! Whole-output expectation tests of the `rseq-link-check` command line.
//!
//! Each test runs the built binary (`CARGO_BIN_EXE_rseq-link-check`) with
//! `tests/expect/fixtures/` as its working directory and relative paths, and compares the
//! exit status and the whole standard output with the committed file
//! `tests/expect/NAME.out` (first line `status: N`, then standard output as written).
//!
//! The fixtures are small ELF files committed next to their C and assembly sources;
//! `tests/expect/fixtures/build.sh` rebuilds them with gcc. Loader runs pass `--no-vdso` so
//! the output does not depend on the kernel; system libraries (`libc.so.6`) appear under
//! their absolute paths.
//!
//! To accept a deliberate change of output, rerun with the environment variable
//! `RSEQ_EXPECT_OVERWRITE=1`: every expectation file is rewritten from the actual output
//! (review the diff before committing it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn expect_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expect")
}

/// Runs the binary with `args` in the fixture directory and compares with `NAME.out`.
fn check(name: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_rseq-link-check"))
        .args(args)
        .current_dir(expect_dir().join("fixtures"))
        .env_remove("NO_COLOR")
        .output()
        .expect("run rseq-link-check");
    let status = match out.status.code() {
        Some(c) => c.to_string(),
        None => "signal".to_string(),
    };
    let actual = format!("status: {status}\n{}", String::from_utf8_lossy(&out.stdout));
    let file = expect_dir().join(format!("{name}.out"));
    if std::env::var_os("RSEQ_EXPECT_OVERWRITE").is_some() {
        std::fs::write(&file, &actual).expect("write expectation");
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with RSEQ_EXPECT_OVERWRITE=1 to create it)",
            file.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines().chain(std::iter::repeat("<missing>")))
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(10)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "output of `rseq-link-check {}` differs from {} ({} expected lines, {} actual):\n{}\n\
             --- actual output ---\n{actual}\n\
             (rerun with RSEQ_EXPECT_OVERWRITE=1 to accept the new output)",
            args.join(" "),
            file.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n"),
        );
    }
}

macro_rules! expect {
    ($($name:ident: [$($arg:expr),* $(,)?];)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), &[$($arg),*]);
            }
        )*
    };
}

expect! {
    // The loader model: librseq16.so's 16-byte __rseq_abi wins over librseq32.so's.
    resolve_human: ["resolve", "--no-vdso", "--library-path", ".", "app"];
    resolve_json: ["resolve", "--no-vdso", "--library-path", ".", "--json", "app"];
    resolve_other_symbol: ["resolve", "--no-vdso", "--library-path", ".", "--symbol", "lib32_use", "app"];
    bindings_human: ["bindings", "--no-vdso", "--library-path", ".", "app32"];
    bindings_json: ["bindings", "--no-vdso", "--library-path", ".", "--json", "app32"];
    check_findings_human: ["check", "--no-vdso", "--library-path", ".", "app"];
    check_findings_json: ["check", "--no-vdso", "--library-path", ".", "--json", "app"];
    check_clean_human: ["check", "--no-vdso", "--library-path", ".", "--glibc-tunables", "glibc.pthread.rseq=0", "app32"];
    check_preload_dlopen: ["check", "--no-vdso", "--library-path", ".", "--preload", "libnone.so", "--dlopen", "librseq16.so", "app32"];
    check_missing_dependency: ["check", "--no-vdso", "app"];
    graph_dot: ["graph", "--no-vdso", "--library-path", ".", "app"];
    graph_json: ["graph", "--no-vdso", "--library-path", ".", "--json", "app"];
    // The critical-section verifier and its listing.
    verify_clean_human: ["verify", "cs-correct.o"];
    verify_clean_json: ["verify", "--json", "cs-correct.o"];
    verify_findings_human: ["verify", "cs-call.o"];
    verify_findings_json: ["verify", "--json", "cs-call.o"];
    verify_unreadable: ["verify", "no-such-file.o"];
    verify_not_elf: ["verify", "app.c"];
    asm_human: ["asm", "--color", "never", "cs-call.o"];
    asm_color: ["asm", "--color", "always", "cs-call.o"];
    asm_json: ["asm", "--json", "cs-correct.o"];
    asm_function_filter: ["asm", "--function", "no_such_function", "cs-correct.o"];
    // The diagnostics catalog.
    explain_catalog: ["explain"];
    explain_loader_code: ["explain", "split-instance"];
    explain_link_code: ["explain", "linkers-disagree"];
    explain_verify_code: ["explain", "rseq-call-in-section"];
    explain_unknown: ["explain", "no-such-code"];
    explain_catalog_json: ["explain", "--json"];
    explain_code_json: ["explain", "--json", "winner-too-small"];
    // The static link prediction of a link line.
    predict_human: ["predict", "--", "cs-correct.o", "-o", "never-written.out"];
    predict_json: ["predict", "--json", "--", "cs-correct.o", "-o", "never-written.out"];
    // Usage errors (exit status 64) and the exit-status table of --help.
    help: ["--help"];
    usage_bad_link_line: ["predict", "--", "-o"];
    usage_unknown_subcommand: ["frobnicate"];
    usage_bad_color: ["asm", "--color", "sometimes", "cs-call.o"];
    usage_bad_dlopen_mode: ["check", "--dlopen", "librseq16.so:sideways", "app"];
}
