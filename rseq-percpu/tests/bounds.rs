//! Sizes and indices at the edges: ring capacities at 0, 1, the documented maximum and
//! past it (checked arithmetic, typed errors, a documented panic and never a wild
//! write), and a CPU number at or above the slot count (the fallback path, never a slot
//! past the end).

use rseq_percpu::{
    CapacityError, CpuId, PerCpuCopyRing, PerCpuCounter, PerCpuRing, PerCpuSpinLock, PerCpuStack,
    Slot, StackLink, StackNode,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

/// The message of the panic `f` must raise.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn ring_capacities_at_the_edges() {
    for (requested, capacity) in [(0, 1), (1, 1), (3, 4)] {
        let ring = PerCpuRing::new(requested);
        assert_eq!(ring.capacity(), capacity);
        assert!(ring.push(7).is_ok());
        assert_eq!(ring.pop().map(|(item, _)| item), Some(7));
        assert_eq!(PerCpuRing::try_new(requested).unwrap().capacity(), capacity);
    }
    let max = PerCpuRing::<CpuId>::MAX_CAPACITY;
    assert_eq!(max, 1 << (usize::BITS - 5));
    // The maximum is accepted by the arithmetic; its 2^62 bytes of cells per CPU are not
    // available here, which is a typed error too.
    match PerCpuRing::try_new(max) {
        Err(CapacityError::Alloc { capacity, bytes }) => {
            assert_eq!((capacity, bytes), (max, max * 8));
        }
        other => panic!("expected an allocation failure, got {other:?}"),
    }
    for requested in [max + 1, usize::MAX / 2 + 2, usize::MAX] {
        assert_eq!(
            PerCpuRing::try_new(requested).unwrap_err(),
            CapacityError::TooLarge { requested, max }
        );
        let message = panic_message(|| {
            let ring = PerCpuRing::new(requested);
            let _ = ring.push(1);
        });
        assert!(message.contains("above the maximum"), "{message}");
    }
}

#[test]
fn copy_ring_capacities_at_the_edges() {
    for (requested, capacity) in [(0, 1), (1, 1), (5, 8)] {
        let ring = PerCpuCopyRing::<[u8; 24]>::new(requested);
        assert_eq!(ring.capacity(), capacity);
        assert!(ring.push([9; 24]).is_ok());
        assert_eq!(ring.pop().map(|(item, _)| item), Some([9; 24]));
        let ring = PerCpuCopyRing::<[u8; 24]>::try_new(requested).unwrap();
        assert_eq!(ring.capacity(), capacity);
    }
    let max = PerCpuCopyRing::<[u8; 24]>::MAX_CAPACITY;
    assert_eq!(max, 1 << (usize::BITS - 6)); // 24 × 2^58 ≤ isize::MAX < 24 × 2^59
    match PerCpuCopyRing::<[u8; 24]>::try_new(max) {
        Err(CapacityError::Alloc { capacity, bytes }) => {
            assert_eq!((capacity, bytes), (max, max * 24));
        }
        other => panic!("expected an allocation failure, got {other:?}"),
    }
    // The case of the audit: `usize::MAX` used to round to 0 in a release build, leaving
    // a zero-sized cell array that `push` wrote past.
    let max = PerCpuCopyRing::<u64>::MAX_CAPACITY;
    for requested in [max + 1, usize::MAX / 2 + 2, usize::MAX] {
        assert_eq!(
            PerCpuCopyRing::<u64>::try_new(requested).unwrap_err(),
            CapacityError::TooLarge { requested, max }
        );
        let message = panic_message(|| {
            let ring = PerCpuCopyRing::<u64>::new(requested);
            let _ = ring.push(1);
        });
        assert!(message.contains("above the maximum"), "{message}");
    }
    // Zero-sized items: the largest power of two is a valid capacity (no bytes at all).
    let units = PerCpuCopyRing::<()>::new(usize::MAX / 2 + 1);
    assert_eq!(units.capacity(), usize::MAX / 2 + 1);
    assert!(units.push(()).is_ok());
    assert!(PerCpuCopyRing::<()>::try_new(usize::MAX).is_err());
}

struct Node {
    link: StackLink,
}

// SAFETY: `link` is the `StackLink` field of `Node`, used by one stack at a time.
unsafe impl StackNode for Node {
    const LINK_OFFSET: usize = std::mem::offset_of!(Node, link);
}

/// Every structure built with one slot, used from a thread pinned to a CPU above 0: the
/// index is past the last slot, so every operation takes the shared slot.
#[test]
fn an_index_past_the_last_slot_takes_the_fallback_path() {
    let Some(&cpu) = rseq_testkit::allowed_cpus().iter().find(|&&cpu| cpu > 0) else {
        eprintln!("skipped: this process may run on CPU 0 only");
        return;
    };
    std::thread::spawn(move || {
        rseq_testkit::pin_current_thread(&[cpu]);
        assert!(rseq_abi::thread::prepare_current_thread().is_ok());
        assert_eq!(rseq_abi::cpu::current_cpu() as usize, cpu);

        let counter = PerCpuCounter::__with_slots(CpuId, 1);
        assert_eq!(counter.add(3), Slot::Shared);
        assert_eq!(counter.sum(), 3);
        assert_eq!(counter.get(Slot::PerCpu(0)), Some(0));

        let lock = PerCpuSpinLock::__with_slots(CpuId, 1, |_| 0u32);
        {
            let mut guard = lock.lock();
            assert_eq!(guard.slot(), Slot::Shared);
            *guard += 1;
        }
        assert_eq!(
            lock.try_lock().map(|guard| guard.slot()),
            Some(Slot::Shared)
        );

        let stack = PerCpuStack::<Node>::__with_slots(CpuId, 1);
        let node = Node {
            link: StackLink::new(),
        };
        // SAFETY: `node` outlives its time in the stack and is not moved meanwhile.
        assert_eq!(unsafe { stack.push(NonNull::from(&node)) }, Slot::Shared);
        let (popped, slot) = stack.pop().unwrap();
        assert_eq!(
            (popped.as_ptr().cast_const(), slot),
            (&node as *const Node, Slot::Shared)
        );

        let ring = PerCpuRing::__try_with_slots(CpuId, 1, 2).unwrap();
        assert_eq!(ring.push(5), Ok(Slot::Shared));
        assert_eq!(ring.pop(), Some((5, Slot::Shared)));
        assert_eq!(ring.len_of(Slot::PerCpu(0)), 0);

        let copies = PerCpuCopyRing::<[u16; 3]>::__try_with_slots(CpuId, 1, 2).unwrap();
        assert_eq!(copies.push([1, 2, 3]), Ok(Slot::Shared));
        assert_eq!(copies.pop(), Some(([1, 2, 3], Slot::Shared)));
        assert_eq!(copies.len_of(Slot::PerCpu(0)), 0);
    })
    .join()
    .unwrap();
}
