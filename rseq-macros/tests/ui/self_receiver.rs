use rseq_macros::rseq_critical;

struct Counters(*mut usize);

impl Counters {
    #[rseq_critical]
    unsafe fn add(&self, n: usize) -> Result<(), rseq_abi::thread::Unavailable> {
        let cpu = cpu_id();
        let slot = self.0.wrapping_add(cpu);
        commit_add(slot, n);
        Ok(())
    }
}

fn main() {}
