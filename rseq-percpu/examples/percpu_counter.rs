//! Counts with a per-CPU counter from four threads and prints the per-slot values.
//!
//! `bump` is kept out of line so that the fast path of `PerCpuCounter::add` can be read
//! in the disassembly of a release build:
//! `objdump -d --no-show-raw-insn target/release/examples/percpu_counter | grep -A20 '<percpu_counter::bump>:'`.

use rseq_percpu::{PerCpuCounter, Slot};

/// One increment of the counter's calling-CPU word.
#[inline(never)]
fn bump(counter: &PerCpuCounter) {
    counter.add(1);
}

fn main() {
    let counter = PerCpuCounter::new();
    let per_thread = 1_000_000;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| (0..per_thread).for_each(|_| bump(&counter)));
        }
    });
    for i in 0..counter.slots() {
        println!("cpu {i}: {}", counter.get(Slot::PerCpu(i)).unwrap_or(0));
    }
    println!("shared: {}", counter.get(Slot::Shared).unwrap_or(0));
    println!(
        "sum: {} (expected {}), {} aborted sections",
        counter.sum(),
        4 * per_thread,
        rseq_percpu::aborted_sections()
    );
    assert_eq!(counter.sum(), 4 * per_thread);
}
