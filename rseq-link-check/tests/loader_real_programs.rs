//! `bindings` against the real loader on programs installed on this machine.
//!
//! For each program the expectation is read from glibc's own loader in the mode `ldd -r`
//! uses (`LD_TRACE_LOADED_OBJECTS=1 LD_BIND_NOW=1`, run as `ld.so PROGRAM`, which maps and
//! relocates everything but never runs the program) with `LD_DEBUG=bindings`; the analyser's
//! `bindings --ldd --json` must print exactly the same set of (from, symbol, version, to)
//! tuples (none missing, none extra) and the same load order, on at least 40 programs.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const INTERP: &str = "/lib64/ld-linux-x86-64.so.2";

/// Well-known programs of a Debian system (`scripts/setup` installs their packages); the ones
/// not installed are skipped with a reason. node and groff have executables whose undefined
/// functions carry a canonical PLT address (`UND` with a non-zero value).
const CANDIDATES: &[&str] = &[
    "/usr/bin/ls",
    "/usr/bin/cat",
    "/usr/bin/bash",
    "/usr/bin/grep",
    "/usr/bin/sed",
    "/usr/bin/find",
    "/usr/bin/tar",
    "/usr/bin/gzip",
    "/usr/bin/xz",
    "/usr/bin/git",
    "/usr/bin/perl",
    "/usr/bin/python3",
    "/usr/bin/gcc",
    "/usr/bin/ld.bfd",
    "/usr/bin/objdump",
    "/usr/bin/readelf",
    "/usr/bin/gdb",
    "/usr/bin/make",
    "/usr/bin/curl",
    "/usr/bin/openssl",
    "/usr/bin/diff",
    "/usr/bin/sort",
    "/usr/bin/ssh",
    "/usr/bin/valgrind",
    "/usr/bin/cmake",
    "/usr/bin/mawk",
    "/usr/bin/dpkg",
    "/usr/bin/apt",
    "/usr/bin/gpg",
    "/usr/bin/vim.basic",
    "/usr/bin/less",
    "/usr/bin/ld.lld",
    "/usr/bin/strace",
    "/usr/bin/zstd",
    "/usr/bin/bzip2",
    "/usr/bin/file",
    "/usr/bin/node",
    "/usr/lib/gcc/x86_64-linux-gnu/12/cc1plus",
    "/usr/bin/id",
    "/usr/bin/stat",
    "/usr/bin/cp",
    "/usr/bin/ps",
    "/usr/bin/top",
    "/usr/bin/wget",
    "/usr/bin/groff",
    "/usr/bin/troff",
    "/usr/bin/nano",
    "/usr/bin/rsync",
    "/usr/bin/lsof",
];

type Tuple = rseq_testkit::ld_debug::Binding;

fn real_bindings(program: &str) -> Result<(Vec<String>, BTreeSet<Tuple>), String> {
    let out = Command::new(INTERP)
        .arg(program)
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .env("LD_BIND_NOW", "1")
        .env("LD_WARN", "yes")
        .env("LD_DEBUG", "bindings")
        .env_remove("LD_PRELOAD")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let set = rseq_testkit::ld_debug::bindings(&stderr);
    // The trace output on stdout: "\tname => path (addr)" or "\tpath (addr)".
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut order = vec![program.to_string()];
    for line in stdout.lines() {
        let line = line.trim();
        let path = match line.split_once(" => ") {
            Some((_, p)) => p,
            None => line,
        };
        let path = path.rsplit_once(" (").map(|x| x.0).unwrap_or(path);
        if path.starts_with('/') {
            order.push(path.to_string());
        }
    }
    Ok((order, set))
}

fn model_bindings(program: &str) -> Result<(Vec<String>, BTreeSet<Tuple>), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_rseq-link-check"))
        .args(["bindings", "--ldd", "--json", program])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.code() == Some(2) {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let order = v["load_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .filter(|s| s.starts_with('/'))
        .collect();
    let set = v["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["from"].as_str().unwrap().to_string(),
                b["symbol"].as_str().unwrap().to_string(),
                b["version"].as_str().unwrap_or("").to_string(),
                b["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    Ok((order, set))
}

fn is_dynamic(path: &str) -> bool {
    std::fs::read(path).is_ok_and(|d| {
        object::read::File::parse(&*d).is_ok_and(|f| {
            use object::Object;
            f.section_by_name(".interp").is_some()
        })
    })
}

#[test]
fn bindings_agree_with_the_real_loader_on_installed_programs() {
    if !Path::new(INTERP).exists() {
        eprintln!("skipped: {INTERP} not present (not an x86_64 glibc system)");
        return;
    }
    let mut agreed = Vec::new();
    let mut failures = Vec::new();
    for &prog in CANDIDATES {
        if !Path::new(prog).exists() {
            eprintln!("skip {prog}: not installed");
            continue;
        }
        if !is_dynamic(prog) {
            eprintln!("skip {prog}: not a dynamically linked program");
            continue;
        }
        let (real_order, real) = real_bindings(prog).unwrap();
        if real.is_empty() {
            eprintln!("skip {prog}: the loader printed no bindings (it refused the program)");
            continue;
        }
        let (order, ours) = match model_bindings(prog) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{prog}: analyser failed: {e}"));
                continue;
            }
        };
        let missing: Vec<_> = real.difference(&ours).take(5).collect();
        let extra: Vec<_> = ours.difference(&real).take(5).collect();
        if !missing.is_empty() || !extra.is_empty() {
            failures.push(format!(
                "{prog}: {} real vs {} predicted; missing {missing:?}; extra {extra:?}",
                real.len(),
                ours.len()
            ));
            continue;
        }
        if order != real_order {
            failures.push(format!("{prog}: load order {order:?} != {real_order:?}"));
            continue;
        }
        agreed.push((prog, real.len()));
    }
    eprintln!("agreed exactly on {} programs: {agreed:?}", agreed.len());
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
    assert!(
        agreed.len() >= 40,
        "only {} programs compared",
        agreed.len()
    );
}
