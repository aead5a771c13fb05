use rseq_macros::rseq_critical;

// A reference is an address, never a value: committing `&n` would add the address of `n`.
#[rseq_critical]
unsafe fn f(counters: *mut usize, n: &usize) -> Result<(), rseq_abi::thread::Unavailable> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    commit_add(slot, n);
    Ok(())
}

fn main() {
    let mut c = [0usize; 4];
    let _ = unsafe { f(c.as_mut_ptr(), &1) };
}
