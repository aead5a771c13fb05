use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(slot: u32, n: usize) -> Result<(), rseq_abi::thread::Unavailable> {
    let cpu = cpu_id();
    let _ = cpu;
    commit_add(slot, n);
    Ok(())
}

fn main() {
    let _ = unsafe { f(0, 1) };
}
