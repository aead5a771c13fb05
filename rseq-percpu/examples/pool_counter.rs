//! Counts with pool counters from four threads, and prints what the pool's memory cost.
//!
//! `bump` and `bump_percpu` are kept out of line so that the fast paths of
//! `PoolCounter::add` and `PerCpuCounter::add` can be compared in the disassembly of a
//! release build: `rseq-link-check asm target/release/examples/pool_counter`, or
//! `objdump -d --no-show-raw-insn target/release/examples/pool_counter | grep -A24 '<pool_counter::bump>:'`.

use rseq_percpu::{PerCpuCounter, PerCpuPool, PoolCounter, PoolOptions};

/// One increment of the pool counter's calling-CPU word.
#[inline(never)]
fn bump(counter: &PoolCounter) {
    counter.add(1);
}

/// One increment of a padded-slot counter, for comparison.
#[inline(never)]
fn bump_percpu(counter: &PerCpuCounter) {
    counter.add(1);
}

fn main() {
    let pool = PerCpuPool::new(PoolOptions::for_type::<u64>()).expect("pool");
    let counters: Vec<PoolCounter> = (0..1000)
        .map(|_| PoolCounter::new(&pool).expect("counter"))
        .collect();
    let padded = PerCpuCounter::new();
    let rounds = 1000;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..rounds {
                    counters.iter().for_each(bump);
                    bump_percpu(&padded);
                }
            });
        }
    });
    assert!(counters.iter().all(|c| c.sum() == 4 * rounds));
    assert_eq!(padded.sum(), 4 * rounds);
    println!(
        "{} counters x {} CPUs: {} bytes resident in the pool, {} aborted sections",
        counters.len(),
        pool.cpus(),
        pool.resident_bytes().unwrap_or(0),
        rseq_percpu::aborted_sections()
    );
}
