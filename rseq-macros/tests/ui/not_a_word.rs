use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut u32, n: u32) -> Result<(), rseq_percpu::Unavailable> {
    let cpu = cpu_id();
    let slot = counters.wrapping_add(cpu);
    commit_add(slot, n);
    Ok(())
}

fn main() {
    let mut c = [0u32; 4];
    let _ = unsafe { f(c.as_mut_ptr(), 1) };
}
