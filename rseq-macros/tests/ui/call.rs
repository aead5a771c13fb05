use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize, n: usize) -> Result<(), ()> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    let v = load(slot);
    log_value(v);
    commit(slot, n);
    Ok(())
}

fn log_value(_: usize) {}

fn main() {}
