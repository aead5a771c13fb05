//! [`PerCpuRing`]: a bounded FIFO ring of words per CPU.
//!
//! # Algorithm
//!
//! Each slot holds a power-of-two array of `capacity` cells and two free-running
//! counters, `head` (next to pop) and `tail` (next to push); the ring holds
//! `tail - head` items, in cells `head % capacity .. tail % capacity`. Both counters only
//! grow, and only critical sections bound to the slot's index change them.
//!
//! *Push* reads `tail = t` and `head = h`; if `t - h == capacity` the ring is full. (A
//! stale `h` is never larger than the real head, so the test is conservative: cell
//! `t % capacity` is free whenever it passes.) The section, bound to the index, loads the
//! tail, leaves early if it is no longer `t`, stores the item into cell `t % capacity`
//! (a speculative store: the cell is past the published tail, so no reader looks at it
//! and an abort leaves harmless garbage there), and commits `tail = t + 1` with a
//! store-release (librseq's `rseq_load_cbne_store_store__ptr` with `RSEQ_MO_RELEASE`).
//!
//! *Pop* reads `head = h` and `tail`; if they are equal the ring is empty. The section
//! loads the head, leaves early if it is no longer `h`, loads cell `h % capacity` (inside
//! the section, so it cannot be a cell that was popped and refilled since), stores it to
//! the caller's output word (speculative), and commits `head = h + 1`.
//!
//! An item stays in the ring of the slot it was pushed to; `pop` takes from the calling
//! CPU's ring, then from the shared ring. The shared ring (a `VecDeque` under an atomic
//! spin lock, holding up to `capacity × slots` items) is the fallback of threads on which
//! rseq is unavailable.
#![allow(unsafe_code)]

use super::attempt::{retry, Attempt};
use super::capacity::{max_capacity, ring_layout, CapacityError};
use super::shared::SharedRing;
use super::{CpuId, IndexKind, MmCid, PerCpu, Slot};
use crate::rseq_critical;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};

/// One CPU's ring.
struct RingSlot {
    head: AtomicUsize,
    tail: AtomicUsize,
    cells: Box<[AtomicUsize]>,
}

impl RingSlot {
    /// Address of the cell of free-running position `pos` (`cells.len()` is a power of two).
    fn cell(&self, pos: usize) -> *mut usize {
        self.cells[pos & (self.cells.len() - 1)].as_ptr()
    }
}

/// Defines the push and pop sections for one index kind.
macro_rules! ring_sections {
    ($push:ident, $pop:ident, $index:ident) => {
        /// `if tail unchanged { cell[tail] = item (speculative); commit-release tail + 1 }`.
        #[rseq_critical(on_abort = return Err(Attempt::Aborted))]
        unsafe fn $push(rings: &PerCpu<RingSlot>, item: usize) -> Result<usize, Attempt> {
            let i = $index();
            // An index past the last ring (see `PerCpu`) takes the fallback path.
            let Some(ring) = rings.get(i) else {
                return Err(Attempt::Fallback);
            };
            let t = ring.tail.load(Ordering::Relaxed);
            let h = ring.head.load(Ordering::Relaxed);
            // `h` was read after `t`: a head past `t` means the tail moved meanwhile.
            if t.wrapping_sub(h) > ring.cells.len() {
                return Err(Attempt::Changed);
            }
            if t.wrapping_sub(h) == ring.cells.len() {
                return Err(Attempt::Full);
            }
            #[speculative]
            let cell = ring.cell(t);
            let tail = ring.tail.as_ptr();
            let next = t.wrapping_add(1);
            let current = load(tail);
            if current != t {
                return Err(Attempt::Changed);
            }
            store(cell, item);
            commit_release(tail, next);
            Ok(i)
        }

        /// `if head unchanged { *out = cell[head] (speculative); commit head + 1 }`.
        #[rseq_critical(on_abort = return Err(Attempt::Aborted))]
        unsafe fn $pop(
            rings: &PerCpu<RingSlot>,
            #[speculative] out: *mut usize,
        ) -> Result<usize, Attempt> {
            let i = $index();
            let Some(ring) = rings.get(i) else {
                return Err(Attempt::Fallback);
            };
            let h = ring.head.load(Ordering::Relaxed);
            if h == ring.tail.load(Ordering::Acquire) {
                return Err(Attempt::Empty);
            }
            let cell = ring.cell(h);
            let head = ring.head.as_ptr();
            let next = h.wrapping_add(1);
            let current = load(head);
            if current != h {
                return Err(Attempt::Changed);
            }
            let item = load(cell);
            store(out, item);
            commit(head, next);
            Ok(i)
        }
    };
}

ring_sections!(push_cpu_id, pop_cpu_id, cpu_id);
ring_sections!(push_mm_cid, pop_mm_cid, mm_cid);

/// A bounded FIFO ring of `usize` words (indices, addresses, handles) per CPU: `push` and
/// `pop` are per-CPU critical sections on the calling CPU's ring.
///
/// ```
/// use rseq_percpu::PerCpuRing;
///
/// let ring = PerCpuRing::new(8);
/// assert!(ring.push(10).is_ok());
/// assert!(ring.push(11).is_ok());
/// // Same thread, and (almost always) same CPU: first in, first out.
/// let mut got = Vec::new();
/// while let Some((item, _slot)) = ring.pop() {
///     got.push(item);
/// }
/// got.sort(); // a migration between the calls could split the items over two CPUs
/// assert_eq!(got, [10, 11]);
/// ```
pub struct PerCpuRing<I: IndexKind = CpuId> {
    rings: PerCpu<RingSlot>,
    shared: SharedRing<usize>,
    index: PhantomData<I>,
}

impl PerCpuRing<CpuId> {
    /// Rings of `capacity` items each (rounded up to a power of two, at least 1), indexed
    /// by CPU number.
    ///
    /// # Panics
    ///
    /// When `capacity` is above [`Self::MAX_CAPACITY`] or the cells cannot be allocated;
    /// [`PerCpuRing::try_new`] returns the error instead.
    pub fn new(capacity: usize) -> Self {
        Self::with_index(CpuId, capacity)
    }

    /// Like [`PerCpuRing::new`], with the error instead of a panic.
    pub fn try_new(capacity: usize) -> Result<Self, CapacityError> {
        Self::try_with_index(CpuId, capacity)
    }
}

impl PerCpuRing<MmCid> {
    /// Rings of `capacity` items each, indexed by concurrency id (`mm_cid`).
    ///
    /// # Panics
    ///
    /// As [`PerCpuRing::new`].
    pub fn new_mm_cid(capacity: usize) -> Self {
        Self::with_index(MmCid, capacity)
    }
}

impl<I: IndexKind> PerCpuRing<I> {
    /// The largest capacity of one ring: the largest power of two whose cells fit in
    /// `isize::MAX` bytes (2^59 on a 64-bit target).
    pub const MAX_CAPACITY: usize = max_capacity::<AtomicUsize>();

    /// Rings of `capacity` items each (rounded up to a power of two), indexed by `I`.
    ///
    /// # Panics
    ///
    /// As [`PerCpuRing::new`].
    pub fn with_index(index: I, capacity: usize) -> Self {
        Self::try_with_index(index, capacity).unwrap_or_else(|err| panic!("PerCpuRing: {err}"))
    }

    /// Rings of `capacity` items each (rounded up to a power of two), indexed by `I`, or
    /// why they cannot be made.
    pub fn try_with_index(index: I, capacity: usize) -> Result<Self, CapacityError> {
        Self::__try_with_slots(index, super::storage::slot_count(), capacity)
    }

    /// Rings for `slots` indices (at least 1) instead of one per possible CPU: indices
    /// past the last ring take the shared ring. For tests only.
    #[doc(hidden)]
    pub fn __try_with_slots(
        _index: I,
        slots: usize,
        capacity: usize,
    ) -> Result<Self, CapacityError> {
        let (capacity, layout) = ring_layout::<AtomicUsize>(capacity)?;
        let rings = PerCpu::try_with_len(slots, |_| {
            let mut cells = Vec::new();
            cells
                .try_reserve_exact(capacity)
                .map_err(|_| CapacityError::Alloc {
                    capacity,
                    bytes: layout.size(),
                })?;
            cells.extend((0..capacity).map(|_| AtomicUsize::new(0)));
            Ok(RingSlot {
                head: AtomicUsize::new(0),
                tail: AtomicUsize::new(0),
                cells: cells.into_boxed_slice(),
            })
        })?;
        let shared_capacity = capacity.saturating_mul(rings.len());
        Ok(PerCpuRing {
            rings,
            shared: SharedRing::new(shared_capacity),
            index: PhantomData,
        })
    }

    /// Capacity of each per-CPU ring.
    pub fn capacity(&self) -> usize {
        self.rings[0].cells.len()
    }

    /// Appends `item` to the calling CPU's ring (to the shared ring when rseq is
    /// unavailable on this thread). Returns the slot, or gives the item back when that
    /// ring is full.
    pub fn push(&self, item: usize) -> Result<Slot, usize> {
        let attempt = retry(
            // SAFETY: `rings` covers every index the kernel reports, and its counters and
            // cells are written only by these sections.
            || unsafe {
                if I::MM_CID {
                    push_mm_cid(&self.rings, item)
                } else {
                    push_cpu_id(&self.rings, item)
                }
            },
            |outcome| matches!(outcome, Attempt::Empty | Attempt::Busy),
        );
        match attempt {
            Ok(i) => Ok(Slot::PerCpu(i)),
            Err(Attempt::Fallback) => self.shared.push(item).map(|()| Slot::Shared),
            Err(_full) => Err(item),
        }
    }

    /// Takes the oldest item of the calling CPU's ring; when it is empty (or rseq is
    /// unavailable on this thread), the oldest of the shared ring. Returns the item and
    /// the slot it came from.
    #[inline]
    pub fn pop(&self) -> Option<(usize, Slot)> {
        let mut out = 0usize;
        // One attempt inline (the fast path); retries, the empty case and the fallback out
        // of line.
        match self.try_pop(&mut out) {
            Ok(i) => Some((out, Slot::PerCpu(i))),
            Err(first) => self.pop_slow(first),
        }
    }

    /// One attempt at the pop section of this thread's index; the item goes to `out`.
    #[inline(always)]
    fn try_pop(&self, out: &mut usize) -> Result<usize, Attempt> {
        // SAFETY: `rings` covers every index the kernel reports, and its counters and
        // cells are written only by these sections; `out` is a local word.
        unsafe {
            if I::MM_CID {
                pop_mm_cid(&self.rings, out)
            } else {
                pop_cpu_id(&self.rings, out)
            }
        }
    }

    /// After a first attempt did not commit: retry, or take from the shared ring (this
    /// CPU's ring is empty, or rseq is unavailable on this thread).
    #[cold]
    #[inline(never)]
    fn pop_slow(&self, first: Attempt) -> Option<(usize, Slot)> {
        let mut out = 0usize;
        let mut first = Some(first);
        // The first attempt's outcome is replayed into the shared loop, then it retries.
        let attempt = retry(
            || first.take().map_or_else(|| self.try_pop(&mut out), Err),
            |outcome| matches!(outcome, Attempt::Full | Attempt::Busy),
        );
        match attempt {
            Ok(i) => Some((out, Slot::PerCpu(i))),
            // Empty, or rseq unavailable on this thread.
            Err(_) => self.shared.pop().map(|item| (item, Slot::Shared)),
        }
    }

    /// Takes the oldest item of one given slot's ring, exclusively (for draining).
    pub fn pop_from(&mut self, slot: Slot) -> Option<usize> {
        match slot {
            Slot::PerCpu(i) => {
                let ring = self.rings.get_mut(i)?;
                let h = *ring.head.get_mut();
                if h == *ring.tail.get_mut() {
                    return None;
                }
                let mask = ring.cells.len() - 1;
                let item = *ring.cells[h & mask].get_mut();
                *ring.head.get_mut() = h.wrapping_add(1);
                Some(item)
            }
            Slot::Shared => self.shared.pop_mut(),
        }
    }

    /// Number of per-CPU rings (the number of possible CPUs).
    pub fn slots(&self) -> usize {
        self.rings.len()
    }

    /// Items in one slot's ring (exact when no push or pop runs concurrently).
    pub fn len_of(&self, slot: Slot) -> usize {
        match slot {
            Slot::PerCpu(i) => self.rings.get(i).map_or(0, |r| {
                r.tail
                    .load(Ordering::Acquire)
                    .wrapping_sub(r.head.load(Ordering::Acquire))
            }),
            Slot::Shared => self.shared.len(),
        }
    }
}

impl<I: IndexKind> fmt::Debug for PerCpuRing<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuRing")
            .field("slots", &self.rings.len())
            .field("capacity", &self.capacity())
            .field("shared_len", &self.shared.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::PerCpuRing;
    use crate::testing::pin_here;
    use crate::{MmCid, Slot};

    #[test]
    fn one_cpu_is_first_in_first_out_and_bounded() {
        std::thread::spawn(|| {
            pin_here();
            let ring = PerCpuRing::new(3); // rounded up to 4
            assert_eq!(ring.capacity(), 4);
            let slot = ring.push(1).unwrap();
            assert!(matches!(slot, Slot::PerCpu(_)));
            for item in 2..=4 {
                assert_eq!(ring.push(item), Ok(slot));
            }
            assert_eq!(ring.push(5), Err(5), "a fifth item does not fit");
            assert_eq!(ring.len_of(slot), 4);
            for item in 1..=4 {
                assert_eq!(ring.pop(), Some((item, slot)));
            }
            assert_eq!(ring.pop(), None);
            // Wrapping around the cells keeps the order.
            for round in 0..10 {
                assert_eq!(ring.push(round), Ok(slot));
                assert_eq!(ring.push(round + 100), Ok(slot));
                assert_eq!(ring.pop(), Some((round, slot)));
                assert_eq!(ring.pop(), Some((round + 100, slot)));
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn mm_cid_ring_gives_back_what_it_got() {
        std::thread::spawn(|| {
            pin_here();
            let ring = PerCpuRing::<MmCid>::new_mm_cid(2);
            for item in [7, 8] {
                assert!(ring.push(item).is_ok());
            }
            let mut got: Vec<usize> = std::iter::from_fn(|| ring.pop().map(|(v, _)| v)).collect();
            got.sort_unstable(); // the concurrency id may change between calls
            assert_eq!(got, [7, 8]);
        })
        .join()
        .unwrap();
    }
}
