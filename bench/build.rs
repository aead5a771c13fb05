//! Compiles the vendored subset of librseq (`vendor/librseq/`: its registration code and
//! per-CPU headers, with the test operations of `cases/`) into a static library that the
//! `librseq` benchmark calls side by side with `rseq_percpu`. gcc -O2, as librseq's own
//! build. On targets other than x86_64 Linux nothing is built and the benchmark says so
//! (the vendored `abi.h` replacement describes x86_64 only).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rseq_bench_librseq)");
    println!("cargo::rerun-if-changed=vendor/librseq");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" || os != "linux" {
        return;
    }
    cc::Build::new()
        .compiler("gcc")
        .opt_level(2)
        .debug(true)
        .std("gnu11")
        .include("vendor/librseq/include")
        .include("vendor/librseq/src")
        .warnings(false)
        .file("vendor/librseq/src/rseq.c")
        .file("vendor/librseq/src/smp.c")
        .file("vendor/librseq/cases/cases.c")
        .compile("librseq_cases");
    println!("cargo::rustc-cfg=rseq_bench_librseq");
}
