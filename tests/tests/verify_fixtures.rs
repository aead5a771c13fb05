//! Every rule of `rseq-link-check verify` is shown to fail and to pass: each fixture under
//! `tests/fixtures/verify/` is assembled twice, with `--defsym BROKEN=1` (the broken twin,
//! which must be reported with the rule's code) and without (the correct twin, which must
//! be clean), as a relocatable object, a PIE executable, a non-PIE executable and a
//! shared object.

mod verify_support;

use rseq_link_check::{Severity, VerifyCode as Code};
use verify_support::{build_aarch64, build_x86_64, build_x86_64_linked, verify, Form};

/// Codes of errors and warnings, sorted.
fn defect_codes(report: &rseq_link_check::VerifyReport) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = report
        .all_findings()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.code.as_str())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

fn note_codes(report: &rseq_link_check::VerifyReport) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = report
        .all_findings()
        .filter(|f| f.severity == Severity::Info)
        .map(|f| f.code.as_str())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// (fixture, codes the broken twin must report: the rule's own code first, then any
/// consequence the same defect necessarily has, forms)
const X86_64_CASES: &[(&str, &[&str], &[Form])] = &[
    ("cs-misaligned", &["rseq-cs-misaligned"], Form::ALL),
    ("cs-bad-version", &["rseq-cs-bad-version"], Form::ALL),
    (
        "cs-deprecated-flags",
        &["rseq-cs-deprecated-flags"],
        Form::ALL,
    ),
    ("cs-unknown-flags", &["rseq-cs-unknown-flags"], Form::ALL),
    ("cs-empty", &["rseq-cs-empty"], Form::ALL),
    ("cs-not-executable", &["rseq-cs-not-executable"], Form::ALL),
    // A range that runs past the code also swallows the abort handler and the exit.
    (
        "cs-spans-sections",
        &[
            "rseq-cs-spans-sections",
            "rseq-abort-inside-section",
            "rseq-exit-inside-section",
        ],
        Form::ALL,
    ),
    // The cpu check still branches to the handler in .text, which is no longer abort_ip.
    (
        "abort-not-executable",
        &["rseq-abort-not-executable", "rseq-branch-out-of-section"],
        Form::ALL,
    ),
    // The signature placed inside the section decodes as `ud1`, a trapping instruction.
    (
        "abort-inside-section",
        &["rseq-abort-inside-section", "rseq-privileged-in-section"],
        Form::ALL,
    ),
    (
        "abort-signature-missing",
        &["rseq-abort-signature-missing"],
        Form::ALL,
    ),
    (
        "abort-signature-not-ud1",
        &["rseq-abort-signature-not-ud1"],
        Form::ALL,
    ),
    ("call-in-section", &["rseq-call-in-section"], Form::ALL),
    (
        "syscall-in-section",
        &["rseq-syscall-in-section"],
        Form::ALL,
    ),
    ("return-in-section", &["rseq-return-in-section"], Form::ALL),
    (
        "stack-op-in-section",
        &["rseq-stack-op-in-section"],
        Form::ALL,
    ),
    (
        "privileged-in-section",
        &["rseq-privileged-in-section"],
        Form::ALL,
    ),
    (
        "branch-out-of-section",
        &["rseq-branch-out-of-section"],
        Form::ALL,
    ),
    ("indirect-branch", &["rseq-indirect-branch"], Form::ALL),
    (
        "undecodable-instruction",
        &["rseq-undecodable-instruction"],
        Form::ALL,
    ),
    (
        "commit-not-at-instruction-end",
        &["rseq-commit-not-at-instruction-end"],
        Form::ALL,
    ),
    ("commit-not-store", &["rseq-commit-not-store"], Form::ALL),
    (
        "cs-not-in-ptr-array",
        &["rseq-cs-not-in-ptr-array"],
        Form::ALL,
    ),
    (
        "ptr-array-dangling",
        &["rseq-ptr-array-dangling"],
        Form::ALL,
    ),
    // The extra pair's start is not a section's, so it is also not one of its exits.
    (
        "exit-unknown-section",
        &["rseq-exit-unknown-section"],
        Form::ALL,
    ),
    (
        "exit-inside-section",
        &["rseq-exit-inside-section"],
        Form::ALL,
    ),
    // Linking needs the symbol, so only the object file can show this.
    (
        "unresolved-relocation",
        &["rseq-unresolved-relocation"],
        &[Form::Object],
    ),
];

#[test]
fn every_x86_64_rule_catches_its_broken_twin_and_passes_its_correct_twin() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for &(name, expected, forms) in X86_64_CASES {
        let code =
            Code::from_name(expected[0]).unwrap_or_else(|| panic!("unknown code {}", expected[0]));
        assert_eq!(code.as_str(), expected[0]);
        for &form in forms {
            let broken = build_x86_64(dir.path(), name, true, form);
            let report = verify(&broken);
            let mut want: Vec<&str> = expected.to_vec();
            want.sort_unstable();
            assert_eq!(
                defect_codes(&report),
                want,
                "{name} broken twin as {form:?}:\n{}",
                rseq_link_check::__fuzz::render::render_text(&report)
            );
            assert_eq!(report.exit_code(), 1);
            assert_eq!(report.sections.len().max(1), report.sections.len().max(1));

            let correct = build_x86_64(dir.path(), name, false, form);
            let report = verify(&correct);
            assert!(
                report.is_clean() && note_codes(&report).is_empty(),
                "{name} correct twin as {form:?}:\n{}",
                rseq_link_check::__fuzz::render::render_text(&report)
            );
            assert_eq!(report.sections.len(), 1, "{name} correct twin as {form:?}");
            assert_eq!(report.exit_code(), 0);
            checked += 1;
        }
    }
    assert!(checked > 90, "{checked} fixture builds checked");
}

#[test]
fn a_speculative_store_is_a_note_and_only_the_broken_twin_has_it() {
    let dir = tempfile::tempdir().unwrap();
    for &form in Form::ALL {
        let report = verify(&build_x86_64(dir.path(), "speculative-store", true, form));
        assert!(report.is_clean(), "a note is not a defect");
        assert_eq!(note_codes(&report), ["rseq-speculative-store"], "{form:?}");
        let f = report.all_findings().next().unwrap();
        assert!(f.message.contains("mov [rdi+8], r8"), "{}", f.message);
        let report = verify(&build_x86_64(dir.path(), "speculative-store", false, form));
        assert!(note_codes(&report).is_empty(), "{form:?}");
    }
}

#[test]
fn the_reference_section_is_clean_and_named_by_function_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    for &form in Form::ALL {
        let path = build_x86_64(dir.path(), "correct-reference", false, form);
        let report = verify(&path);
        assert!(report.is_clean(), "{form:?}: {report:?}");
        assert_eq!(report.sections.len(), 1);
        let s = &report.sections[0];
        assert_eq!(s.function.as_deref(), Some("cmpxchg_percpu"), "{form:?}");
        assert_eq!(s.instructions, 6);
        assert_eq!(s.exits.len(), 1);
        assert!(s.descriptor.in_ptr_array);
    }
}

const AARCH64_CASES: &[(&str, &[&str])] = &[
    ("abort-signature-missing", &["rseq-abort-signature-missing"]),
    (
        "abort-inside-section",
        &["rseq-abort-inside-section", "rseq-privileged-in-section"],
    ),
    ("call-in-section", &["rseq-call-in-section"]),
    ("syscall-in-section", &["rseq-syscall-in-section"]),
    ("return-in-section", &["rseq-return-in-section"]),
    ("stack-op-in-section", &["rseq-stack-op-in-section"]),
    ("privileged-in-section", &["rseq-privileged-in-section"]),
    ("branch-out-of-section", &["rseq-branch-out-of-section"]),
    ("indirect-branch", &["rseq-indirect-branch"]),
    ("commit-not-store", &["rseq-commit-not-store"]),
];

#[test]
fn every_aarch64_rule_catches_its_broken_twin_and_passes_its_correct_twin() {
    let dir = tempfile::tempdir().unwrap();
    for &(name, expected) in AARCH64_CASES {
        for &form in Form::ALL {
            let report = verify(&build_aarch64(dir.path(), name, true, form));
            let mut want: Vec<&str> = expected.to_vec();
            want.sort_unstable();
            assert_eq!(
                defect_codes(&report),
                want,
                "aarch64 {name} broken twin as {form:?}:\n{}",
                rseq_link_check::__fuzz::render::render_text(&report)
            );
            let report = verify(&build_aarch64(dir.path(), name, false, form));
            assert!(
                report.is_clean() && report.sections.len() == 1,
                "aarch64 {name} correct twin as {form:?}:\n{}",
                rseq_link_check::__fuzz::render::render_text(&report)
            );
        }
    }
}

#[test]
fn the_aarch64_reference_section_is_clean_with_its_descriptor_relocated_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    for &form in Form::ALL {
        let report = verify(&build_aarch64(dir.path(), "correct-reference", false, form));
        assert!(report.is_clean(), "{form:?}: {report:?}");
        assert_eq!(report.sections.len(), 1);
        let s = &report.sections[0];
        assert_eq!(s.function.as_deref(), Some("cmpxchg_percpu"), "{form:?}");
        // ldr, cmp, b.ne, ldr, cmp, b.ne, str: the abort target and the exit resolved.
        assert_eq!(s.instructions, 7, "{form:?}");
        assert_eq!(s.exits.len(), 1);
        assert_eq!(s.descriptor.post_commit_offset, 28);
        assert!(s.descriptor.abort_ip > s.descriptor.start_ip + 28);
    }
}

/// Links that store the descriptor words differently: GNU ld with packed `RELR`
/// relocations (the value stays in place), lld PIE (`RELA`), lld shared object with `RELR`.
const LINKS: &[(&str, &[&str])] = &[
    ("ld-relr-pie", &["-pie", "-Wl,-z,pack-relative-relocs"]),
    ("lld-pie", &["-fuse-ld=lld", "-pie"]),
    (
        "lld-relr-so",
        &["-fuse-ld=lld", "-shared", "-Wl,--pack-dyn-relocs=relr"],
    ),
];

#[test]
fn other_linkers_and_packed_relocations_give_the_same_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    for &(tag, args) in LINKS {
        let report = verify(&build_x86_64_linked(
            dir.path(),
            "correct-reference",
            false,
            tag,
            args,
        ));
        assert!(
            report.is_clean(),
            "{tag}: {}",
            rseq_link_check::__fuzz::render::render_text(&report)
        );
        let s = &report.sections[0];
        // cmp (8) + jne (2) + mov (3) + cmp (3) + jne (2) + mov (3) bytes.
        assert_eq!(s.descriptor.post_commit_offset, 21, "{tag}");
        assert_eq!(s.function.as_deref(), Some("cmpxchg_percpu"), "{tag}");
        assert_eq!(s.exits.len(), 1, "{tag}");
        for (name, code) in [
            ("abort-inside-section", "rseq-abort-inside-section"),
            ("exit-unknown-section", "rseq-exit-unknown-section"),
            ("cs-not-in-ptr-array", "rseq-cs-not-in-ptr-array"),
        ] {
            let report = verify(&build_x86_64_linked(dir.path(), name, true, tag, args));
            assert!(
                defect_codes(&report).contains(&code),
                "{tag} {name}: {}",
                rseq_link_check::__fuzz::render::render_text(&report)
            );
            let report = verify(&build_x86_64_linked(dir.path(), name, false, tag, args));
            assert!(report.is_clean(), "{tag} {name} correct twin");
        }
    }
}
