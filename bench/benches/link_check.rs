//! The link checker against the real loader.
//!
//! * `programs`: `rseq-link-check resolve` and `bindings` on the largest dynamically
//!   linked programs of this machine, against `ldd -r` (the loader binds every
//!   relocation) and `ldd` (the loader only maps the libraries). Every run is a whole
//!   process, for both tools.
//! * `graph`: synthetic dependency graphs of 10, 100 and 1000 shared libraries with 1,000
//!   exported functions each (a binary tree: library `i` needs libraries `2i+1` and
//!   `2i+2` and calls ten functions of each, through the PLT and the GOT; the program
//!   needs library 0), generated with gcc into a temporary directory before the timing
//!   starts. The second table gives the time each added library costs, which stays flat
//!   when the cost grows linearly.
//!
//! # Unsafe
//!
//! Program headers are read through a read-only memory map (`memmap2`).

use criterion::{BenchmarkId, Criterion, SamplingMode};
use object::{Object, ObjectKind};
use rseq_bench::results::{markdown_table, save, Measured};
use rseq_bench::tools::{output_of, rseq_link_check, time_command};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Exported functions per generated library.
const SYMBOLS: usize = 1000;
/// Functions of each needed library that a generated library calls.
const CALLS: usize = 10;

/// Executables of more than 1 MiB in the usual directories, largest first.
fn big_executables() -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    let roots = ["/usr/bin", "/usr/sbin", "/usr/libexec", "/usr/lib"];
    let mut stack: Vec<(PathBuf, u32)> = roots.iter().map(|r| (PathBuf::from(r), 0)).collect();
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && depth < 3 {
                stack.push((e.path(), depth + 1));
            } else if ft.is_file() {
                // Shared objects are not programs.
                if e.file_name().to_string_lossy().contains(".so") {
                    continue;
                }
                if let Ok(md) = e.metadata() {
                    use std::os::unix::fs::PermissionsExt;
                    if md.permissions().mode() & 0o111 != 0 && md.len() > 1 << 20 {
                        files.push((md.len(), e.path()));
                    }
                }
            }
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files.into_iter().map(|(_, p)| p).collect()
}

/// The largest dynamically linked programs: the one with the most bytes, and the one
/// that loads the most libraries (as `ldd` counts them) among the 150 largest.
fn largest_programs(count: usize) -> Vec<PathBuf> {
    let dynamic: Vec<PathBuf> = big_executables()
        .into_iter()
        .filter(|p| is_dynamic_program(p))
        .take(150)
        .collect();
    let mut picked: Vec<PathBuf> = dynamic.first().cloned().into_iter().collect();
    if count > 1 {
        if let Some(most) = dynamic.iter().skip(1).max_by_key(|p| ldd_count(p)) {
            picked.push(most.clone());
        }
    }
    picked
}

fn is_dynamic_program(path: &Path) -> bool {
    let Ok(data) = std::fs::read(path) else {
        return false;
    };
    let Ok(file) = object::File::parse(&*data) else {
        return false;
    };
    let has_interp = file.section_by_name(".interp").is_some();
    has_interp && matches!(file.kind(), ObjectKind::Executable | ObjectKind::Dynamic)
}

/// Libraries of `path` as `ldd` lists them.
fn ldd_count(path: &Path) -> usize {
    output_of(Command::new("ldd").arg(path))
        .map(|(_, out, _)| out.lines().count())
        .unwrap_or(0)
}

/// Generates the tree of `n` libraries and its program in `dir`; returns the program.
fn generate_graph(dir: &Path, n: usize) -> Result<PathBuf, String> {
    let children = |i: usize| [2 * i + 1, 2 * i + 2].into_iter().filter(move |c| *c < n);
    let depth = |i: usize| (usize::BITS - (i + 1).leading_zeros()) as usize;
    let max_depth = depth(n - 1);
    let jobs = std::thread::available_parallelism().map_or(2, |p| p.get());
    // Deepest level first: a library is linked after the libraries it needs.
    for level in (1..=max_depth).rev() {
        let members: Vec<usize> = (0..n).filter(|i| depth(*i) == level).collect();
        for chunk in members.chunks(jobs) {
            let mut running = Vec::new();
            for &i in chunk {
                let mut s = String::from("\t.text\n");
                for j in 0..SYMBOLS {
                    let _ = writeln!(s, "\t.globl f{i}_{j}\n\t.type f{i}_{j},@function\nf{i}_{j}:\n\tret\n\t.size f{i}_{j},.-f{i}_{j}");
                }
                let _ = writeln!(
                    s,
                    "\t.globl call{i}\n\t.type call{i},@function\ncall{i}:\n\tsub $8,%rsp"
                );
                for c in children(i) {
                    for k in 0..CALLS {
                        let _ = writeln!(s, "\tcall f{c}_{k}@PLT");
                    }
                    let _ = writeln!(s, "\tmovq f{c}_{}@GOTPCREL(%rip),%rax\n\tcall *%rax", CALLS);
                }
                let _ = writeln!(s, "\tadd $8,%rsp\n\tret\n\t.size call{i},.-call{i}");
                let _ = writeln!(s, "\t.section .note.GNU-stack,\"\",@progbits");
                let src = dir.join(format!("g{i}.s"));
                std::fs::write(&src, s).map_err(|e| e.to_string())?;
                let mut cmd = Command::new("gcc");
                cmd.current_dir(dir)
                    .args(["-shared", "-nostartfiles", "-o"])
                    .arg(format!("libg{i}.so"))
                    .arg(&src)
                    .arg(format!("-Wl,-soname,libg{i}.so"))
                    .arg(format!("-Wl,-rpath,{}", dir.display()))
                    .arg("-L.");
                for c in children(i) {
                    cmd.arg(format!("-lg{c}"));
                }
                running.push((i, cmd.spawn().map_err(|e| format!("gcc: {e}"))?));
            }
            for (i, mut child) in running {
                let st = child.wait().map_err(|e| e.to_string())?;
                if !st.success() {
                    return Err(format!("gcc failed on library {i}"));
                }
            }
        }
    }
    let main = dir.join("main.c");
    let mut m = String::from("void call0(void);\n");
    for k in 0..CALLS {
        let _ = writeln!(m, "void f0_{k}(void);");
    }
    m.push_str("int main(void) {\n    call0();\n");
    for k in 0..CALLS {
        let _ = writeln!(m, "    f0_{k}();");
    }
    m.push_str("    return 0;\n}\n");
    std::fs::write(&main, m).map_err(|e| e.to_string())?;
    let st = Command::new("gcc")
        .current_dir(dir)
        .args(["-O2", "-o", "main", "main.c", "-L.", "-lg0"])
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .status()
        .map_err(|e| format!("gcc: {e}"))?;
    if !st.success() {
        return Err("gcc failed on the program".into());
    }
    Ok(dir.join("main"))
}

/// One timed command, as a criterion case. Returns `Some(exit code)` when it ran.
fn bench_command(
    c: &mut Criterion,
    group: &str,
    variant: &str,
    param: &str,
    mut make: impl FnMut() -> Command,
) -> Option<i32> {
    let mut code = None;
    let mut g = c.benchmark_group(group);
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g.bench_function(BenchmarkId::new(variant, param), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                match time_command(&mut make()) {
                    Ok((d, rc)) => {
                        total += d;
                        code = Some(rc);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            total
        })
    });
    g.finish();
    code
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default()
        .output_directory(&rseq_bench::paths::criterion_dir())
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let tool = match rseq_link_check() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("link_check: {e}; nothing measured");
            return;
        }
    };
    let mut md = String::new();

    // Real programs.
    let programs = largest_programs(if quick { 1 } else { 2 });
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut notes = String::new();
    for prog in &programs {
        let label = prog
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(prog).map(|m| m.len()).unwrap_or(0);
        let _ = writeln!(
            notes,
            "- `{}`: {:.1} MB, {} entries in `ldd`",
            prog.display(),
            size as f64 / 1e6,
            ldd_count(prog)
        );
        for (variant, args) in [("bindings", vec!["bindings"]), ("resolve", vec!["resolve"])] {
            let rc = bench_command(&mut c, "programs", variant, &label, || {
                let mut cmd = Command::new(&tool);
                cmd.args(&args).arg(prog);
                cmd
            });
            let mut m = Measured::new("programs", variant, &label);
            if let Some(rc) = rc.filter(|rc| *rc != 0) {
                m.note = format!("exit code {rc}");
            }
            rows.push(m);
        }
        for (variant, args) in [("ldd -r", vec!["-r"]), ("ldd", vec![])] {
            let id = variant.replace(' ', "_");
            bench_command(&mut c, "programs", &id, &label, || {
                let mut cmd = Command::new("ldd");
                cmd.args(&args).arg(prog);
                cmd
            });
            let mut m = Measured::new("programs", &id, &label);
            m.variant = variant.into();
            rows.push(m);
        }
        labels.push(label);
    }
    let configs: Vec<&str> = labels.iter().map(String::as_str).collect();
    for r in &mut rows {
        if let Some(ns) = r.ns.as_mut() {
            *ns /= 1e6; // ms
        }
    }
    md.push_str(
        &markdown_table(
            "Real programs (ms per run; ratio to `bindings`)",
            "bindings",
            &configs,
            &rows,
        )
        .replace(" ns/op", " ms"),
    );
    md.push('\n');
    md.push_str(&notes);
    md.push('\n');

    // Synthetic graphs.
    let sizes: &[usize] = if quick { &[10] } else { &[10, 100, 1000] };
    let mut grows = Vec::new();
    let mut glabels = Vec::new();
    for &n in sizes {
        let dir = tempfile::tempdir().expect("temporary directory");
        let t0 = std::time::Instant::now();
        let prog = match generate_graph(dir.path(), n) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("graph of {n}: {e}");
                continue;
            }
        };
        println!(
            "generated {n} libraries in {:.1} s (not measured)",
            t0.elapsed().as_secs_f64()
        );
        let label = format!("{n}-libs");
        for (variant, args) in [("bindings", vec!["bindings"]), ("resolve", vec!["resolve"])] {
            let rc = bench_command(&mut c, "graph", variant, &label, || {
                let mut cmd = Command::new(&tool);
                cmd.args(&args).arg(&prog);
                cmd
            });
            let mut m = Measured::new("graph", variant, &label);
            if let Some(rc) = rc.filter(|rc| *rc != 0) {
                m.note = format!("exit code {rc}");
            }
            grows.push(m);
        }
        for (variant, args) in [("ldd -r", vec!["-r"]), ("ldd", vec![])] {
            let id = variant.replace(' ', "_");
            bench_command(&mut c, "graph", &id, &label, || {
                let mut cmd = Command::new("ldd");
                cmd.args(&args).arg(&prog);
                cmd
            });
            let mut m = Measured::new("graph", &id, &label);
            m.variant = variant.into();
            grows.push(m);
        }
        glabels.push((n, label));
    }
    c.final_summary();
    let gconfigs: Vec<&str> = glabels.iter().map(|(_, l)| l.as_str()).collect();
    for r in &mut grows {
        if let Some(ns) = r.ns.as_mut() {
            *ns /= 1e6;
        }
    }
    md.push_str(
        &markdown_table(
            "Synthetic graphs (ms per run; ratio to `bindings`)",
            "bindings",
            &gconfigs,
            &grows,
        )
        .replace(" ns/op", " ms"),
    );
    // Growth: time added per library from one size to the next (flat when linear).
    let _ = writeln!(
        md,
        "\nTime added per library between sizes (µs per added library; flat = linear):\n"
    );
    let _ = write!(md, "| tool |");
    for w in glabels.windows(2) {
        let _ = write!(md, " {} → {} |", w[0].1, w[1].1);
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "| --- |{}",
        " ---: |".repeat(glabels.len().saturating_sub(1))
    );
    for v in ["bindings", "resolve", "ldd -r", "ldd"] {
        let _ = write!(md, "| {v} |");
        let ms = |l: &str| {
            grows
                .iter()
                .find(|r| r.variant == v && r.config == l)
                .and_then(|r| r.ns)
        };
        for w in glabels.windows(2) {
            let cell = match (ms(&w[0].1), ms(&w[1].1)) {
                (Some(a), Some(b)) => format!("{:.0}", (b - a) * 1e3 / (w[1].0 - w[0].0) as f64),
                _ => "–".into(),
            };
            let _ = write!(md, " {cell} |");
        }
        let _ = writeln!(md);
    }
    println!("\n{md}");
    if !quick {
        save("link_check.md", &md);
    }
}
