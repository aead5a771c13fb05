use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize, n: usize) -> Result<(), ()> {
    let cpu = cpu_id();
    if n == 0 {
        break;
    }
    for _ in 0..2 {
        continue;
    }
    let slot = counters.wrapping_add(cpu);
    commit_add(slot, n);
    Ok(())
}

fn main() {}
