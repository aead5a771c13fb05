//! A statically linked program: `dlsym` cannot see glibc's `__rseq_*` variables there, so
//! discovery must still find glibc's registration (and register its own area when glibc
//! does not). The executable is built at test time and cached under the test target
//! directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn build() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/abi/static-bin/Cargo.toml");
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("abi-static");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        rseq_tests::command::run_ok(
            Command::new(cargo)
                .args(["build", "--quiet", "--target", TARGET, "--manifest-path"])
                .arg(manifest)
                .env("CARGO_TARGET_DIR", &target_dir)
                .env("RUSTFLAGS", "-C target-feature=+crt-static")
                .env_remove("CARGO_ENCODED_RUSTFLAGS"),
            "cargo build",
        );
        target_dir.join(TARGET).join("debug/rseq-abi-static-bin")
    })
}

fn run(tunable: bool) -> std::collections::HashMap<String, String> {
    let exe = build();
    // Statically linked: no program interpreter.
    let bytes = std::fs::read(exe).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    use object::Object;
    assert!(
        file.section_by_name(".interp").is_none(),
        "{} is not static",
        exe.display()
    );
    let mut cmd = Command::new(exe);
    if tunable {
        cmd.env("GLIBC_TUNABLES", "glibc.pthread.rseq=0");
    } else {
        cmd.env_remove("GLIBC_TUNABLES");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn static_glibc_owned() {
    let v = run(false);
    assert_eq!(v["prepared"], "true");
    assert_eq!(v["registrar"], "glibc");
    assert_eq!(v["rseq_size"], "20");
    assert_eq!(v["area_offset"], v["rseq_offset"]);
    assert_eq!(v["own_area"], "false");
    assert!(v["cpu_id"].parse::<i32>().unwrap() >= 0);
}

#[test]
fn static_own_registration() {
    let v = run(true);
    assert_eq!(v["prepared"], "true");
    assert_eq!(v["registrar"], "crate");
    assert_eq!(v["rseq_size"], "0");
    assert_eq!(v["own_area"], "true");
    assert!(v["cpu_id"].parse::<i32>().unwrap() >= 0);
}
