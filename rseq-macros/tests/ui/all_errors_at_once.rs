use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize, #[speculative] out: *mut usize) -> Result<(), ()> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    let v = load(slot);
    store(counters, v);
    for _ in 0..2 {}
    commit(slot, v);
    commit(out, v);
    Ok(())
}

fn main() {}
