//! Programs built with `#[rseq_critical]` verify clean: every operation family, bound to
//! `cpu_id` and to `mm_cid`, compiled by rustc in debug and release, as PIE and non-PIE
//! executables and as object files (`tests/fixtures/verify/macro/families.rs`, built at
//! test time against the `rseq-percpu` this test was built with, and its `rseq-abi` and
//! `rseq-macros`).

mod verify_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use rseq_link_check::__fuzz::render::render_text;
use rseq_link_check::FileType;
use verify_support::verify;

/// Families × indices in the fixture.
const SECTIONS: usize = 26;

/// Files in the test binary's `deps` directory named `lib{name}-*.{ext}`, newest first.
fn artifacts(deps: &Path, name: &str, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(deps)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let ok = file.starts_with(&format!("lib{name}-")) && file.ends_with(&format!(".{ext}"));
            ok.then(|| (e.metadata().and_then(|m| m.modified()).ok(), e.path()))
        })
        .map(|(t, p)| (t.unwrap_or(std::time::UNIX_EPOCH), p))
        .collect();
    found.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Compiles the fixture with `flags`, trying the candidate libraries newest first (the
/// deps directory can hold several builds of `rseq-percpu`); its own dependencies are
/// found in the deps directory.
fn build(out: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/verify/macro/families.rs");
    let dst = out.join(name);
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut errors = String::new();
    for percpu in artifacts(deps, "rseq_percpu", "rlib") {
        let output = Command::new(&rustc)
            .args(["--edition", "2021", "--crate-type", "bin"])
            .args(flags)
            .arg("--extern")
            .arg(format!("rseq_percpu={}", percpu.display()))
            .arg("-L")
            .arg(format!("dependency={}", deps.display()))
            .arg(&src)
            .arg("-o")
            .arg(&dst)
            .output()
            .unwrap();
        if output.status.success() {
            return dst;
        }
        errors.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    panic!(
        "the fixture did not build with any rseq-percpu build in {}:\n{errors}",
        deps.display()
    );
}

fn check(path: &Path, kind: FileType) {
    let report = verify(path);
    let text = render_text(&report);
    assert_eq!(report.kind, kind, "{text}");
    assert_eq!(report.sections.len(), SECTIONS, "{text}");
    assert!(report.is_clean(), "{text}");
    assert_eq!(report.exit_code(), 0);
    for s in &report.sections {
        assert!(s.descriptor.in_ptr_array, "{text}");
        assert!(
            s.function
                .as_deref()
                .is_some_and(|f| f.starts_with("families::")),
            "{text}"
        );
        assert!(s.instructions >= 2, "{text}");
        // The macro names the function each section was written in, inlined or not.
        assert!(
            s.source_function.as_deref().is_some_and(
                |f| f.starts_with("families::by_cpu::") || f.starts_with("families::by_cid::")
            ),
            "{text}"
        );
    }
    // The families with an early exit declare it, and the speculative stores are listed.
    assert!(report.sections.iter().any(|s| !s.exits.is_empty()));
    assert!(report
        .all_findings()
        .any(|f| f.code.as_str() == "rseq-speculative-store"));
    // The program runs: the sections work under the real kernel.
    if kind != FileType::Relocatable {
        let run = Command::new(path).output().unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

#[test]
fn debug_pie_build_of_every_family_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    check(
        &build(dir.path(), "debug-pie", &["-C", "opt-level=0"]),
        FileType::SharedObject,
    );
}

#[test]
fn release_pie_build_of_every_family_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    check(
        &build(dir.path(), "release-pie", &["-C", "opt-level=3"]),
        FileType::SharedObject,
    );
}

#[test]
fn release_non_pie_build_of_every_family_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(
        dir.path(),
        "release-static",
        &["-C", "opt-level=3", "-C", "relocation-model=static"],
    );
    check(&path, FileType::Executable);
}

#[test]
fn debug_non_pie_build_of_every_family_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(
        dir.path(),
        "debug-static",
        &["-C", "opt-level=0", "-C", "relocation-model=static"],
    );
    check(&path, FileType::Executable);
}

#[test]
fn object_files_of_every_family_verify_clean_in_debug_and_release() {
    let dir = tempfile::tempdir().unwrap();
    for opt in ["0", "3"] {
        let path = build(
            dir.path(),
            &format!("families-O{opt}.o"),
            &[
                "--emit",
                "obj",
                "-C",
                &format!("opt-level={opt}"),
                "-C",
                "codegen-units=1",
            ],
        );
        check(&path, FileType::Relocatable);
    }
}

/// `asm --function` matches the function a section was written in even when the compiler
/// inlined it into another (release: `cmpxchg` is inlined into `exercise`); a pattern that
/// matches nothing is a finding (exit status 1) and the listing names the functions that
/// hold sections.
#[test]
fn function_filter_matches_inlined_sections_by_their_source_function() {
    use rseq_link_check::__fuzz::asm::listing_for_file;
    use rseq_link_check::__fuzz::render::render_listing;
    use rseq_link_check::{ColorChoice, ExitStatus, Outcome};

    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "release-filter", &["-C", "opt-level=3"]);
    let listing = listing_for_file(&path, Some("by_cpu::cmpxchg")).unwrap();
    let text = render_listing(&listing, ColorChoice::Never);
    assert!(!listing.sections.is_empty(), "{text}");
    for s in &listing.sections {
        assert_eq!(
            s.section.source_function.as_deref(),
            Some("families::by_cpu::cmpxchg"),
            "{text}"
        );
    }
    assert!(text.contains("families::by_cpu::cmpxchg"), "{text}");
    assert_eq!(listing.exit_status(), ExitStatus::Clean, "{text}");

    let none = listing_for_file(&path, Some("no_such_function")).unwrap();
    let text = render_listing(&none, ColorChoice::Never);
    assert_eq!(none.exit_status(), ExitStatus::Findings, "{text}");
    assert!(
        text.contains("no critical section is in a function matching `no_such_function`")
            && text.contains("families::by_cpu::cmpxchg")
            && text.contains("families::by_cid::add"),
        "{text}"
    );
}
