use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize) -> Result<(), ()> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    commit(slot, other);
    Ok(())
}

fn main() {}
