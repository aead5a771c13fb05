//! Deterministic abort injection at every instruction boundary of every critical section
//! (x86_64): see `reliability_support/injection.rs` for the method.
//!
//! - `every_boundary_of_every_section`: the tracee `rseq-abort-tracee` runs every operation
//!   family of `rseq_percpu` and of `#[rseq_critical]`, on `cpu_id` and on `mm_cid`;
//!   each boundary gets a preemption and a signal, each must land on the abort handler,
//!   and the tracee's exactly-once checks must hold to the end. Prints the coverage.
//!   The same again with glibc's registration off (the crate registers its own area).
//! - `broken_section_is_caught`: the same harness on `rseq-abort-tracee-broken`, whose
//!   hand-written section commits before its last store, must report the broken invariant.
#![cfg(target_arch = "x86_64")]

mod reliability_support;

use std::path::Path;

use reliability_support::injection::{inject_everywhere, sections_of, Failure, Injection};

const TRACEE: &str = env!("CARGO_BIN_EXE_rseq-abort-tracee");
const BROKEN: &str = env!("CARGO_BIN_EXE_rseq-abort-tracee-broken");

/// glibc's registration turned off: the crate registers its own area.
const OWN_REGISTRATION: (&str, &str) = ("GLIBC_TUNABLES", "glibc.pthread.rseq=0");

#[test]
fn every_boundary_of_every_section() {
    let out = every_boundary(&[]);
    assert!(out.contains("registrar=Glibc"), "{out}");
}

#[test]
fn every_boundary_of_every_section_own_registration() {
    let out = every_boundary(&[OWN_REGISTRATION]);
    assert!(out.contains("registrar=Crate"), "{out}");
}

/// Runs the campaign and returns the tracee's report.
fn every_boundary(vars: &[(&str, &str)]) -> String {
    let sections = sections_of(Path::new(TRACEE)).expect("reading the tracee's sections");
    // Every section of the tracee comes from `#[rseq_critical]`, and the verifier accepts
    // the file.
    let report = rseq_link_check::verify_file(Path::new(TRACEE)).unwrap();
    assert!(
        report.is_clean(),
        "{}",
        rseq_link_check::__fuzz::render::render_text(&report)
    );
    for s in &sections {
        println!(
            "section {:#x}..{:#x} ({} boundaries) abort {:#x} in {}",
            s.start,
            s.post_commit,
            s.boundaries.len(),
            s.abort,
            s.function.as_deref().unwrap_or("?")
        );
    }
    // Both index kinds of every family are there: the percpu structures' sections (counter,
    // lock, stack push and pop, ring push and pop, copy-ring push and pop) and the two
    // hand-written families, twice each.
    assert!(sections.len() >= 2 * 10, "{} sections", sections.len());

    let coverage = inject_everywhere(Path::new(TRACEE), vars).unwrap_or_else(|f| panic!("{f}"));
    println!(
        "abort injection {vars:?}: {} sections, {} (section, boundary) points; covered {:?}; tracee ran {} rounds and handled {} signals",
        coverage.sections, coverage.points, coverage.covered, coverage.rounds, coverage.signals
    );
    assert_eq!(coverage.sections, sections.len());
    for (kind, &n) in &coverage.covered {
        assert_eq!(
            n, coverage.points,
            "{kind}: {n} of {} points",
            coverage.points
        );
    }
    assert_eq!(coverage.signals, coverage.points as u64);
    // Each of the 2 × points injections was followed by a checkpoint; a round has two.
    assert!(coverage.rounds >= coverage.points as u64);
    coverage.output
}

#[test]
fn broken_section_is_caught() {
    let sections = sections_of(Path::new(BROKEN)).expect("reading the broken tracee");
    assert_eq!(sections.len(), 1, "{sections:?}");
    match inject_everywhere(Path::new(BROKEN), &[]) {
        Err(f @ Failure::Invariant { .. }) => {
            let text = f.to_string();
            println!("{text}");
            assert!(text.contains("INVARIANT BROKEN"), "{text}");
            // The injection that broke it is the one between the early commit and the
            // store after it: the last boundary of the section.
            let s = &sections[0];
            let last = *s.boundaries.last().unwrap();
            match f {
                Failure::Invariant {
                    after: Some((start, k, injection)),
                    ..
                } => {
                    assert_eq!((start, k), (s.start, last), "{text}");
                    assert_eq!(injection, Injection::Preempt, "{text}");
                }
                _ => panic!("no injection point in {text}"),
            }
        }
        Err(other) => panic!("expected a broken invariant, got: {other}"),
        Ok(c) => panic!("the broken section passed: {c:?}"),
    }
}
