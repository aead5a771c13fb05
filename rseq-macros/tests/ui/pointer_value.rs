use rseq_macros::rseq_critical;

// A pointer is an address: storing it as a value needs an explicit `as usize`.
#[rseq_critical]
unsafe fn f(heads: *mut usize, node: *mut usize) -> Result<(), rseq_abi::thread::Unavailable> {
    let cpu = cpu_id();
    let head = heads.wrapping_add(cpu);
    commit(head, node);
    Ok(())
}

fn main() {
    let mut c = [0usize; 4];
    let mut node = 0usize;
    let _ = unsafe { f(c.as_mut_ptr(), &mut node) };
}
