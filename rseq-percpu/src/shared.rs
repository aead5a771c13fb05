//! The shared slot of the fallback path: a value behind a test-and-test-and-set spin lock
//! on an atomic word, padded to its own cache line; and the bounded FIFO on it that both
//! per-CPU rings fall back to.
//!
//! Threads on which rseq is unavailable all meet here, from any CPU, so the lock is taken
//! with an atomic compare-and-swap (acquire) and released with a store (release). A waiter
//! spins reading the word (no cache-line ping-pong while it is held), backing off with
//! crossbeam-utils' `Backoff` (exponential spinning, then yielding its CPU): with more threads than CPUs the holder may be preempted, and pure
//! spinning would then burn the holder's time slice.
//!
//! # Unsafe
//!
//! The guard hands out `&mut T` from an `UnsafeCell`; the lock word makes it exclusive.
#![allow(unsafe_code)]

use super::primitive::{Access, AtomicBool, AtomicUsize, Spin, ValueCell};
use super::CachePadded;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::Ordering;
use std::collections::VecDeque;

/// A value behind a spin lock, in its own cache line.
pub(crate) struct SharedSlot<T> {
    inner: CachePadded<Inner<T>>,
}

struct Inner<T> {
    locked: AtomicBool,
    value: ValueCell<T>,
}

// SAFETY: the lock gives one thread at a time access to the `T`, which may be sent between
// threads (`T: Send`); this is `std::sync::Mutex`'s bound.
unsafe impl<T: Send> Sync for SharedSlot<T> {}

impl<T> SharedSlot<T> {
    /// A new unlocked slot holding `value`.
    pub(crate) fn new(value: T) -> Self {
        SharedSlot {
            inner: CachePadded::new(Inner {
                locked: AtomicBool::new(false),
                value: ValueCell::new(value),
            }),
        }
    }

    /// Takes the lock, spinning (then yielding) while another thread holds it.
    pub(crate) fn lock(&self) -> SharedGuard<'_, T> {
        let backoff = Spin::new();
        loop {
            if !self.inner.locked.load(Ordering::Relaxed)
                && self
                    .inner
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return SharedGuard::new(self);
            }
            backoff.snooze();
        }
    }

    /// Takes the lock if it is free.
    pub(crate) fn try_lock(&self) -> Option<SharedGuard<'_, T>> {
        self.inner
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then(|| SharedGuard::new(self))
    }

    /// The value, exclusively (no locking needed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.inner.value.get_mut()
    }
}

/// Exclusive access to a [`SharedSlot`]'s value; unlocks on drop.
pub(crate) struct SharedGuard<'a, T> {
    slot: &'a SharedSlot<T>,
    /// The access to the value, ended before the unlock (`None` only in `drop`).
    access: Option<Access<T>>,
}

impl<'a, T> SharedGuard<'a, T> {
    /// The guard of a slot whose lock the caller just took.
    fn new(slot: &'a SharedSlot<T>) -> Self {
        SharedGuard {
            slot,
            access: Some(slot.inner.value.access()),
        }
    }

    fn ptr(&self) -> *mut T {
        self.access
            .as_ref()
            .map_or(core::ptr::null_mut(), Access::ptr)
    }
}

impl<T> Deref for SharedGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock, so no `&mut T` exists elsewhere; the access
        // lives until the guard's drop.
        unsafe { &*self.ptr() }
    }
}

impl<T> DerefMut for SharedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, so this is the only reference to the value.
        unsafe { &mut *self.ptr() }
    }
}

impl<T> Drop for SharedGuard<'_, T> {
    fn drop(&mut self) {
        // End the access before another thread can start one.
        self.access = None;
        self.slot.inner.locked.store(false, Ordering::Release);
    }
}

/// The rings' fallback: one bounded FIFO for every thread on which rseq is unavailable,
/// with its length mirrored in an atomic so that an empty one is seen without the lock.
pub(crate) struct SharedRing<T> {
    items: SharedSlot<VecDeque<T>>,
    len: AtomicUsize,
    capacity: usize,
}

impl<T> SharedRing<T> {
    /// An empty ring holding at most `capacity` items.
    pub(crate) fn new(capacity: usize) -> Self {
        SharedRing {
            items: SharedSlot::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            capacity,
        }
    }

    /// Appends `item`, or gives it back when the ring is full.
    #[cold]
    #[inline(never)]
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut items = self.items.lock();
        if items.len() >= self.capacity {
            return Err(item);
        }
        items.push_back(item);
        self.len.store(items.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Takes the oldest item.
    pub(crate) fn pop(&self) -> Option<T> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut items = self.items.lock();
        let item = items.pop_front()?;
        self.len.store(items.len(), Ordering::Relaxed);
        Some(item)
    }

    /// Takes the oldest item, exclusively (for draining).
    pub(crate) fn pop_mut(&mut self) -> Option<T> {
        let items = self.items.get_mut();
        let item = items.pop_front();
        // Exclusive (`&mut self`): no ordering needed; a store works with loom too.
        self.len.store(items.len(), Ordering::Relaxed);
        item
    }

    /// Items in the ring (exact when no push or pop runs concurrently).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::{SharedRing, SharedSlot};

    #[test]
    fn shared_ring_is_a_bounded_fifo() {
        let mut ring = SharedRing::new(2);
        assert_eq!(ring.pop(), None);
        assert_eq!(ring.push(1), Ok(()));
        assert_eq!(ring.push(2), Ok(()));
        assert_eq!(ring.push(3), Err(3));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.pop(), Some(1));
        assert_eq!(ring.pop_mut(), Some(2));
        assert_eq!((ring.len(), ring.pop()), (0, None));
    }

    #[test]
    fn exclusive_increments_are_exact() {
        let slot = SharedSlot::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        *slot.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*slot.lock(), 40_000);
    }
}

/// The fallback structures under the loom model checker: every interleaving of two or
/// three threads, with every access to a slot's value tracked (an access that overlaps
/// another fails the model). Run with
/// `RUSTFLAGS="--cfg loom" cargo test -p rseq-percpu --lib --release loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::{SharedRing, SharedSlot};
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn loom_lock_excludes_and_publishes() {
        loom::model(|| {
            let slot = Arc::new(SharedSlot::new(0u32));
            let other = {
                let slot = slot.clone();
                thread::spawn(move || *slot.lock() += 1)
            };
            *slot.lock() += 1;
            other.join().unwrap();
            assert_eq!(*slot.lock(), 2);
        });
    }

    #[test]
    fn loom_try_lock_fails_only_while_held() {
        loom::model(|| {
            let slot = Arc::new(SharedSlot::new(0u32));
            let other = {
                let slot = slot.clone();
                thread::spawn(move || slot.try_lock().map(|mut guard| *guard += 1).is_some())
            };
            let mine = slot.try_lock().map(|mut guard| *guard += 1).is_some();
            let theirs = other.join().unwrap();
            assert!(mine || theirs);
            assert_eq!(*slot.lock(), u32::from(mine) + u32::from(theirs));
        });
    }

    #[test]
    fn loom_ring_conserves_items() {
        loom::model(|| {
            let ring = Arc::new(SharedRing::new(1));
            let producer = {
                let ring = ring.clone();
                thread::spawn(move || ring.push(7u32).is_ok())
            };
            let popped = ring.pop();
            let pushed = producer.join().unwrap();
            assert!(pushed, "capacity 1, one push");
            let rest = ring.pop();
            assert_eq!(popped.into_iter().chain(rest).collect::<Vec<_>>(), [7]);
            assert_eq!(ring.len(), 0);
        });
    }
}
