use rseq_macros::rseq_critical;

#[rseq_critical]
const unsafe fn f(counters: *mut usize, n: usize) -> Result<(), rseq_abi::thread::Unavailable> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    commit_add(slot, n);
    Ok(())
}

fn main() {}
