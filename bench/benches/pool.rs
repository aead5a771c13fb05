//! Per-CPU memory pools (`rseq_percpu::pool`) against boxed arrays of padded slots:
//!
//! - allocation + free of one per-CPU `u64` (a pool item, zeroed: nothing written) against
//!   a `Box<[CachePadded<AtomicU64>]>` of one slot per CPU, for 2, 64 and 256 CPUs (the
//!   pool's `max_cpus` and the box's length simulate the CPU count);
//! - the increment of a `PoolCounter` against a `PerCpuCounter` (one thread);
//! - memory of 10,000 per-object counters for 2, 64 and 256 CPUs: resident bytes of the
//!   pool (from `/proc/self/smaps`) after allocation, after one increment of every counter
//!   on one CPU, and after the same on every CPU this machine has; and the growth of the
//!   process's resident set for the boxed arrays.
//!
//! The memory table is printed and saved as `pool-memory.md` next to criterion's output.

use criterion::{BenchmarkId, Criterion};
use rseq_bench::results::save;
use rseq_percpu::{CachePadded, CpuId, PerCpuCounter, PerCpuPool, PoolCounter, PoolOptions};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The simulated CPU counts.
const CPUS: [usize; 3] = [2, 64, 256];
/// Per-CPU bytes of the memory table's pools: room for 16,384 counters.
const STRIDE: usize = 1 << STRIDE_SHIFT;
/// `log2(STRIDE)`, a parameter of the counters' type.
const STRIDE_SHIFT: u32 = 17;
/// Per-object counters in the memory table.
const OBJECTS: usize = 10_000;

fn padded_slots(cpus: usize) -> Box<[CachePadded<AtomicU64>]> {
    (0..cpus)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect()
}

fn alloc_free(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool-alloc-free");
    for cpus in CPUS {
        let pool = PerCpuPool::new(PoolOptions::for_type::<u64>().max_cpus(cpus)).expect("pool");
        // Keep some items live so that allocation is not always the same item's reuse.
        let _live: Vec<_> = (0..64)
            .map(|_| PoolCounter::new(&pool).expect("counter"))
            .collect();
        group.bench_function(BenchmarkId::new("pool", cpus), |b| {
            b.iter(|| black_box(PoolCounter::new(&pool).expect("counter")))
        });
        group.bench_function(BenchmarkId::new("box-padded", cpus), |b| {
            b.iter(|| black_box(padded_slots(cpus)))
        });
    }
    group.finish();
}

fn increment(c: &mut Criterion) {
    rseq_testkit::pin_current_thread(&[rseq_abi::cpu::current_cpu() as usize]);
    let pool = PerCpuPool::new(PoolOptions::for_type::<u64>()).expect("pool");
    let pooled = PoolCounter::new(&pool).expect("counter");
    let padded = PerCpuCounter::new();
    let mut group = c.benchmark_group("pool-increment");
    group.bench_function("pool-counter", |b| b.iter(|| black_box(&pooled).add(1)));
    group.bench_function("percpu-counter", |b| b.iter(|| black_box(&padded).add(1)));
    group.finish();
}

/// Resident set of the process in bytes, from `/proc/self/statm`.
fn process_rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// The memory table; `real_cpus` are the CPUs the process may run on.
fn memory(real_cpus: &[usize]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| CPUs | boxed padded slots (allocated) | boxed: RSS growth | pool: reserved | pool: after allocation | pool: +1 on one CPU | pool: +1 on each of {} CPUs |",
        real_cpus.len()
    );
    let _ = writeln!(md, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for cpus in CPUS {
        rseq_testkit::pin_current_thread(real_cpus);
        let before = process_rss();
        let boxes: Vec<_> = (0..OBJECTS).map(|_| padded_slots(cpus)).collect();
        let boxed_growth = process_rss().saturating_sub(before);
        drop(boxes);

        let pool = PerCpuPool::new(PoolOptions::for_type::<u64>().stride(STRIDE).max_cpus(cpus))
            .expect("pool");
        let counters: Vec<_> = (0..OBJECTS)
            .map(|_| PoolCounter::<CpuId, STRIDE_SHIFT>::with_stride(&pool).expect("counter"))
            .collect();
        let allocated = pool.resident_bytes().unwrap_or(0);
        rseq_testkit::pin_current_thread(&real_cpus[..1]);
        counters.iter().for_each(|c| {
            c.add(1);
        });
        let one_cpu = pool.resident_bytes().unwrap_or(0);
        for &cpu in real_cpus {
            rseq_testkit::pin_current_thread(&[cpu]);
            counters.iter().for_each(|c| {
                c.add(1);
            });
        }
        let every_cpu = pool.resident_bytes().unwrap_or(0);
        assert!(counters
            .iter()
            .all(|c| c.sum() == 1 + real_cpus.len() as u64));
        let _ = writeln!(
            md,
            "| {cpus} | {} | {} | {} | {} | {} | {} |",
            kib(OBJECTS * cpus * core::mem::size_of::<CachePadded<AtomicU64>>()),
            kib(boxed_growth),
            kib(pool.reserved().1),
            kib(allocated),
            kib(one_cpu),
            kib(every_cpu),
        );
    }
    md
}

fn main() {
    // Before `increment` pins the thread to one CPU.
    let real_cpus = rseq_testkit::allowed_cpus();
    let mut c = Criterion::default()
        .output_directory(&rseq_bench::paths::criterion_dir())
        .warm_up_time(Duration::from_millis(250))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(12)
        .configure_from_args();
    alloc_free(&mut c);
    increment(&mut c);
    c.final_summary();
    let md = memory(&real_cpus);
    println!("\n{OBJECTS} per-object counters:\n\n{md}");
    save("pool-memory.md", &md);
}
