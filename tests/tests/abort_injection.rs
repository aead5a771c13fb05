//! Deterministic abort injection at every instruction boundary of every critical section
//! (x86_64), with the library behind `rseq-link-check inject` (see its `inject` module for
//! the method).
//!
//! - `every_boundary_of_every_section`: the tracee `rseq-abort-tracee` runs every operation
//!   family of `rseq_percpu` and of `#[rseq_critical]`, on `cpu_id` and on `mm_cid`;
//!   each boundary gets a preemption and a signal, each must land on the abort handler,
//!   and the tracee's exactly-once checks (at `rseq_tracee_checkpoint`, where the
//!   injector waits after each injection) must hold to the end. Prints the coverage.
//!   The same again with glibc's registration off (the crate registers its own area).
//! - `broken_section_is_caught`: the same on `rseq-abort-tracee-broken`, whose
//!   hand-written section commits before its last store, must report the broken invariant
//!   and name the injection that broke it.
#![cfg(target_arch = "x86_64")]

use std::path::Path;
use std::time::Duration;

use rseq_link_check::{inject, sections_of, InjectOptions, InjectReport, Injection, Outcome};

const TRACEE: &str = env!("CARGO_BIN_EXE_rseq-abort-tracee");
const BROKEN: &str = env!("CARGO_BIN_EXE_rseq-abort-tracee-broken");

/// The function the tracees call after each checked operation (`#[no_mangle]`).
const CHECKPOINT: &str = "rseq_tracee_checkpoint";

/// glibc's registration turned off: the crate registers its own area.
const OWN_REGISTRATION: (&str, &str) = ("GLIBC_TUNABLES", "glibc.pthread.rseq=0");

/// The tracees' protocol: `SIGUSR1` is counted, `SIGUSR2` ends the loop; the program's
/// output is kept for the checks.
fn options(vars: &[(&str, &str)]) -> InjectOptions {
    let mut opts = InjectOptions::default();
    opts.signal = libc::SIGUSR1;
    opts.checkpoint = Some(CHECKPOINT.to_string());
    opts.when_done = Some(libc::SIGUSR2);
    opts.time_budget = Some(Duration::from_secs(120));
    opts.capture_output = true;
    opts.env = vars.iter().map(|&(k, v)| (k.into(), v.into())).collect();
    opts
}

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

fn text(report: &InjectReport) -> String {
    let mut out = Vec::new();
    rseq_link_check::emit(
        report,
        rseq_link_check::Format::Human,
        &Default::default(),
        &mut out,
    )
    .unwrap();
    String::from_utf8_lossy(&out).into_owned()
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

    let coverage = inject(Path::new(TRACEE), &[], &options(vars)).expect("running the tracee");
    let out = coverage.stdout.clone().unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
    };
    let (rounds, signals) = (field("rounds=").unwrap_or(0), field("signals="));
    println!("{}", text(&coverage));
    println!(
        "abort injection {vars:?}: {} sections, {} (section, boundary) points; tracee ran {rounds} rounds and handled {signals:?} signals",
        coverage.sections.len(),
        coverage.points(),
    );
    assert!(
        coverage.exit.success() && coverage.failure.is_none(),
        "{}\n{out}{}",
        text(&coverage),
        coverage.stderr.as_deref().unwrap_or_default()
    );
    assert_eq!(coverage.sections.len(), sections.len());
    assert_eq!(
        coverage.points(),
        sections.iter().map(|s| s.boundaries.len()).sum::<usize>()
    );
    for kind in Injection::ALL {
        let n = coverage.covered(kind);
        assert_eq!(
            n,
            coverage.points(),
            "{kind:?}: {n} of {} points",
            coverage.points()
        );
    }
    assert_eq!(
        coverage.exit_status(),
        rseq_link_check::ExitStatus::Clean,
        "{}",
        text(&coverage)
    );
    assert_eq!(coverage.signals_injected, coverage.points() as u64);
    assert_eq!(signals, Some(coverage.points() as u64), "{out}");
    // Each of the 2 × points injections was followed by a checkpoint; a round has two.
    assert!(rounds >= coverage.points() as u64, "{out}");
    out
}

#[test]
fn broken_section_is_caught() {
    let sections = sections_of(Path::new(BROKEN)).expect("reading the broken tracee");
    assert_eq!(sections.len(), 1, "{sections:?}");
    let report = inject(Path::new(BROKEN), &[], &options(&[])).expect("running the tracee");
    let text = text(&report);
    let output = format!(
        "{}{}",
        report.stdout.as_deref().unwrap_or_default(),
        report.stderr.as_deref().unwrap_or_default()
    );
    println!("{text}{output}");
    assert!(!report.exit.success(), "the broken section passed: {text}");
    assert!(report.failure.is_none(), "{text}");
    assert!(output.contains("INVARIANT BROKEN"), "{output}");
    assert_eq!(report.exit_status(), rseq_link_check::ExitStatus::Findings);
    // The injection that broke it is the one between the early commit and the store after
    // it: the last boundary of the section.
    let s = &sections[0];
    let last = *s.boundaries.last().unwrap();
    let at = report.last_injection.as_ref().expect("no injection point");
    assert_eq!((at.start_ip, at.boundary), (s.start, last), "{text}");
    assert_eq!(at.kind, Injection::Preempt, "{text}");
    assert!(
        text.contains("after the last injection: preempt injection at"),
        "{text}"
    );
}
