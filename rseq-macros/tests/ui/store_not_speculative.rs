use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(tail: *mut usize, slot: *mut usize, item: usize, next: usize) -> Result<(), ()> {
    let cpu = cpu_id();
    let t = load(tail);
    store(slot, item);
    commit(tail, next);
    Ok(())
}

fn main() {}
