//! [`PerCpuCopyRing`]: a bounded FIFO ring of small `Copy` values per CPU, moved in and
//! out with a bounded copy inside the critical section.
//!
//! # Algorithm
//!
//! The same free-running `head`/`tail` ring as [`PerCpuRing`](super::PerCpuRing), but
//! each cell holds a whole `T` (up to [`PerCpuCopyRing::MAX_ITEM`] bytes), so one word
//! cannot be stored in one instruction. The sections use librseq's
//! `rseq_load_cbne_memcpy_store__ptr` shape instead:
//!
//! - *push*: load the tail, leave early if it is no longer the `t` read before; copy the
//!   `size_of::<T>()` bytes of the item into cell `t % capacity` (speculative: that cell is
//!   past the published tail); commit `tail = t + 1` with a store-release, so a reader that
//!   sees the new tail sees the whole item;
//! - *pop*: load the head, leave early if it is no longer `h`; copy cell `h % capacity`
//!   into the caller's buffer (speculative: the caller reads it only once the section
//!   committed); commit `head = h + 1`.
//!
//! An abort in the middle of either copy leaves a half-written cell past the tail or a
//! half-filled private buffer, neither of which anyone reads; the retry copies again.
//! Threads on which rseq is unavailable use a shared `VecDeque<T>` under an atomic spin
//! lock, which `pop` also drains when the calling CPU's ring is empty.
#![allow(unsafe_code)]

use super::attempt::{retry, Attempt};
use super::capacity::{max_capacity, ring_layout, CapacityError};
use super::shared::SharedRing;
use super::{CpuId, IndexKind, MmCid, PerCpu, Slot};
use crate::rseq_critical;
use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{size_of, MaybeUninit};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

/// One CPU's ring: counters and a raw array of `capacity` cells of `cell_size` bytes
/// (allocated with `layout`, `Layout::array::<T>(capacity)`, and freed on drop).
struct CopySlot {
    head: AtomicUsize,
    tail: AtomicUsize,
    cells: NonNull<u8>,
    mask: usize,
    cell_size: usize,
    layout: Layout,
}

impl CopySlot {
    /// An empty ring with the cells of `layout` (`capacity` cells of `cell_size` bytes).
    fn new(capacity: usize, cell_size: usize, layout: Layout) -> Result<Self, CapacityError> {
        let cells = allocate(layout).ok_or(CapacityError::Alloc {
            capacity,
            bytes: layout.size(),
        })?;
        Ok(CopySlot {
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            cells,
            mask: capacity - 1,
            cell_size,
            layout,
        })
    }
}

impl Drop for CopySlot {
    fn drop(&mut self) {
        if self.layout.size() != 0 {
            // SAFETY: allocated by `allocate(self.layout)` in `CopySlot::new`, freed once.
            unsafe { std::alloc::dealloc(self.cells.as_ptr(), self.layout) };
        }
    }
}

impl CopySlot {
    /// Address of the cell of free-running position `pos`.
    fn cell(&self, pos: usize) -> *mut u8 {
        // Within the allocation: `(pos & mask) * cell_size < capacity * cell_size`.
        self.cells
            .as_ptr()
            .wrapping_add((pos & self.mask) * self.cell_size)
    }
}

/// Defines the push and pop sections for one index kind.
macro_rules! copy_ring_sections {
    ($push:ident, $pop:ident, $index:ident) => {
        /// `if tail unchanged { memcpy(cell[tail], src, len) (speculative); commit-release tail + 1 }`.
        #[rseq_critical(on_abort = return Err(Attempt::Aborted))]
        unsafe fn $push(
            rings: &PerCpu<CopySlot>,
            src: *const u8,
            len: usize,
        ) -> Result<usize, Attempt> {
            let i = $index();
            // An index past the last ring (see `PerCpu`) takes the fallback path.
            let Some(ring) = rings.get(i) else {
                return Err(Attempt::Fallback);
            };
            let t = ring.tail.load(Ordering::Relaxed);
            let h = ring.head.load(Ordering::Relaxed);
            // `h` was read after `t`: a head past `t` means the tail moved meanwhile.
            if t.wrapping_sub(h) > ring.mask.wrapping_add(1) {
                return Err(Attempt::Changed);
            }
            if t.wrapping_sub(h) > ring.mask {
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
            memcpy::<256>(cell, src, len);
            commit_release(tail, next);
            Ok(i)
        }

        /// `if head unchanged { memcpy(out, cell[head], len) (speculative); commit head + 1 }`.
        #[rseq_critical(on_abort = return Err(Attempt::Aborted))]
        unsafe fn $pop(
            rings: &PerCpu<CopySlot>,
            #[speculative] out: *mut u8,
            len: usize,
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
            memcpy::<256>(out, cell, len);
            commit(head, next);
            Ok(i)
        }
    };
}

copy_ring_sections!(push_cpu_id, pop_cpu_id, cpu_id);
copy_ring_sections!(push_mm_cid, pop_mm_cid, mm_cid);

/// A bounded FIFO ring of `T: Copy` values (at most [`Self::MAX_ITEM`] bytes each) per
/// CPU, copied in and out inside per-CPU critical sections.
///
/// ```
/// use rseq_percpu::PerCpuCopyRing;
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Sample {
///     when: u64,
///     value: [u32; 6],
/// }
///
/// let ring = PerCpuCopyRing::new(4);
/// ring.push(Sample { when: 1, value: [7; 6] }).unwrap();
/// let (sample, _slot) = ring.pop().unwrap();
/// assert_eq!(sample, Sample { when: 1, value: [7; 6] });
/// ```
pub struct PerCpuCopyRing<T: Copy, I: IndexKind = CpuId> {
    rings: PerCpu<CopySlot>,
    capacity: usize,
    shared: SharedRing<T>,
    items: PhantomData<(T, I)>,
}

// SAFETY: items are copied in by one thread and out by another (`T: Send`); the cells are
// written only by critical sections of their slot's index, the shared ring under its lock.
unsafe impl<T: Copy + Send, I: IndexKind> Sync for PerCpuCopyRing<T, I> {}
// SAFETY: the ring owns its cells and items.
unsafe impl<T: Copy + Send, I: IndexKind> Send for PerCpuCopyRing<T, I> {}

impl<T: Copy> PerCpuCopyRing<T, CpuId> {
    /// Rings of `capacity` items each (rounded up to a power of two), indexed by CPU number.
    ///
    /// # Panics
    ///
    /// When `capacity` is above [`Self::MAX_CAPACITY`] or the cells cannot be allocated;
    /// [`PerCpuCopyRing::try_new`] returns the error instead.
    pub fn new(capacity: usize) -> Self {
        Self::with_index(CpuId, capacity)
    }

    /// Like [`PerCpuCopyRing::new`], with the error instead of a panic.
    pub fn try_new(capacity: usize) -> Result<Self, CapacityError> {
        Self::try_with_index(CpuId, capacity)
    }
}

impl<T: Copy> PerCpuCopyRing<T, MmCid> {
    /// Rings of `capacity` items each, indexed by concurrency id (`mm_cid`).
    ///
    /// # Panics
    ///
    /// As [`PerCpuCopyRing::new`].
    pub fn new_mm_cid(capacity: usize) -> Self {
        Self::with_index(MmCid, capacity)
    }
}

impl<T: Copy, I: IndexKind> PerCpuCopyRing<T, I> {
    /// The largest item, in bytes: the bound of the copy inside the sections.
    pub const MAX_ITEM: usize = 256;

    /// The largest capacity of one ring: the largest power of two whose cells
    /// (`size_of::<T>()` bytes each) fit in `isize::MAX` bytes.
    pub const MAX_CAPACITY: usize = max_capacity::<T>();

    /// Rings of `capacity` items each (rounded up to a power of two), indexed by `I`.
    ///
    /// # Panics
    ///
    /// When `capacity` is above [`Self::MAX_CAPACITY`] or the cells of a ring cannot be
    /// allocated. An item larger than [`Self::MAX_ITEM`] is a compile-time error.
    pub fn with_index(index: I, capacity: usize) -> Self {
        Self::try_with_index(index, capacity).unwrap_or_else(|err| panic!("PerCpuCopyRing: {err}"))
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
        const {
            assert!(
                size_of::<T>() <= 256,
                "PerCpuCopyRing items are at most 256 bytes"
            )
        };
        let (capacity, layout) = ring_layout::<T>(capacity)?;
        let rings =
            PerCpu::try_with_len(slots, |_| CopySlot::new(capacity, size_of::<T>(), layout))?;
        let shared_capacity = capacity.saturating_mul(rings.len());
        Ok(PerCpuCopyRing {
            rings,
            capacity,
            shared: SharedRing::new(shared_capacity),
            items: PhantomData,
        })
    }

    /// Capacity of each per-CPU ring.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends a copy of `item` to the calling CPU's ring (to the shared ring when rseq is
    /// unavailable on this thread). Returns the slot, or gives the item back when full.
    pub fn push(&self, item: T) -> Result<Slot, T> {
        let src = (&item as *const T).cast::<u8>();
        let attempt = retry(
            // SAFETY: `rings` covers every index the kernel reports; its counters and cells
            // are written only by these sections; every cell is `size_of::<T>()` bytes and
            // `src` points to a whole `T`.
            || unsafe {
                if I::MM_CID {
                    push_mm_cid(&self.rings, src, size_of::<T>())
                } else {
                    push_cpu_id(&self.rings, src, size_of::<T>())
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
    /// unavailable on this thread), the oldest of the shared ring.
    pub fn pop(&self) -> Option<(T, Slot)> {
        let mut out = MaybeUninit::<T>::uninit();
        let dst = out.as_mut_ptr().cast::<u8>();
        let attempt = retry(
            // SAFETY: as in push; `dst` is a local buffer of `size_of::<T>()` bytes.
            || unsafe {
                if I::MM_CID {
                    pop_mm_cid(&self.rings, dst, size_of::<T>())
                } else {
                    pop_cpu_id(&self.rings, dst, size_of::<T>())
                }
            },
            |outcome| matches!(outcome, Attempt::Full | Attempt::Busy),
        );
        match attempt {
            // SAFETY: the section committed, so the copy of a whole pushed `T` completed.
            Ok(i) => Some((unsafe { out.assume_init() }, Slot::PerCpu(i))),
            // Empty, or rseq unavailable on this thread.
            Err(_) => self.shared.pop().map(|item| (item, Slot::Shared)),
        }
    }

    /// Takes the oldest item of one given slot's ring, exclusively (for draining).
    pub fn pop_from(&mut self, slot: Slot) -> Option<T> {
        match slot {
            Slot::PerCpu(i) => {
                let ring = self.rings.get_mut(i)?;
                let h = *ring.head.get_mut();
                if h == *ring.tail.get_mut() {
                    return None;
                }
                // SAFETY: positions in `head..tail` hold whole `T`s copied in by push, and
                // the cell is inside the allocation, aligned for `T` (`Layout::array`).
                let item = unsafe { ring.cell(h).cast::<T>().read() };
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

/// Allocates the cells of one ring (a dangling, aligned pointer for a zero-sized layout),
/// or `None` when the allocator has no room.
fn allocate(layout: Layout) -> Option<NonNull<u8>> {
    if layout.size() == 0 {
        // A zero-sized cell array is never dereferenced; any aligned address will do.
        return Some(NonNull::new(layout.align() as *mut u8).unwrap_or(NonNull::dangling()));
    }
    // SAFETY: `layout` has a non-zero size.
    NonNull::new(unsafe { std::alloc::alloc(layout) })
}

impl<T: Copy, I: IndexKind> fmt::Debug for PerCpuCopyRing<T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuCopyRing")
            .field("slots", &self.rings.len())
            .field("capacity", &self.capacity)
            .field("item_size", &size_of::<T>())
            .field("shared_len", &self.shared.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::PerCpuCopyRing;
    use crate::Slot;

    /// Pushes `items` and pops them back on one thread pinned nowhere in particular: every
    /// item comes back whole, from the slot it went to.
    fn round_trip<T: Copy + PartialEq + core::fmt::Debug>(items: &[T]) {
        let mut ring = PerCpuCopyRing::<T>::new(items.len());
        let slots: Vec<Slot> = items.iter().map(|&x| ring.push(x).unwrap()).collect();
        let mut back = Vec::new();
        for slot in (0..ring.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
            back.extend(std::iter::from_fn(|| ring.pop_from(slot)));
        }
        assert_eq!(back.len(), items.len(), "{slots:?}");
        for item in items {
            assert!(back.contains(item), "{item:?} missing from {back:?}");
        }
    }

    #[test]
    fn items_of_every_small_size_copy_whole() {
        round_trip(&[1u8, 2, 3]);
        round_trip(&[[1u8, 2, 3], [4, 5, 6]]);
        round_trip(&[[7u8; 7], [9u8; 7]]);
        round_trip(&[0x1122_3344u32, 0x5566_7788]);
        round_trip(&[[0xabu8; 9], [0xcd; 9]]);
        round_trip(&[[u64::MAX - 1; 32]]);
        round_trip(&[(), ()]);
    }

    #[test]
    fn pop_copies_out_whole_items() {
        std::thread::spawn(|| {
            crate::testing::pin_here();
            let ring = PerCpuCopyRing::<[u8; 5]>::new(2);
            let slot = ring.push([1, 2, 3, 4, 5]).unwrap();
            ring.push([6, 7, 8, 9, 10]).unwrap();
            assert_eq!(ring.pop(), Some(([1, 2, 3, 4, 5], slot)));
            assert_eq!(ring.pop(), Some(([6, 7, 8, 9, 10], slot)));
            assert_eq!(ring.pop(), None);
        })
        .join()
        .unwrap();
    }
}
