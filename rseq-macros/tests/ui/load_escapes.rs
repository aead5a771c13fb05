use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize) -> Result<usize, ()> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    let v = load(slot);
    commit(slot, 0);
    Ok(v)
}

fn main() {}
