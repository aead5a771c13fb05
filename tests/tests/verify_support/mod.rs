//! Builds the verifier's assembly fixtures at test time with the system toolchain
//! (`gcc` for x86_64, `aarch64-linux-gnu-as`/`-ld` for aarch64).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rseq_link_check::{verify_file, VerifyReport};

/// How a fixture is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `ET_REL`.
    Object,
    /// PIE executable.
    Pie,
    /// Position-dependent executable.
    NonPie,
    /// Shared object.
    Shared,
}

impl Form {
    pub const ALL: &'static [Form] = &[Form::Object, Form::Pie, Form::NonPie, Form::Shared];

    fn suffix(self) -> &'static str {
        match self {
            Form::Object => "o",
            Form::Pie => "pie",
            Form::NonPie => "exe",
            Form::Shared => "so",
        }
    }
}

/// Directory of the fixtures of `arch`.
pub fn fixture_dir(arch: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/verify")
        .join(arch)
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assembles and links `x86_64/<name>.s` with gcc.
pub fn build_x86_64(out: &Path, name: &str, broken: bool, form: Form) -> PathBuf {
    let dir = fixture_dir("x86_64");
    let twin = if broken { "broken" } else { "correct" };
    let dst = out.join(format!("x86_64-{name}-{twin}.{}", form.suffix()));
    let mut cmd = Command::new("gcc");
    cmd.arg(format!("-Wa,-I{}", dir.display()));
    if broken {
        cmd.arg("-Wa,--defsym,BROKEN=1");
    }
    match form {
        Form::Object => cmd.arg("-c"),
        Form::Pie => cmd.arg("-pie"),
        Form::NonPie => cmd.arg("-no-pie"),
        Form::Shared => cmd.arg("-shared"),
    };
    cmd.arg(dir.join(format!("{name}.s"))).arg("-o").arg(&dst);
    run(&mut cmd);
    dst
}

/// Assembles and links `x86_64/<name>.s` with gcc and extra link options (another linker,
/// packed relocations); `tag` keeps the outputs apart.
pub fn build_x86_64_linked(
    out: &Path,
    name: &str,
    broken: bool,
    tag: &str,
    args: &[&str],
) -> PathBuf {
    let dir = fixture_dir("x86_64");
    let twin = if broken { "broken" } else { "correct" };
    let dst = out.join(format!("x86_64-{name}-{twin}-{tag}"));
    let mut cmd = Command::new("gcc");
    cmd.arg(format!("-Wa,-I{}", dir.display()));
    if broken {
        cmd.arg("-Wa,--defsym,BROKEN=1");
    }
    cmd.args(args)
        .arg(dir.join(format!("{name}.s")))
        .arg("-o")
        .arg(&dst);
    run(&mut cmd);
    dst
}

/// Assembles `aarch64/<name>.s` with the cross assembler and links it with the cross
/// linker (no C library: the fixtures define their own entry point).
pub fn build_aarch64(out: &Path, name: &str, broken: bool, form: Form) -> PathBuf {
    let dir = fixture_dir("aarch64");
    let twin = if broken { "broken" } else { "correct" };
    let obj = out.join(format!("aarch64-{name}-{twin}.o"));
    let mut cmd = Command::new("aarch64-linux-gnu-as");
    cmd.arg("-I").arg(&dir);
    if broken {
        cmd.args(["--defsym", "BROKEN=1"]);
    }
    cmd.arg(dir.join(format!("{name}.s"))).arg("-o").arg(&obj);
    run(&mut cmd);
    if form == Form::Object {
        return obj;
    }
    let dst = out.join(format!("aarch64-{name}-{twin}.{}", form.suffix()));
    let mut cmd = Command::new("aarch64-linux-gnu-ld");
    match form {
        Form::Pie => cmd.args(["-pie", "--no-dynamic-linker", "-e", "main"]),
        Form::NonPie => cmd.args(["-e", "main"]),
        Form::Shared => cmd.arg("-shared"),
        Form::Object => unreachable!(),
    };
    cmd.arg(&obj).arg("-o").arg(&dst);
    run(&mut cmd);
    dst
}

/// Verifies `path`, which must be readable.
pub fn verify(path: &Path) -> VerifyReport {
    verify_file(path).unwrap_or_else(|e| panic!("{e}"))
}
