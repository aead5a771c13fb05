//! Benchmarks on generated crates that use `#[rseq_critical]`.
//!
//! * `verify`: `rseq-link-check verify` (the command, a whole process) and
//!   `rseq_link_check::verify_file` (in process) on release binaries with 10, 100
//!   and 1000 critical sections. Each binary is a generated crate whose sections are
//!   written with the macro in three shapes (add, compare-and-store, list pop), each on
//!   its own word so that no two functions are identical (the compiler would merge
//!   them), and kept alive through a table of function pointers. Building them is not
//!   measured.
//! * `macro expansion`: `cargo check` of a crate with 100 critical sections, against the
//!   same crate with the same 100 functions written without the attribute (plain Rust
//!   bodies). The difference is the cost of the macro: expansion plus checking the code it
//!   emits. Dependencies are built first; each timed run touches `src/main.rs` so only the
//!   generated crate is checked again. The median of 5 runs is reported.

use criterion::{BenchmarkId, Criterion, SamplingMode};
use rseq_bench::paths::results_dir;
use rseq_bench::results::{save, Measured};
use rseq_bench::tools::{median_of, output_of, rseq_link_check, time_command, workspace_root};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Writes a crate with `n` functions into `dir`; with the attribute when `critical`.
fn write_crate(dir: &Path, name: &str, n: usize, critical: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    let percpu = workspace_root().join("rseq-percpu");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nrseq-percpu = {{ path = {percpu:?} }}\n\n\
         [workspace]\n",
        percpu = percpu.display().to_string()
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
    let mut s = String::from(
        "//! Generated: functions with critical sections, for benchmarks.\n\
         #![allow(clippy::missing_safety_doc, dead_code)]\n\
         use rseq_percpu::Unavailable;\n\
         #[allow(unused_imports)]\nuse rseq_percpu::rseq_critical;\n\n",
    );
    for i in 0..n {
        let attr = if critical { "#[rseq_critical]\n" } else { "" };
        let body = match (i % 3, critical) {
            (0, true) => format!(
                "    let cpu = cpu_id();\n    let v = words.wrapping_add(cpu * 1024 + {k});\n    commit_add(v, n);\n    Ok(0)\n",
                k = i % 1024
            ),
            (1, true) => format!(
                "    let cpu = cpu_id();\n    let v = words.wrapping_add(cpu * 1024 + {k});\n    let old = load(v);\n    if old != n {{ return Ok(1); }}\n    commit(v, {i}usize);\n    Ok(0)\n",
                k = i % 1024
            ),
            (_, true) => format!(
                "    let cpu = cpu_id();\n    let v = words.wrapping_add(cpu * 1024 + {k});\n    let head = load(v);\n    if head == 0 {{ return Ok(2); }}\n    store(spare, head);\n    let next = load(head.byte_add(n));\n    commit(v, next);\n    Ok(0)\n",
                k = i % 1024
            ),
            (0, false) => format!("    let v = words.wrapping_add({k});\n    unsafe {{ *v += n }};\n    Ok(0)\n", k = i % 1024),
            (1, false) => format!(
                "    let v = words.wrapping_add({k});\n    if unsafe {{ *v }} != n {{ return Ok(1); }}\n    unsafe {{ *v = {i} }};\n    Ok(0)\n",
                k = i % 1024
            ),
            (_, false) => format!(
                "    let v = words.wrapping_add({k});\n    let head = unsafe {{ *v }};\n    if head == 0 {{ return Ok(2); }}\n    unsafe {{ *spare = head; *v = *((head + n) as *const usize) }};\n    Ok(0)\n",
                k = i % 1024
            ),
        };
        let spare = if i % 3 == 2 && critical {
            "#[speculative] spare"
        } else {
            "spare"
        };
        let _ = write!(
            s,
            "{attr}pub unsafe fn f{i}(words: *mut usize, n: usize, {spare}: *mut usize) -> Result<u8, Unavailable> {{\n{body}}}\n\n"
        );
    }
    let _ = writeln!(
        s,
        "type Section = unsafe fn(*mut usize, usize, *mut usize) -> Result<u8, Unavailable>;\n"
    );
    let _ = writeln!(s, "static SECTIONS: [Section; {n}] = [");
    for i in 0..n {
        let _ = writeln!(s, "    f{i},");
    }
    let _ = writeln!(s, "];\n");
    s.push_str(
        "fn main() {\n    let mut words = vec![0usize; 1024 * 512];\n    let mut spare = 0usize;\n    \
         let which = std::env::args().count();\n    \
         // SAFETY: `words` has 1024 words for each of up to 512 CPUs; the first word is 0, so the pop shape exits early.\n    \
         let r = unsafe { SECTIONS[which % SECTIONS.len()](words.as_mut_ptr(), 1, &mut spare) };\n    \
         println!(\"{:?}\", r.is_ok());\n}\n",
    );
    write_if_changed(&dir.join("src/main.rs"), &s)
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text)
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Runs `cargo ARGS` in `dir` with the generated crates' own target directory.
fn cargo_in(dir: &Path, target: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .args(args)
        .arg("--quiet");
    cmd
}

fn build_release(dir: &Path, target: &Path, name: &str) -> Result<PathBuf, String> {
    let out =
        output_of(&mut cargo_in(dir, target, &["build", "--release"])).ok_or("cannot run cargo")?;
    if out.0 != 0 {
        return Err(format!(
            "cargo build of {name} failed: {}",
            out.2.lines().take(20).collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(target.join("release").join(name))
}

fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default()
        .output_directory(&rseq_bench::paths::criterion_dir())
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let gen = results_dir().join("generated");
    let target = gen.join("target");
    let mut md = String::new();

    // verify on 10, 100, 1000 sections.
    let tool = rseq_link_check()
        .map_err(|e| eprintln!("generated: {e}"))
        .ok();
    let sizes: &[usize] = if quick { &[10] } else { &[10, 100, 1000] };
    let _ = writeln!(md, "### `verify` on binaries with N critical sections\n");
    let _ = writeln!(
        md,
        "| sections | binary size | sections found | `verify` command ms | in-process ms | in-process µs per added section |"
    );
    let _ = writeln!(md, "| ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut previous: Option<(usize, f64)> = None;
    for &n in sizes {
        let name = format!("gen-sections-{n}");
        let dir = gen.join(&name);
        if let Err(e) = write_crate(&dir, &name, n, true) {
            eprintln!("{name}: {e}");
            continue;
        }
        let t0 = Instant::now();
        let bin = match build_release(&dir, &target, &name) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{e}");
                let _ = writeln!(md, "| {n} | build failed | | | | |");
                continue;
            }
        };
        println!(
            "built {name} in {:.1} s (not measured)",
            t0.elapsed().as_secs_f64()
        );
        let found = rseq_link_check::verify_file(&bin)
            .map(|r| r.sections.len().to_string())
            .unwrap_or_else(|e| format!("error: {e}"));
        let label = format!("{n}-sections");
        let mut g = c.benchmark_group("verify");
        g.sampling_mode(SamplingMode::Flat).sample_size(10);
        if let Some(tool) = &tool {
            g.bench_function(BenchmarkId::new("command", &label), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            time_command(Command::new(tool).arg("verify").arg(&bin))
                                .map(|(d, _)| d)
                                .unwrap_or_default()
                        })
                        .sum()
                })
            });
        }
        g.bench_function(BenchmarkId::new("in-process", &label), |b| {
            b.iter(|| {
                rseq_link_check::verify_file(&bin)
                    .map(|r| r.sections.len())
                    .ok()
            })
        });
        g.finish();
        let cmd = Measured::new("verify", "command", &label).ns;
        let inp = Measured::new("verify", "in-process", &label).ns;
        let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
        let ms = |v: Option<f64>| v.map_or("–".to_string(), |ns| format!("{:.2}", ns / 1e6));
        // Time added per section since the previous size (flat = linear).
        let per = match (previous, inp) {
            (Some((pn, pns)), Some(ns)) => Some((ns - pns) / 1e3 / (n - pn) as f64),
            _ => None,
        };
        if let Some(ns) = inp {
            previous = Some((n, ns));
        }
        let _ = writeln!(
            md,
            "| {n} | {:.0} KB | {found} | {} | {} | {} |",
            size as f64 / 1e3,
            ms(cmd),
            ms(inp),
            per.map_or("–".into(), |p| format!("{p:.2}"))
        );
    }

    // Macro expansion of 100 sections.
    if !quick {
        let _ = writeln!(
            md,
            "\n### `#[rseq_critical]` expansion: `cargo check` of a crate with 100 sections\n"
        );
        let mut times = Vec::new();
        for (name, critical) in [("gen-macro-100", true), ("gen-plain-100", false)] {
            let dir = gen.join(name);
            if let Err(e) = write_crate(&dir, name, 100, critical) {
                eprintln!("{name}: {e}");
                continue;
            }
            // Dependencies and a first check, not measured.
            let first = output_of(&mut cargo_in(&dir, &target, &["check"]));
            if first.as_ref().is_none_or(|o| o.0 != 0) {
                eprintln!(
                    "{name}: cargo check failed: {}",
                    first.map(|o| o.2).unwrap_or_default()
                );
                continue;
            }
            let main_rs = dir.join("src/main.rs");
            let t = median_of(5, || {
                touch(&main_rs);
                time_command(&mut cargo_in(&dir, &target, &["check"]))
                    .map(|(d, _)| d)
                    .unwrap_or_default()
            });
            times.push((name, critical, t));
        }
        let _ = writeln!(md, "| crate | `cargo check` (median of 5) |");
        let _ = writeln!(md, "| --- | ---: |");
        for (name, critical, t) in &times {
            let what = if *critical {
                "100 functions with `#[rseq_critical]`"
            } else {
                "the same 100 functions, no attribute"
            };
            let _ = writeln!(md, "| {name} ({what}) | {:.0} ms |", t.as_secs_f64() * 1e3);
        }
        if let [(_, _, m), (_, _, p)] = times[..] {
            let diff = m.as_secs_f64() - p.as_secs_f64();
            let _ = writeln!(
                md,
                "\nCost of the macro: {:.0} ms for 100 sections ({:.2} ms per section).",
                diff * 1e3,
                diff * 10.0
            );
        }
    }
    c.final_summary();
    println!("\n{md}");
    if !quick {
        save("generated.md", &md);
    }
}
