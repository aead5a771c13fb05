//! The `legacy-rseq-abi` feature in a real link: a Rust executable built with the feature
//! and a C shared library (built with gcc) that defines `__rseq_abi` weakly, as software
//! written for glibc < 2.35 does. Both must see one area, registered by the Rust side when
//! glibc does not own registration. The executable and the library are built at test time;
//! the executable's build is cached under the test target directory. The runtime side
//! (addresses, `cpu_id`s, the registrar) is printed by the fixture; which module defines
//! `__rseq_abi` and which definition each module binds to is checked against
//! rseq-link-check's loader model of the same programs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const NO_GLIBC_RSEQ: &str = "glibc.pthread.rseq=0";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/abi")
}

/// Builds `libpeer.so`, the C host executable and the fixture executables once; returns the
/// directory holding `lib/libpeer.so`, `lib/host` and `target/debug/<bin>`.
fn build() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("abi-legacy");
        let lib = base.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        rseq_tests::command::run_ok(
            Command::new("gcc")
                .args(["-shared", "-fPIC", "-O2", "-o"])
                .arg(lib.join("libpeer.so"))
                .arg(fixtures().join("peer.c")),
            "gcc",
        );
        rseq_tests::command::run_ok(
            Command::new("gcc")
                .args(["-O2", "-rdynamic", "-o"])
                .arg(lib.join("host"))
                .arg(fixtures().join("host.c"))
                .arg("-ldl"),
            "gcc",
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        rseq_tests::command::run_ok(
            Command::new(cargo)
                .args(["build", "--quiet", "--manifest-path"])
                .arg(fixtures().join("legacy-bin/Cargo.toml"))
                .env("CARGO_TARGET_DIR", base.join("target"))
                .env("PEER_LIB_DIR", &lib)
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS"),
            "cargo build",
        );
        base
    })
}

struct Report {
    fields: std::collections::HashMap<String, String>,
}

impl Report {
    fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in {:?}", self.fields))
    }
    fn int(&self, key: &str) -> i64 {
        self.get(key).parse().unwrap()
    }
}

fn run(bin: &str, tunable: bool) -> Report {
    let base = build();
    let mut cmd = if bin == "host" {
        let mut cmd = Command::new(base.join("lib/host"));
        cmd.arg(base.join("target/debug/librseq_abi_legacy_bin.so"));
        cmd
    } else {
        Command::new(base.join("target/debug").join(bin))
    };
    if bin.starts_with("dlopen") {
        cmd.arg(base.join("lib/libpeer.so"));
    }
    if tunable {
        cmd.env("GLIBC_TUNABLES", NO_GLIBC_RSEQ);
    } else {
        cmd.env_remove("GLIBC_TUNABLES");
    }
    let out = cmd.output().expect("run the fixture");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{bin}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut fields = std::collections::HashMap::new();
    for line in stdout.lines() {
        let (k, v) = line.split_once('=').unwrap();
        fields.insert(k.to_owned(), v.to_owned());
    }
    Report { fields }
}

/// The loader model's view of `__rseq_abi` in `bin` (with `libpeer.so` opened by `dlopen`
/// with `RTLD_GLOBAL`, as the fixture does, for the `dlopen-*` executables): every
/// definition in load order and the one the executable's lookups select.
fn model(bin: &str) -> rseq_link_check::ResolveReport {
    let base = build();
    let exe = base.join("target/debug").join(bin);
    let mut opts = rseq_link_check::Options::default();
    if bin.starts_with("dlopen") {
        let peer = base.join("lib/libpeer.so").to_string_lossy().into_owned();
        opts.dlopen
            .push((peer, rseq_link_check::DlopenMode::Global));
    }
    let p = rseq_link_check::load(&exe, &opts).expect("model the fixture program");
    rseq_link_check::resolve(&p, "__rseq_abi")
}

/// One area: the executable's `__rseq_abi`, registered by the crate, read by both sides.
fn assert_one_live_area(bin: &str) {
    let r = run(bin, true);
    assert_eq!(r.get("prepared"), "true");
    assert_eq!(r.get("rust_area"), r.get("rust_own_area"));
    assert_eq!(r.get("peer_area"), r.get("rust_area"), "{bin}: one area");
    assert_eq!(r.int("rust_cpu_id"), r.int("cpu"));
    assert_eq!(
        r.int("peer_cpu_id"),
        r.int("cpu"),
        "{bin}: the library reads the live cpu_id"
    );
    assert_eq!(r.get("registrar"), "crate");
    assert_eq!(r.get("own_area_symbol"), "__rseq_abi");
    let m = model(bin);
    let defs = &m.definitions;
    assert_eq!(defs.len(), 2, "{defs:?}");
    assert!(defs[0].module.ends_with(bin), "{defs:?}");
    assert_eq!(defs[0].binding.to_string(), "weak");
    assert_eq!(defs[0].size, 32);
    assert!(defs[0].exported, "{defs:?}");
    assert!(defs[1].module.ends_with("libpeer.so"), "{defs:?}");
    let winner = m.winner.as_ref().expect("a definition is selected");
    assert_eq!(winner.module, defs[0].module, "{m:?}");
    let peer = m
        .references
        .iter()
        .find(|r| r.module.ends_with("libpeer.so"));
    assert_eq!(
        peer.and_then(|r| r.binds_to.as_deref()),
        Some(defs[0].module.as_str()),
        "the library binds to the executable's definition: {m:?}"
    );
}

#[test]
fn linked_library_shares_the_executables_area() {
    assert_one_live_area("linked");
}

#[test]
fn dlopened_library_shares_the_exported_area() {
    assert_one_live_area("dlopen-exported");
}

/// The twin: without `--export-dynamic-symbol=__rseq_abi` an executable does not export the
/// symbol to libraries loaded later, so the library binds to its own, never-registered
/// definition.
#[test]
fn dlopened_library_without_export_gets_its_own_area() {
    let r = run("dlopen-plain", true);
    assert_eq!(r.get("prepared"), "true");
    assert_ne!(r.get("peer_area"), r.get("rust_area"));
    assert_eq!(r.int("peer_cpu_id"), -1);
    let m = model("dlopen-plain");
    let defs = &m.definitions;
    assert_eq!(defs.len(), 2, "{defs:?}");
    assert!(!defs[0].exported, "{defs:?}");
    let peer = m
        .references
        .iter()
        .find(|r| r.module.ends_with("libpeer.so"));
    assert_eq!(
        peer.and_then(|r| r.binds_to.as_deref()),
        Some(defs[1].module.as_str()),
        "the library binds to its own definition: {m:?}"
    );
}

/// When glibc owns registration the crate uses glibc's area and leaves `__rseq_abi`
/// unregistered; the library still shares the executable's (unregistered) definition.
#[test]
fn glibc_owned_leaves_the_legacy_area_unregistered() {
    let r = run("linked", false);
    assert_eq!(r.get("prepared"), "true");
    assert_ne!(r.get("rust_area"), r.get("rust_own_area"));
    assert_eq!(r.get("peer_area"), r.get("rust_own_area"));
    assert_eq!(r.int("rust_cpu_id"), r.int("cpu"));
    assert_eq!(r.int("peer_cpu_id"), -1);
    assert_eq!(r.get("registrar"), "glibc");

    // The link checker's view of the same process: the Rust executable looks up
    // __rseq_offset, so its own definition is not the error, but the C library reads the
    // executable's __rseq_abi directly, and that area is the one nobody registers (the run
    // above reads -1 there): the error names the library as the reader.
    let exe = build().join("target/debug/linked");
    let p = rseq_link_check::load(&exe, &rseq_link_check::Options::default())
        .expect("model the linked program");
    let found: Vec<_> = rseq_link_check::check(&p)
        .diagnostics
        .into_iter()
        .filter(|d| d.code.as_str() == "glibc-owns-registration")
        .collect();
    let exe_name = exe.to_string_lossy();
    assert!(
        found.iter().any(|d| d.is_error()
            && d.message.contains("libpeer.so reads")
            && d.message.contains(&*exe_name)),
        "{found:#?}"
    );
    assert!(
        !found.iter().any(|d| d
            .message
            .contains(&format!("and {exe_name} defines its own"))),
        "{found:#?}"
    );
}

/// A Rust `cdylib` loaded by a C executable that defines `__rseq_abi`: with the extra
/// version script `{ global: __rseq_abi; };` (see the fixture's `build.rs`) the cdylib
/// binds to the executable's definition and registers it.
#[test]
fn cdylib_with_version_script_shares_the_hosts_area() {
    let r = run("host", true);
    assert_eq!(r.get("prepared"), "true");
    assert_eq!(r.get("rust_area"), r.get("host_area"));
    assert_eq!(r.int("host_cpu_id"), r.int("cpu"));
}
