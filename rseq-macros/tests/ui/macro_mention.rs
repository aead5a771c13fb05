use rseq_macros::rseq_critical;
use std::sync::atomic::AtomicUsize;

#[rseq_critical]
unsafe fn f(counters: *mut usize, seen: &AtomicUsize, n: usize) -> Result<(), ()> {
    let cpu = cpu_id();
    // Methods and paths named like the language are ordinary Rust.
    seen.store(cpu, std::sync::atomic::Ordering::Relaxed);
    assert!(seen.load(std::sync::atomic::Ordering::Relaxed) == AtomicUsize::load(seen, std::sync::atomic::Ordering::Relaxed));
    let slot = counters.wrapping_add(cpu);
    println!("{}", load(slot));
    commit_add(slot, n);
    Ok(())
}

fn main() {}
