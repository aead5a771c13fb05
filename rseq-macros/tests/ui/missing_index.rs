use rseq_macros::rseq_critical;

#[rseq_critical]
unsafe fn f(counters: *mut usize, n: usize) -> Result<(), ()> {
    let slot = counters;
    commit_add(slot, n);
    Ok(())
}

fn main() {}
