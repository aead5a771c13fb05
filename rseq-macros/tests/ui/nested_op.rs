use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize, n: usize) -> Result<(), ()> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    let x = load(slot) + 1;
    if load(slot) == n {
        return Ok(());
    }
    unsafe {
        commit_add(slot, x);
    }
    Ok(())
}

fn main() {}
