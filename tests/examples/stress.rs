//! The long stress run: cycles through every param_test type with `cpu_id` and `mm_cid`
//! indexing (see `rseq_tests::stress`) until the requested time is up, checking each case's
//! exact invariant, and reports operations, aborts and migrations.
//!
//! ```text
//! cargo run --release -p rseq-tests --example stress -- --seconds 1800 [--case-seconds 10]
//! ```
//!
//! Exits with status 1 at the first broken invariant, 2 on bad arguments.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rseq_tests::stress::{run, Config, Indexing, Kind, Outcome};

const USAGE: &str = "usage: stress [--seconds N] [--case-seconds M] [--threads-per-cpu T]";

fn parse_args() -> Result<(u64, u64, usize), String> {
    let (mut seconds, mut case_seconds, mut threads) = (60u64, 10u64, 6usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .and_then(|v| v.parse::<u64>().map_err(|e| format!("{name} {v}: {e}")))
        };
        match a.as_str() {
            "--seconds" => seconds = value("--seconds")?,
            "--case-seconds" => case_seconds = value("--case-seconds")?.max(1),
            "--threads-per-cpu" => threads = value("--threads-per-cpu")?.max(1) as usize,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok((seconds, case_seconds, threads))
}

fn main() -> ExitCode {
    let (seconds, case_seconds, threads_per_cpu) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut total = Outcome::default();
    let mut cases = 0u64;
    let mut seed = 1u64;
    'run: loop {
        for kind in Kind::PARAM_TEST {
            for indexing in Indexing::ALL {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break 'run;
                }
                let cfg = Config {
                    duration: left.min(Duration::from_secs(case_seconds)),
                    threads_per_cpu,
                    seed,
                    ..Config::default()
                };
                seed += 1;
                match run(kind, indexing, &cfg) {
                    Ok(out) => {
                        println!(
                            "[{:>6.0}s] {} / {}: {out}",
                            start.elapsed().as_secs_f64(),
                            kind.name(),
                            indexing.name()
                        );
                        total.add(&out);
                        cases += 1;
                    }
                    Err(v) => {
                        eprintln!("FAILED after {:.0}s: {v}", start.elapsed().as_secs_f64());
                        println!("before the failure: {cases} cases, {total}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
    }
    println!(
        "PASSED: {cases} cases in {:.0}s, {total}; nothing lost, nothing duplicated",
        start.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
