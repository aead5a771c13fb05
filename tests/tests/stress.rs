//! The CI-sized stress run of the per-CPU building blocks: every param_test type with
//! `cpu_id` and `mm_cid` indexing, six threads per CPU, injected delays, `sched_yield`,
//! sleeps, signals and forced migrations (see `rseq_tests::stress`). Each case runs for
//! `RSEQ_STRESS_SECONDS` seconds (default 2) and must keep its exact invariant; the run must
//! also have been disturbed for real (sections aborted, threads migrated, signals handled).
//!
//! The long run is `cargo run --release -p rseq-tests --example stress -- --seconds N`.

use std::time::Duration;

use rseq_tests::stress::{run, Config, Indexing, Kind, Outcome};

fn config() -> Config {
    let seconds: f64 = std::env::var("RSEQ_STRESS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    Config {
        duration: Duration::from_secs_f64(seconds),
        ..Config::default()
    }
}

fn case(kind: Kind) {
    let cfg = config();
    for indexing in Indexing::ALL {
        let out: Outcome = run(kind, indexing, &cfg).unwrap_or_else(|v| panic!("{v}"));
        println!("{} / {}: {out}", kind.name(), indexing.name());
        assert!(out.ops > 0, "no operation completed");
        assert_eq!(out.fallbacks, 0, "rseq is available: no fallback expected");
        assert!(
            out.aborts > 0,
            "no section was aborted: the run was not disturbed"
        );
        assert!(out.signals > 0, "no signal was handled");
        assert!(out.affinity_changes > 0, "no thread was moved");
        assert!(out.migrations > 0, "no thread changed CPU");
        if kind == Kind::Membarrier {
            assert!(out.fences > 0, "the manager issued no fence");
        }
    }
}

#[test]
fn spinlock() {
    case(Kind::SpinLock);
}

#[test]
fn list() {
    case(Kind::List);
}

#[test]
fn buffer() {
    case(Kind::Buffer);
}

#[test]
fn memcpy_buffer() {
    case(Kind::MemcpyBuffer);
}

#[test]
fn counter() {
    case(Kind::Counter);
}

#[test]
fn membarrier() {
    case(Kind::Membarrier);
}

/// The checks catch a counter incremented without a critical section: with six threads
/// per CPU, preemptions, signals and migrations between its load and store, increments are
/// lost within the run.
#[test]
fn checker_catches_unprotected_counter() {
    let cfg = config();
    for indexing in Indexing::ALL {
        let err = run(Kind::UnprotectedCounter, indexing, &cfg)
            .expect_err("an unprotected per-CPU counter must lose increments");
        println!("{err}");
        assert!(err.0.contains("increments"), "{err}");
    }
}
