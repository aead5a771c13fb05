//! CPU readers against the real kernel: pinned to each allowed CPU in turn, the area's
//! `cpu_id` and `cpu_id_start` equal `sched_getcpu()`, in both registration modes.

use rseq_abi::thread;
use rseq_testkit::child::{in_child, Env};

fn pin_everywhere() {
    assert_eq!(thread::prepare_current_thread(), Ok(()));
    let cpus = rseq_testkit::allowed_cpus();
    assert!(!cpus.is_empty());
    for &cpu in &cpus {
        rseq_testkit::pin_current_thread(&[cpu]);
        assert!(cpu < rseq_abi::cpu::possible_cpus());
        assert_eq!(rseq_testkit::sched_getcpu(), cpu as i32);
        assert_eq!(rseq_abi::cpu::cpu_id(), cpu as i32, "cpu_id on CPU {cpu}");
        assert_eq!(
            rseq_abi::cpu::cpu_id_start(),
            cpu as u32,
            "cpu_id_start on CPU {cpu}"
        );
        assert_eq!(rseq_abi::cpu::current_cpu(), cpu as u32);
        // One NUMA node on this machine; mm_cid is a compact index below possible_cpus.
        assert_eq!(rseq_abi::cpu::node_id(), Some(0));
        let cid = rseq_abi::cpu::mm_cid().expect("feature size 28 covers mm_cid");
        assert!((cid as usize) < rseq_abi::cpu::possible_cpus());
    }
}

#[test]
fn pinned_glibc_owned() {
    in_child("pinned_glibc_owned", Env::GlibcDefault, pin_everywhere);
}

#[test]
fn pinned_own_registration() {
    in_child("pinned_own_registration", Env::NoGlibcRseq, pin_everywhere);
}
