//! Instruction counts of the fast paths, next to the wall-clock figures of `percpu`.
//!
//! Two methods, both on the release build of the `fastpath` binary (one `#[inline(never)]`
//! function `op_CASE` per operation):
//!
//! 1. **callgrind**: `valgrind --tool=callgrind fastpath CASE N` for two values of N; the
//!    difference of the instruction totals divided by the difference of N is the count per
//!    operation, with start-up and set-up cancelled out. Valgrind does not implement the
//!    rseq system call (it returns ENOSYS), so under it glibc's registration and ours are
//!    refused and the per-CPU cases run their *fallback* path: the binary says which path
//!    it took, and the table shows it.
//! 2. **disassembly**: the fast path of `op_CASE` read statically from the binary
//!    ([`rseq_bench::disasm`]): the
//!    shortest path through the function's control-flow graph (iced-x86) that enters every
//!    critical section found in the function (the `__rseq_cs` descriptors, read by
//!    `rseq_link_check::verify`) at its `start_ip` and leaves it at its commit, then returns.
//!    Direct calls on that path add their callee's shortest entry-to-return path. For the
//!    per-CPU cases this is the count callgrind cannot give here; for the others it is a
//!    lower bound (the uncontended path, as for the per-CPU ones). A loop inside a section
//!    (the byte copy of the memcpy ring) is counted once and flagged `+ copy loops`.
//!
//! The per-CPU counter's path is printed instruction by instruction, for comparison with
//! librseq's `rseq_load_add_store__ptr` fast path.

use rseq_bench::disasm::{Code, FastPath};
use rseq_bench::fastpath::CASES;
use rseq_bench::results::save;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// Instructions per operation under callgrind, and the path the binary reports.
fn callgrind(exe: &Path, case: &str) -> Result<(f64, String), String> {
    const N1: u64 = 20_000;
    const N2: u64 = 220_000;
    let run = |n: u64| -> Result<(u64, String), String> {
        let out = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(exe)
            .args([case, &n.to_string()])
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!(
                "valgrind failed: {}",
                stderr.lines().last().unwrap_or("")
            ));
        }
        let ir = stderr
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or("no `Collected :` line from callgrind")?;
        let path = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("path: ").map(str::to_string))
            .unwrap_or_default();
        Ok((ir, path))
    };
    let (a, _) = run(N1)?;
    let (b, path) = run(N2)?;
    Ok(((b as f64 - a as f64) / (N2 - N1) as f64, path))
}

fn native_path(exe: &Path, case: &str) -> String {
    Command::new(exe)
        .args([case, "1000"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("path: ").map(str::to_string))
        })
        .unwrap_or_else(|| "failed".into())
}

fn main() {
    // `cargo test --benches` passes no `--bench`: a quick run without valgrind then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let exe = Path::new(env!("CARGO_BIN_EXE_fastpath"));
    let mut code = Code::load(exe).expect("analyse the fastpath binary");
    let have_valgrind = !quick
        && Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());

    let mut md = String::new();
    let _ = writeln!(md, "### Instructions per operation (one thread)\n");
    let _ = writeln!(
        md,
        "| case | operation | path (native) | disassembly: fast path | sections on it | callgrind | path under callgrind |"
    );
    let _ = writeln!(md, "| --- | --- | --- | ---: | ---: | ---: | --- |");
    let mut counter_listing = String::new();
    for (case, what) in CASES {
        let f = code.find(&format!("op_{case}"));
        let (stat, nsec) = match &f {
            Some(f) => {
                let fp = code.fast_path(f);
                if *case == "percpu_counter" {
                    if let Some(fp) = &fp {
                        counter_listing = code.listing(f, &fp.path, &code.sections_in(f));
                    }
                }
                match fp {
                    Some(FastPath {
                        instructions,
                        sections,
                        copy_loops: false,
                        ..
                    }) => (instructions.to_string(), sections),
                    Some(FastPath {
                        instructions,
                        sections,
                        copy_loops: true,
                        ..
                    }) => (format!("{instructions} + copy loops"), sections),
                    None => ("–".into(), 0),
                }
            }
            None => ("no symbol".into(), 0),
        };
        let native = native_path(exe, case).replace("n/a", "");
        let (cg, cg_path) = if have_valgrind {
            match callgrind(exe, case) {
                Ok((ir, p)) => (format!("{ir:.1}"), p.replace("n/a", "")),
                Err(e) => (e, String::new()),
            }
        } else {
            ("not run".into(), String::new())
        };
        let _ = writeln!(
            md,
            "| {case} | {what} | {native} | {stat} | {nsec} | {cg} | {cg_path} |"
        );
        println!("{case}: native path {native}, disassembly {stat} ({nsec} sections), callgrind {cg} ({cg_path})");
    }
    if !counter_listing.is_empty() {
        let _ = writeln!(
            md,
            "\nThe per-CPU counter's fast path (`op_percpu_counter`), as disassembled:\n"
        );
        let _ = writeln!(md, "```text\n{counter_listing}```");
    }
    println!("\n{md}");
    if !quick {
        save("instructions.md", &md);
    }
}
