//! The build-script API without Cargo: `Check::evaluate` against C libraries built at test
//! time, with the loader and C library facts read from this machine.

use std::path::Path;
use std::process::Command;

use rseq_link_check::buildscript::{Check, CrateType};
use rseq_link_check::Code;

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/link/c");
        for (dir, c) in [("c64", "clib64"), ("c32", "clib32")] {
            std::fs::create_dir_all(lab.dir.path().join(dir)).unwrap();
            let out = Command::new("cc")
                .args(["-shared", "-fPIC", "-O1", "-o"])
                .arg(lab.dir.path().join(dir).join("libclib.so"))
                .arg(src.join(format!("{c}.c")))
                .output()
                .unwrap();
            assert!(out.status.success());
        }
        lab
    }

    fn check(&self, clib: &str, work: &str) -> Check {
        Check::new()
            .out_dir(self.dir.path().join(work))
            .own_definition(32)
            .search_path(format!("native={}", self.dir.path().join(clib).display()))
            .link_arg("-lclib")
    }
}

fn codes(r: &rseq_link_check::buildscript::BuildReport) -> Vec<(Code, bool)> {
    r.link
        .diagnostics
        .iter()
        .map(|d| (d.code, d.is_error()))
        .collect()
}

#[test]
fn target_libc_is_described_from_the_real_loader() {
    let lab = Lab::new();
    let r = lab.check("c32", "libc").evaluate().unwrap();
    let libc = r.libc.expect("the C library is found through cc");
    // What the machine's loader exports, read independently with readelf.
    let ld = libc.loader.clone().expect("ld.so found");
    let out = Command::new("readelf")
        .arg("--dyn-syms")
        .arg("-W")
        .arg(&ld)
        .output()
        .unwrap();
    let exports = String::from_utf8_lossy(&out.stdout).contains("__rseq_offset@@GLIBC_2.35");
    assert_eq!(libc.owns_registration, exports, "{libc:?}");
    assert!(libc
        .version
        .as_deref()
        .is_some_and(|v| v.starts_with("GLIBC_2.")));
}

#[test]
fn sizes_fail_by_default_and_warn_when_configured() {
    let lab = Lab::new();
    let r = lab.check("c64", "deny").evaluate().unwrap();
    assert!(r.has_errors(), "{:#?}", r.link.diagnostics);
    assert!(
        codes(&r).contains(&(Code::WinnerTooSmall, true)),
        "{:?}",
        codes(&r)
    );
    let msg = &r
        .link
        .diagnostics
        .iter()
        .find(|d| d.code == Code::WinnerTooSmall)
        .unwrap()
        .message;
    assert!(
        msg.contains("64-byte") && msg.contains("32-byte") && msg.contains("libclib.so"),
        "{msg}"
    );

    let r = lab
        .check("c64", "warn")
        .warn("winner-too-small")
        .warn("link-size-mismatch")
        .evaluate()
        .unwrap();
    assert!(!r.has_errors(), "{:#?}", r.link.diagnostics);
    assert!(codes(&r).contains(&(Code::WinnerTooSmall, false)));

    // The twin that shares one 32-byte area is clean (warnings aside).
    let r = lab.check("c32", "safe").evaluate().unwrap();
    assert!(!r.has_errors(), "{:#?}", r.link.diagnostics);
}

#[test]
fn cdylib_version_script_makes_the_area_private() {
    let lab = Lab::new();
    let r = lab
        .check("c32", "cdylib")
        .crate_type(CrateType::Cdylib)
        .evaluate()
        .unwrap();
    assert!(
        codes(&r).contains(&(Code::VersionScriptLocal, true)),
        "{:?}",
        codes(&r)
    );
    // Exported with a second version script, as rseq-abi documents: no private copy.
    let map = lab.dir.path().join("export.map");
    std::fs::write(&map, "{ global: __rseq_abi; };\n").unwrap();
    let r = lab
        .check("c32", "cdylib-exported")
        .crate_type(CrateType::Cdylib)
        .link_arg(&format!("-Wl,--version-script={}", map.display()))
        .evaluate()
        .unwrap();
    assert!(
        !codes(&r)
            .iter()
            .any(|(c, _)| *c == Code::VersionScriptLocal),
        "{:?}",
        codes(&r)
    );
}

#[test]
fn unknown_policy_code_is_an_error() {
    let lab = Lab::new();
    let e = lab
        .check("c32", "bad")
        .deny("no-such-code")
        .evaluate()
        .unwrap_err();
    assert!(e.to_string().contains("no-such-code"));
}

#[test]
fn rustc_link_lib_comes_before_the_rust_archives() {
    let lab = Lab::new();
    let dir = format!("native={}", lab.dir.path().join("c64").display());
    // Named with `rustc-link-lib`, the C library precedes rseq-abi's archive: its 64-byte
    // definition satisfies the reference and the archive member is never loaded.
    let r = Check::new()
        .out_dir(lab.dir.path().join("order-bin"))
        .own_definition(32)
        .search_path(&dir)
        .link_lib("dylib=clib")
        .evaluate()
        .unwrap();
    let o = &r.link.prediction.outcome;
    assert_eq!(o.size, Some(64), "{o:?}");
    assert!(o
        .provider
        .as_deref()
        .is_some_and(|p| p.ends_with("libclib.so")));
    // The real trial link agrees: the program's winner is the C library's definition.
    let winner = r
        .link
        .resolved
        .as_ref()
        .and_then(|x| x.winner.clone())
        .unwrap();
    assert!(
        winner.module.ends_with("libclib.so") && winner.size == 64,
        "{winner:?}"
    );
    // For a cdylib that exports __rseq_abi with a second version script, the linker then
    // refuses the export of a symbol the library does not define.
    let map = lab.dir.path().join("export.map");
    std::fs::write(&map, "{ global: __rseq_abi; };\n").unwrap();
    let r = Check::new()
        .out_dir(lab.dir.path().join("order-cdylib"))
        .crate_type(CrateType::Cdylib)
        .own_definition(32)
        .search_path(&dir)
        .link_lib("dylib=clib")
        .link_arg(&format!("-Wl,--version-script={}", map.display()))
        .evaluate()
        .unwrap();
    assert!(r.link_error.is_some(), "{:#?}", r.link.prediction);
    assert!(
        codes(&r).contains(&(Code::LinkRejected, true)),
        "{:?}",
        codes(&r)
    );
}

/// What a crate that uses rseq-abi with default features writes in `build.rs`: no own
/// definition, no libraries. The stand-in's reference to `__rseq_abi` stays undefined in the
/// trial link (`--unresolved-symbols=ignore-all`) and is no rejection: nothing to report.
#[test]
fn bare_check_of_a_default_rseq_abi_user_is_clean() {
    let lab = Lab::new();
    let r = Check::new()
        .out_dir(lab.dir.path().join("bare"))
        .evaluate()
        .unwrap();
    assert!(r.link_error.is_none(), "{:?}", r.link_error);
    assert!(r.link.diagnostics.is_empty(), "{:#?}", r.link.diagnostics);
}

/// rseq-abi's legacy area alone (`own_definition(32)`): rseq-abi registers it only when the
/// C library does not, so the C library owning registration is no finding.
#[test]
fn own_legacy_definition_alone_gives_no_finding() {
    let lab = Lab::new();
    let r = Check::new()
        .out_dir(lab.dir.path().join("own"))
        .own_definition(32)
        .evaluate()
        .unwrap();
    assert!(r.link.diagnostics.is_empty(), "{:#?}", r.link.diagnostics);
}

/// A library that does not exist (the README's former `/opt/foo` and `-lfoo`) is not an
/// rseq finding: its own code, a hint about the search path, no word about definitions.
#[test]
fn missing_library_has_its_own_code_and_hint() {
    let lab = Lab::new();
    let r = Check::new()
        .out_dir(lab.dir.path().join("missing"))
        .own_definition(32)
        .search_path("native=/opt/foo/lib")
        .link_lib("dylib=foo")
        .evaluate()
        .unwrap();
    assert!(
        codes(&r).contains(&(Code::LinkInputMissing, true)),
        "{:#?}",
        r.link.diagnostics
    );
    assert!(
        !codes(&r).iter().any(|(c, _)| *c == Code::LinkRejected),
        "{:#?}",
        r.link.diagnostics
    );
    let d = r
        .link
        .diagnostics
        .iter()
        .find(|d| d.code == Code::LinkInputMissing)
        .unwrap();
    assert!(d.message.contains("cannot find -lfoo"), "{d:?}");
    assert!(
        d.hint.contains("libfoo.so") && d.hint.contains("search_path"),
        "{d:?}"
    );
    assert!(!d.hint.contains("strong definition"), "{d:?}");

    // A missing file named on the line: a hint about the file, not about libraries.
    let r = Check::new()
        .out_dir(lab.dir.path().join("missing-file"))
        .file(lab.dir.path().join("no-such-object.o"))
        .evaluate()
        .unwrap();
    let d = r
        .link
        .diagnostics
        .iter()
        .find(|d| d.code == Code::LinkInputMissing)
        .unwrap_or_else(|| panic!("{:#?}", r.link.diagnostics));
    assert!(d.hint.contains("no-such-object.o"), "{d:?}");
    assert!(!d.hint.contains("-L"), "{d:?}");
}

fn cc(dir: &Path, out: &str, src: &str, extra: &[&str]) -> std::path::PathBuf {
    let c = dir.join(format!("{out}.c"));
    std::fs::write(&c, src).unwrap();
    let o = dir.join(out);
    let r = Command::new("cc")
        .arg("-O1")
        .args(extra)
        .arg("-o")
        .arg(&o)
        .arg(&c)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    o
}

/// `glibc-owns-registration` says what it knows: an error when the module's code makes the
/// rseq system call, a warning stating the assumption when nothing in it registers.
#[test]
fn glibc_owns_registration_needs_evidence_to_be_an_error() {
    let lab = Lab::new();
    let area = "__thread char __rseq_abi[32] __attribute__((aligned(32)));\n";
    let quiet = cc(
        lab.dir.path(),
        "quiet",
        &format!("{area}int main(void) {{ return __rseq_abi[0]; }}\n"),
        &[],
    );
    let registers = cc(
        lab.dir.path(),
        "registers",
        &format!(
            "#include <unistd.h>\n{area}int main(void) {{ return (int)syscall(334, __rseq_abi, 32, 0, 0x53053053); }}\n"
        ),
        &[],
    );
    let glibc_owns = |exe: &Path| -> Vec<rseq_link_check::Diagnostic> {
        let p = rseq_link_check::load(exe, &rseq_link_check::Options::default()).unwrap();
        rseq_link_check::check(&p)
            .diagnostics
            .into_iter()
            .filter(|d| d.code == Code::GlibcOwnsRegistration)
            .collect()
    };
    let libc = rseq_link_check::__fuzz::link::TargetLibc::find("cc", None);
    if !libc.is_some_and(|l| l.owns_registration) {
        return; // the C library does not register rseq: nothing to own
    }
    let q = glibc_owns(&quiet);
    assert_eq!(q.len(), 1, "{q:#?}");
    assert!(!q[0].is_error(), "{q:#?}");
    assert!(q[0].message.contains("assumed"), "{q:#?}");
    let r = glibc_owns(&registers);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert!(r[0].is_error(), "{r:#?}");
    assert!(r[0].message.contains("rseq system call"), "{r:#?}");
}

/// A strong definition from a C archive replaces rseq-abi's 32-byte weak legacy definition:
/// the prediction still says that rseq-abi's code was built for 32 bytes and now gets the
/// archive's size.
#[test]
fn strong_archive_definition_replacing_the_legacy_one_is_reported() {
    let lab = Lab::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/link/c");
    let dir = lab.dir.path().join("strong");
    std::fs::create_dir_all(&dir).unwrap();
    for (size, name) in [(64, "strong64"), (16, "strong16")] {
        let c = if size == 64 {
            src.join("strong64.c")
        } else {
            let c = dir.join("strong16.c");
            std::fs::write(
                &c,
                "__thread char __rseq_abi[16] __attribute__((aligned(32)));\n",
            )
            .unwrap();
            c
        };
        let o = dir.join(format!("{name}.o"));
        assert!(Command::new("cc")
            .args(["-c", "-fPIC", "-o"])
            .arg(&o)
            .arg(&c)
            .status()
            .unwrap()
            .success());
        assert!(Command::new("ar")
            .arg("rcs")
            .arg(dir.join(format!("lib{name}.a")))
            .arg(&o)
            .status()
            .unwrap()
            .success());
    }
    for (name, size) in [("strong64", 64), ("strong16", 16)] {
        let r = Check::new()
            .out_dir(lab.dir.path().join(format!("work-{name}")))
            .own_definition(32)
            .search_path(format!("native={}", dir.display()))
            .link_lib(&format!("static={name}"))
            .evaluate()
            .unwrap();
        let msgs: Vec<String> = r
            .link
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.code.as_str(), d.message))
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("32 bytes") && m.contains(&format!("{size} bytes"))),
            "{msgs:#?}"
        );
        if size < 32 {
            assert!(
                r.link
                    .diagnostics
                    .iter()
                    .any(|d| d.code == Code::TooSmallToRegister && d.is_error()),
                "{msgs:#?}"
            );
        }
    }
}
