//! glibc's symbols are found by name and version: a preloaded library that defines
//! unversioned `__rseq_offset`, `__rseq_size`, `__rseq_flags` and `gnu_get_libc_version`
//! (built with gcc at test time) comes first in the global scope, and a plain `dlsym`
//! would return its definitions; `rseq_abi` must still read glibc's.
#![allow(unsafe_code)]

use rseq_abi::thread::{self, Registrar};
use std::path::PathBuf;
use std::process::Command;

const SCENARIO: &str = "RSEQ_ABI_TEST_SCENARIO";

/// The interposing library: values no glibc has.
const INTERPOSER_C: &str = r#"
long __rseq_offset = 0x41414140;
unsigned int __rseq_size = 77;
unsigned int __rseq_flags = 5;
const char *gnu_get_libc_version(void) { return "interposer"; }
"#;

/// Builds the interposer into a fresh directory of test `name` and returns its path.
fn build_interposer(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rseq-abi-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("interposer.c");
    let library = dir.join("libinterposer.so");
    std::fs::write(&source, INTERPOSER_C).unwrap();
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc failed: {status}");
    library
}

/// The value the global scope's first `name` holds (the interposer's, in the child).
fn first_definition(name: &std::ffi::CStr) -> Option<u32> {
    // SAFETY: `name` is NUL-terminated; the result is null or a symbol's address.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }.cast::<u32>();
    // SAFETY: both definitions of these names are (at least) 4-byte integers.
    (!p.is_null()).then(|| unsafe { p.read() })
}

/// In the child: the interposer is first in the scope, and `rseq_abi` ignores it.
fn check_in_child(tunables: Option<&str>) {
    assert_eq!(first_definition(c"__rseq_size"), Some(77), "not preloaded");
    let version = rseq_abi::glibc::libc_version().expect("glibc");
    assert!(version.starts_with("2."), "{version}");
    let glibc = rseq_abi::glibc::rseq_symbols().expect("glibc 2.35+ exports __rseq_size");
    assert_ne!(glibc.size, 77);
    assert_ne!(glibc.offset, 0x41414140);
    assert_eq!(glibc.flags, 0);
    match tunables {
        None => {
            assert!(glibc.size >= 20, "{glibc:?}");
            assert_eq!(thread::registrar(), Registrar::Glibc(glibc));
        }
        Some(_) => {
            assert_eq!(glibc.size, 0, "{glibc:?}");
            assert_eq!(thread::registrar(), Registrar::Crate);
        }
    }
    assert_eq!(thread::prepare_current_thread(), Ok(()));
    let cpu = rseq_abi::cpu::cpu_id();
    assert!(cpu >= 0 && (cpu as usize) < rseq_abi::cpu::possible_cpus());
}

fn run(name: &str, tunables: Option<&str>) {
    if std::env::var(SCENARIO).as_deref() == Ok(name) {
        check_in_child(tunables);
        return;
    }
    let library = build_interposer(name);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, name)
        .env("LD_PRELOAD", &library);
    match tunables {
        Some(t) => cmd.env("GLIBC_TUNABLES", t),
        None => cmd.env_remove("GLIBC_TUNABLES"),
    };
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(library.parent().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn glibc_symbols_are_found_past_an_interposer() {
    run("glibc_symbols_are_found_past_an_interposer", None);
}

#[test]
fn glibc_symbols_are_found_past_an_interposer_without_glibc_registration() {
    run(
        "glibc_symbols_are_found_past_an_interposer_without_glibc_registration",
        Some("glibc.pthread.rseq=0"),
    );
}
