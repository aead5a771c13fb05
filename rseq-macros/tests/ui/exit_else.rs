use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize, n: usize) -> Result<bool, ()> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    let x = load(slot);
    if x == 0 {
        return Ok(false);
    } else {
        return Ok(true);
    }
    commit_add(slot, n);
    Ok(true)
}

fn main() {}
