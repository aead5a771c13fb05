use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize, n: usize) -> Result<(), ()> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    let x = load(slot);
    if x < 10 {
        return Ok(());
    }
    commit_add(slot, n);
    Ok(())
}

fn main() {}
