//! Each per-CPU operation uses the slot of the CPU it runs on (or of its concurrency id):
//! a thread pinned to one CPU at a time must see every operation report that CPU's slot,
//! and the value must land there.

use rseq_abi::thread;
use rseq_percpu::{
    MmCid, PerCpuCopyRing, PerCpuCounter, PerCpuRing, PerCpuSpinLock, PerCpuStack, Slot, StackLink,
    StackNode,
};
use std::ptr::NonNull;

struct Node {
    link: StackLink,
}

// SAFETY: `link` is the `StackLink` field of `Node`, used by one stack at a time.
unsafe impl StackNode for Node {
    const LINK_OFFSET: usize = std::mem::offset_of!(Node, link);
}

#[test]
fn cpu_id_operations_use_the_pinned_cpus_slot() {
    let counter = PerCpuCounter::new();
    let lock = PerCpuSpinLock::new_with(|_| 0u32);
    let mut stack = PerCpuStack::<Node>::new();
    let ring = PerCpuRing::new(4);
    let copies = PerCpuCopyRing::<[u32; 5]>::new(4);
    let nodes: Vec<Node> = (0..rseq_testkit::allowed_cpus().len())
        .map(|_| Node {
            link: StackLink::new(),
        })
        .collect();
    for (cpu, node) in rseq_testkit::allowed_cpus().into_iter().zip(&nodes) {
        std::thread::scope(|s| {
            s.spawn(|| {
                rseq_testkit::pin_current_thread(&[cpu]);
                let here = Slot::PerCpu(cpu);
                assert_eq!(counter.add(cpu as u64 + 1), here);
                assert_eq!(counter.get(here), Some(cpu as u64 + 1));
                {
                    let mut guard = lock.lock();
                    assert_eq!(guard.cpu(), Some(cpu));
                    *guard += 1;
                }
                // SAFETY: `node` outlives the stack's use and is pushed once.
                assert_eq!(unsafe { stack.push(NonNull::from(node)) }, here);
                assert_eq!(ring.push(cpu), Ok(here));
                assert_eq!(ring.len_of(here), 1);
                assert_eq!(copies.push([cpu as u32; 5]), Ok(here));
                assert_eq!(ring.pop(), Some((cpu, here)));
                assert_eq!(copies.pop(), Some(([cpu as u32; 5], here)));
            });
        });
        assert_eq!(stack.pop_from(Slot::PerCpu(cpu)), Some(NonNull::from(node)));
    }
    assert_eq!(counter.get(Slot::Shared), Some(0));
}

/// Runs `op` until the thread's concurrency id reads the same before and after it (it can
/// change when the thread is switched out); returns that id and what `op` returned.
fn with_stable_mm_cid<R>(mut op: impl FnMut() -> R) -> (usize, R) {
    for _ in 0..1000 {
        let before = rseq_abi::cpu::mm_cid().expect("the kernel fills mm_cid");
        let r = op();
        if rseq_abi::cpu::mm_cid() == Some(before) {
            return (before as usize, r);
        }
    }
    panic!("mm_cid never stayed put across one operation");
}

#[test]
fn mm_cid_operations_use_the_threads_concurrency_id() {
    let counter = PerCpuCounter::new_mm_cid();
    let ring = PerCpuRing::new_mm_cid(4);
    let lock = PerCpuSpinLock::<u32, MmCid>::new_mm_cid_with(|_| 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            rseq_testkit::pin_current_thread(&[*rseq_testkit::allowed_cpus().first().unwrap()]);
            assert_eq!(thread::prepare_current_thread(), Ok(()));
            let (cid, slot) = with_stable_mm_cid(|| counter.add(3));
            assert!(cid < counter.slots());
            assert_eq!(slot, Slot::PerCpu(cid));
            assert_eq!(counter.get(slot), Some(3));
            let (cid, pushed) = with_stable_mm_cid(|| ring.push(11));
            assert_eq!(pushed, Ok(Slot::PerCpu(cid)));
            assert_eq!(ring.len_of(Slot::PerCpu(cid)), 1);
            let (cid, locked) = with_stable_mm_cid(|| lock.lock().cpu());
            assert_eq!(locked, Some(cid));
        });
    });
}
