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
