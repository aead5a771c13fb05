//! The per-CPU building blocks of `rseq-abi`, as linked into this test binary, pass the
//! critical-section verifier of `rseq-link-check`: every section of every structure, bound
//! to `cpu_id` and to `mm_cid`, has a well-formed descriptor listed in
//! `__rseq_cs_ptr_array`, its signature before the abort handler, and its commit last.

use rseq_link_check::__fuzz::render::render_text;
use rseq_link_check::verify_file;
use rseq_percpu::{
    CpuId, IndexKind, MmCid, PerCpuCopyRing, PerCpuCounter, PerCpuRing, PerCpuSpinLock,
    PerCpuStack, Slot, StackLink, StackNode,
};
use std::ptr::NonNull;

struct Node {
    link: StackLink,
}

// SAFETY: `link` is the `StackLink` field of `Node`, used by one stack at a time.
unsafe impl StackNode for Node {
    const LINK_OFFSET: usize = std::mem::offset_of!(Node, link);
}

/// Runs every operation once, so that every section is part of this binary.
fn exercise<I: IndexKind + Copy>(index: I) {
    let counter = PerCpuCounter::with_index(index);
    counter.add(2);
    assert_eq!(counter.sum(), 2);

    let lock = PerCpuSpinLock::with_index(index, |_| 0u32);
    *lock.lock() += 1;

    let node = Node {
        link: StackLink::new(),
    };
    let mut stack = PerCpuStack::<Node, I>::with_index(index);
    // SAFETY: `node` outlives the stack's use of it and is pushed once.
    unsafe { stack.push(NonNull::from(&node)) };
    let popped = stack.pop().map(|(n, _)| n).or_else(|| {
        // Migrated between push and pop: take it from wherever it went.
        (0..stack.slots())
            .map(Slot::PerCpu)
            .chain([Slot::Shared])
            .find_map(|slot| stack.pop_from(slot))
    });
    assert_eq!(popped, Some(NonNull::from(&node)));

    let ring = PerCpuRing::with_index(index, 4);
    ring.push(7).unwrap();
    let copies = PerCpuCopyRing::<[u64; 3], I>::with_index(index, 4);
    copies.push([1, 2, 3]).unwrap();
    // Pops may miss after a migration; the sections are in the binary either way.
    let _ = ring.pop();
    let _ = copies.pop();
}

/// The section functions of `rseq_percpu`: module and function name.
const SECTIONS: &[&str] = &[
    "counter::add_cpu_id",
    "counter::add_mm_cid",
    "spinlock::try_lock_cpu_id",
    "spinlock::try_lock_mm_cid",
    "stack::push_cpu_id",
    "stack::push_mm_cid",
    "stack::pop_cpu_id",
    "stack::pop_mm_cid",
    "ring::push_cpu_id",
    "ring::push_mm_cid",
    "ring::pop_cpu_id",
    "ring::pop_mm_cid",
    "ring_copy::push_cpu_id",
    "ring_copy::push_mm_cid",
    "ring_copy::pop_cpu_id",
    "ring_copy::pop_mm_cid",
];

#[test]
fn every_percpu_section_in_this_binary_verifies_clean() {
    exercise(CpuId);
    exercise(MmCid);
    let exe = std::env::current_exe().unwrap();
    let report = verify_file(&exe).unwrap();
    let text = render_text(&report);
    assert!(report.is_clean(), "{text}");
    let ours: Vec<_> = report
        .sections
        .iter()
        .filter(|s| {
            s.function
                .as_deref()
                .is_some_and(|f| f.contains("rseq_percpu::"))
        })
        .collect();
    for s in &ours {
        assert!(s.descriptor.in_ptr_array, "{text}");
    }
    for name in SECTIONS {
        let path = format!("rseq_percpu::{name}");
        assert!(
            ours.iter()
                .any(|s| s.function.as_deref().is_some_and(|f| f.contains(&path))),
            "no verified section in {path}:\n{text}"
        );
    }
    // The sections with early exits declare them in `__rseq_exit_point_array`.
    assert!(ours.iter().any(|s| !s.exits.is_empty()), "{text}");
    println!("{} per-CPU sections verified clean", ours.len());
}
