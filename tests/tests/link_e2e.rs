//! End to end, on a small Cargo project built during the test (`tests/fixtures/link/app`: a
//! `bin` and a `cdylib` using rseq-abi's opt-in 32-byte `__rseq_abi`, linked with a C library
//! `libclib.so`):
//!
//! - with a C library built for a 64-byte `__rseq_abi`, the build-script API fails the build
//!   (default policy), or warns and lets it finish (size findings set to warnings);
//! - the linker wrapper then fails the link of that unsafe program, naming both definitions
//!   and their sizes;
//! - with a C library that shares the 32-byte area, the wrapper links the program and it runs.
//!
//! The project is copied into the test target directory (path dependencies made absolute,
//! the workspace's Cargo.lock reused) and built there, so later runs only relink.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const WRAPPER: &str = env!("CARGO_BIN_EXE_link-wrapper-under-test");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

struct Project {
    base: PathBuf,
}

impl Project {
    fn new() -> Project {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("link-e2e");
        let app = base.join("app");
        copy_dir(&workspace().join("tests/fixtures/link/app"), &app);
        let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
        let root = workspace().display().to_string();
        std::fs::write(
            app.join("Cargo.toml"),
            manifest.replace("../../../..", &root),
        )
        .unwrap();
        if !app.join("Cargo.lock").exists() {
            std::fs::copy(workspace().join("Cargo.lock"), app.join("Cargo.lock")).unwrap();
        }
        let c = workspace().join("tests/fixtures/link/c");
        for (dir, src) in [("c64", "clib64.c"), ("c32", "clib32.c")] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
            let out = Command::new("cc")
                .args(["-shared", "-fPIC", "-O1", "-o"])
                .arg(base.join(dir).join("libclib.so"))
                .arg(c.join(src))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Project { base }
    }

    /// Rewrites the crate's sources so that Cargo compiles and links them again.
    fn touch_sources(&self) {
        for f in ["src/main.rs", "src/lib.rs"] {
            let p = self.base.join("app").join(f);
            let text = std::fs::read(&p).unwrap();
            std::fs::write(&p, text).unwrap();
        }
    }

    /// Builds the project. The wrapper is always the linker (changing the linker would make
    /// Cargo rebuild every crate); without `check` it only runs `cc`.
    fn cargo(&self, clib: &str, policy: &str, check: bool) -> Output {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--manifest-path"])
            .arg(self.base.join("app/Cargo.toml"))
            .env("CARGO_TARGET_DIR", self.base.join("target"))
            .env("CARGO_TERM_COLOR", "never")
            .env("RSEQ_E2E_CLIB_DIR", self.base.join(clib))
            .env("RSEQ_E2E_BUILD_POLICY", policy);
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RSEQ_LINK_CHECK_DENY",
            "RSEQ_LINK_CHECK_WARN",
            "RSEQ_LINK_CHECK_ALLOW",
            "RSEQ_LINK_CHECK_SUMMARY",
            "RSEQ_LINK_CHECK_LINKER",
            "RSEQ_LINK_CHECK_WRAPPER",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER", WRAPPER);
        if !check {
            cmd.env("RSEQ_LINK_CHECK_WRAPPER", "off");
        }
        cmd.output().expect("run cargo")
    }
}

#[test]
fn build_script_and_wrapper_on_a_cargo_project() {
    let project = Project::new();
    let c64 = project.base.join("c64/libclib.so").display().to_string();

    // The build script refuses the 64-byte C library with the default policy.
    let out = project.cargo("c64", "deny", false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("rseq-link-check: the link of this crate would resolve __rseq_abi unsafely"),
        "{stderr}"
    );
    assert!(
        stderr.contains("winner-too-small") && stderr.contains(&c64),
        "{stderr}"
    );
    assert!(
        stderr.contains("32 bytes") && stderr.contains("64 bytes"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "the fix: {stderr}");

    // Configured to warn, it prints cargo warnings and the build finishes.
    let out = project.cargo("c64", "warn", false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: rseq-link-app@0.0.0: rseq-link-check: warning[winner-too-small]"),
        "{stderr}"
    );

    // The linker wrapper fails the link of that unsafe program, naming both definitions.
    // (Cargo does not track RSEQ_LINK_CHECK_WRAPPER: touch the sources to relink.)
    project.touch_sources();
    let out = project.cargo("c64", "warn", true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("rseq-link-wrapper: error: the link of"),
        "{stderr}"
    );
    assert!(
        stderr.contains("winner-too-small") && stderr.contains(&c64),
        "{stderr}"
    );
    assert!(
        stderr.contains("32 bytes") && stderr.contains("64 bytes"),
        "{stderr}"
    );

    // The C library that shares the 32-byte area: linked through the wrapper, and it runs.
    let out = project.cargo("c32", "deny", true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("rseq-link-wrapper"),
        "the wrapper says nothing: {stderr}"
    );
    let bin = project.base.join("target/debug/rseq-link-app");
    let run = Command::new(&bin).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("own_area=0x"));
    assert!(project
        .base
        .join("target/debug/librseq_link_app.so")
        .exists());
}
