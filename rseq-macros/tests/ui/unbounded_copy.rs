use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(off: *mut usize, #[speculative] dst: *mut u8, src: *const u8, len: usize) -> Result<(), ()> {
    let cpu = cpu_id();
    let o = load(off);
    memcpy(dst, src, len);
    commit(off, len);
    Ok(())
}

fn main() {}
