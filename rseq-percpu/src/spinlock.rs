//! [`PerCpuSpinLock`]: one spin lock (and one protected value) per CPU.
//!
//! # Algorithm
//!
//! Each slot holds a lock word (0 free, 1 held) and a value. `lock()` reads the CPU
//! number (or concurrency id) `i` and runs a critical section bound to `i` that loads the
//! word of slot `i`, leaves early if it is not 0 (held: the caller backs off and tries
//! again, possibly on another CPU), and otherwise commits the store of 1. This is
//! librseq's `rseq_load_cbne_store__ptr`, as in its `rseq_this_cpu_lock`. Between the
//! load and the commit no other thread can run on CPU `i` without the section being
//! aborted, so two threads can never both see 0 and both store 1, without any atomic
//! read-modify-write instruction. An acquire fence after the section pairs with the
//! release store of `unlock`, which may run on any CPU (the thread may have migrated while
//! holding the lock; only the holder writes a held word).
//!
//! Holding slot `i` does not pin the thread to CPU `i`: the lock protects the slot's value,
//! not the CPU. A thread that cannot use rseq locks the shared slot instead, with an
//! atomic compare-and-swap; per-CPU words are never taken that way, so both kinds of
//! thread can lock at once.
#![allow(unsafe_code)]

use super::attempt::{retry, Attempt};
use super::shared::{SharedGuard, SharedSlot};
use super::{CachePadded, CpuId, IndexKind, MmCid, PerCpu, Slot};
use crate::rseq_critical;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{fence, AtomicUsize, Ordering};
use crossbeam_utils::Backoff;

/// One per-CPU slot: the lock word first (the sections address it as the slot address).
#[repr(C)]
struct LockSlot<T> {
    word: AtomicUsize,
    value: UnsafeCell<T>,
}

/// Defines the try-lock section for one index kind.
macro_rules! try_lock_section {
    ($(#[$doc:meta])* $name:ident, $index:ident) => {
        $(#[$doc])*
        #[rseq_critical(on_abort = return Err(Attempt::Aborted))]
        unsafe fn $name(slot0: *mut u8, stride: usize, len: usize) -> Result<usize, Attempt> {
            let i = $index();
            // An index past the last slot (see `PerCpu`) takes the fallback path.
            if i >= len {
                return Err(Attempt::Fallback);
            }
            // The lock word is at offset 0 of each `CachePadded<LockSlot<T>>`.
            let word = slot0.wrapping_add(i * stride).cast::<usize>();
            let held = load(word);
            if held != 0 {
                return Err(Attempt::Busy);
            }
            commit(word, 1usize);
            Ok(i)
        }
    };
}

try_lock_section!(
    /// If `slots[cpu].word == 0`, commit `slots[cpu].word = 1`.
    try_lock_cpu_id,
    cpu_id
);
try_lock_section!(
    /// If `slots[mm_cid].word == 0`, commit `slots[mm_cid].word = 1`.
    try_lock_mm_cid,
    mm_cid
);

/// A spin lock and a `T` per CPU: [`lock`](PerCpuSpinLock::lock) takes the lock of the
/// calling CPU's slot with a critical section (no atomic read-modify-write) and returns a
/// guard that gives access to that slot's value and tells which slot it is.
///
/// ```
/// use rseq_percpu::{PerCpuSpinLock, Slot};
///
/// let mut lock = PerCpuSpinLock::new_with(|_| Vec::new());
/// std::thread::scope(|s| {
///     for t in 0..4 {
///         let lock = &lock;
///         s.spawn(move || {
///             for k in 0..100 {
///                 let mut guard = lock.lock();
///                 guard.push(t * 100 + k);
///             }
///         });
///     }
/// });
/// // While a guard is alive, the same slot cannot be taken again.
/// let guard = lock.lock();
/// assert!(guard.cpu().is_some() || guard.slot() == Slot::Shared);
/// drop(guard);
/// assert!(lock.try_lock().is_some());
/// let mut all: Vec<i32> = lock.iter_mut().flat_map(|(_, v)| v.drain(..)).collect();
/// all.sort();
/// assert_eq!(all, (0..400).collect::<Vec<_>>());
/// ```
pub struct PerCpuSpinLock<T, I: IndexKind = CpuId> {
    slots: PerCpu<LockSlot<T>>,
    shared: SharedSlot<T>,
    index: PhantomData<I>,
}

// SAFETY: the lock words give one thread at a time access to each `T` (the per-CPU words
// through critical sections, the shared one through its atomic lock), and `T: Send` lets
// that access move between threads; `std::sync::Mutex<T>` has the same bound.
unsafe impl<T: Send, I: IndexKind> Sync for PerCpuSpinLock<T, I> {}
// SAFETY: owning the lock is owning the `T`s.
unsafe impl<T: Send, I: IndexKind> Send for PerCpuSpinLock<T, I> {}

impl<T> PerCpuSpinLock<T, CpuId> {
    /// A lock per CPU number; slot `i` holds `init(Slot::PerCpu(i))`, the shared slot
    /// `init(Slot::Shared)`.
    pub fn new_with(init: impl FnMut(Slot) -> T) -> Self {
        Self::with_index(CpuId, init)
    }
}

impl<T> PerCpuSpinLock<T, MmCid> {
    /// A lock per concurrency id (`mm_cid`).
    pub fn new_mm_cid_with(init: impl FnMut(Slot) -> T) -> Self {
        Self::with_index(MmCid, init)
    }
}

impl<T: Default> Default for PerCpuSpinLock<T, CpuId> {
    fn default() -> Self {
        Self::new_with(|_| T::default())
    }
}

impl<T, I: IndexKind> PerCpuSpinLock<T, I> {
    /// A lock per index of kind `I`, each slot initialised by `init`.
    pub fn with_index(index: I, init: impl FnMut(Slot) -> T) -> Self {
        Self::__with_slots(index, super::storage::slot_count(), init)
    }

    /// A lock with `slots` per-CPU slots (at least 1) instead of one per possible CPU:
    /// indices past the last slot take the shared slot. For tests only.
    #[doc(hidden)]
    pub fn __with_slots(_index: I, slots: usize, mut init: impl FnMut(Slot) -> T) -> Self {
        PerCpuSpinLock {
            slots: PerCpu::with_len(slots, |i| LockSlot {
                word: AtomicUsize::new(0),
                value: UnsafeCell::new(init(Slot::PerCpu(i))),
            }),
            shared: SharedSlot::new(init(Slot::Shared)),
            index: PhantomData,
        }
    }

    /// Takes the lock of the calling CPU's slot (of the shared slot when rseq is
    /// unavailable on this thread), spinning and then yielding while it is held.
    #[inline]
    pub fn lock(&self) -> PerCpuSpinLockGuard<'_, T> {
        // One attempt inline (the fast path: no back-off state, the guard in registers);
        // waiting, retrying and the fallback out of line.
        match self.attempt() {
            Ok(guard) => guard,
            Err(first) => self.lock_slow(first),
        }
    }

    /// After a first attempt did not take the lock: back off while it is held, retry
    /// while the section aborts, or fall back to the shared slot.
    #[cold]
    #[inline(never)]
    fn lock_slow(&self, first: Attempt) -> PerCpuSpinLockGuard<'_, T> {
        let backoff = Backoff::new();
        let mut first = Some(first);
        // The first attempt's outcome is replayed into the shared loop, then it retries.
        let attempt = retry(
            || first.take().map_or_else(|| self.attempt(), Err),
            |outcome| match outcome {
                Attempt::Busy => {
                    backoff.snooze();
                    true
                }
                Attempt::Fallback => false,
                _ => true,
            },
        );
        match attempt {
            Ok(guard) => guard,
            // Only the fallback ends the loop without taking the lock.
            Err(_) => self.lock_shared(),
        }
    }

    /// Takes the lock of the calling CPU's slot (of the shared slot when rseq is
    /// unavailable on this thread) if it is free; `None` if it is held.
    pub fn try_lock(&self) -> Option<PerCpuSpinLockGuard<'_, T>> {
        match retry(|| self.attempt(), |_| false) {
            Ok(guard) => Some(guard),
            Err(Attempt::Fallback) => self.shared.try_lock().map(|guard| PerCpuSpinLockGuard {
                inner: GuardInner::Shared(guard),
            }),
            Err(_busy) => None,
        }
    }

    /// One attempt at the section of this thread's index.
    #[inline(always)]
    fn attempt(&self) -> Result<PerCpuSpinLockGuard<'_, T>, Attempt> {
        let slot0 = self.slots.slot_ptr(0).cast_mut().cast::<u8>();
        let stride = core::mem::size_of::<CachePadded<LockSlot<T>>>();
        let len = self.slots.len();
        // SAFETY: the section touches `slot0 + i * stride`, the lock word of slot `i`, only
        // for `i < len`, and per-CPU lock words are written only by these sections and by
        // the holder's unlock.
        let i = unsafe {
            if I::MM_CID {
                try_lock_mm_cid(slot0, stride, len)
            } else {
                try_lock_cpu_id(slot0, stride, len)
            }
        }?;
        // Pairs with the release store of the previous holder's unlock.
        fence(Ordering::Acquire);
        // SAFETY: the section committed only for `i < slots.len()`.
        let slot = unsafe { self.slots.get_unchecked(i) };
        Ok(PerCpuSpinLockGuard {
            inner: GuardInner::PerCpu { slot, index: i },
        })
    }

    #[cold]
    #[inline(never)]
    fn lock_shared(&self) -> PerCpuSpinLockGuard<'_, T> {
        PerCpuSpinLockGuard {
            inner: GuardInner::Shared(self.shared.lock()),
        }
    }

    /// Number of per-CPU slots (the number of possible CPUs).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The value of one slot, exclusively (no locking needed).
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut T> {
        match slot {
            Slot::PerCpu(i) => self.slots.get_mut(i).map(|s| s.value.get_mut()),
            Slot::Shared => Some(self.shared.get_mut()),
        }
    }

    /// Every slot's value, exclusively: the per-CPU slots in index order, then the shared one.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Slot, &mut T)> + '_ {
        let per_cpu = self
            .slots
            .iter_mut()
            .enumerate()
            .map(|(i, s)| (Slot::PerCpu(i), s.value.get_mut()));
        per_cpu.chain(core::iter::once((Slot::Shared, self.shared.get_mut())))
    }
}

impl<T: fmt::Debug, I: IndexKind> fmt::Debug for PerCpuSpinLock<T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuSpinLock")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// A held lock of a [`PerCpuSpinLock`]: dereferences to the slot's value and unlocks when
/// dropped. [`slot`](Self::slot) tells which slot it holds.
pub struct PerCpuSpinLockGuard<'a, T> {
    inner: GuardInner<'a, T>,
}

enum GuardInner<'a, T> {
    PerCpu { slot: &'a LockSlot<T>, index: usize },
    Shared(SharedGuard<'a, T>),
}

impl<T> PerCpuSpinLockGuard<'_, T> {
    /// The slot this guard holds: the CPU number (or concurrency id) the lock was taken
    /// on, or the shared slot of the fallback path.
    pub fn slot(&self) -> Slot {
        match &self.inner {
            GuardInner::PerCpu { index, .. } => Slot::PerCpu(*index),
            GuardInner::Shared(_) => Slot::Shared,
        }
    }

    /// The CPU number (or concurrency id) of the slot held, `None` for the shared slot.
    pub fn cpu(&self) -> Option<usize> {
        match self.slot() {
            Slot::PerCpu(i) => Some(i),
            Slot::Shared => None,
        }
    }
}

impl<T> Deref for PerCpuSpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.inner {
            // SAFETY: this guard holds the slot's lock word, so no `&mut T` exists elsewhere.
            GuardInner::PerCpu { slot, .. } => unsafe { &*slot.value.get() },
            GuardInner::Shared(guard) => guard,
        }
    }
}

impl<T> DerefMut for PerCpuSpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.inner {
            // SAFETY: this guard holds the slot's lock word: this is the only reference.
            GuardInner::PerCpu { slot, .. } => unsafe { &mut *slot.value.get() },
            GuardInner::Shared(guard) => &mut *guard,
        }
    }
}

impl<T> Drop for PerCpuSpinLockGuard<'_, T> {
    fn drop(&mut self) {
        if let GuardInner::PerCpu { slot, .. } = &self.inner {
            // Only the holder writes a held word, so a plain release store unlocks it from
            // whichever CPU the thread now runs on.
            slot.word.store(0, Ordering::Release);
        }
        // The shared guard unlocks itself.
    }
}

impl<T: fmt::Debug> fmt::Debug for PerCpuSpinLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuSpinLockGuard")
            .field("slot", &self.slot())
            .field("value", &**self)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::PerCpuSpinLock;
    use crate::testing::pin_here;

    #[test]
    fn a_held_slot_cannot_be_taken_again_on_its_cpu() {
        std::thread::spawn(|| {
            pin_here();
            let lock = PerCpuSpinLock::new_with(|_| 0u32);
            let mut guard = lock.lock();
            let cpu = guard.cpu().expect("rseq is available here");
            *guard += 1;
            assert!(lock.try_lock().is_none(), "slot {cpu} taken twice");
            drop(guard);
            let again = lock.try_lock().expect("the slot is free again");
            assert_eq!(again.cpu(), Some(cpu));
            assert_eq!(*again, 1);
        })
        .join()
        .unwrap();
    }
}
