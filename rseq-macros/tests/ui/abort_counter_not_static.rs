use rseq_macros::rseq_critical;
use std::sync::atomic::{AtomicU32, AtomicU64};

static SMALL: AtomicU32 = AtomicU32::new(0);

#[rseq_critical(abort_counter = SMALL)]
unsafe fn f(counters: *mut usize, n: usize) -> Result<(), rseq_abi::thread::Unavailable> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    commit_add(slot, n);
    Ok(())
}

#[rseq_critical(abort_counter = aborts)]
unsafe fn g(counters: *mut usize, n: usize, aborts: &AtomicU64) -> Result<(), rseq_abi::thread::Unavailable> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    commit_add(slot, n);
    Ok(())
}

fn main() {
    let mut c = [0usize; 4];
    let local = AtomicU64::new(0);
    let _ = unsafe { f(c.as_mut_ptr(), 1) };
    let _ = unsafe { g(c.as_mut_ptr(), 1, &local) };
}
