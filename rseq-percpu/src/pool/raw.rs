//! [`PerCpuPool`]: the allocator of one item size, over one [`Mapping`].
//!
//! An item is an offset `x` in every CPU range, handed out from a free list or, when that
//! is empty, by bumping a high-water mark (which opens more of every CPU range with
//! `mprotect` as it grows). A bitmap of allocated items makes every double free an error
//! instead of a corruption. A freed item is scrubbed before it goes back on the free list:
//! zeroed where it is not already zero (so that a copy no thread wrote, still the kernel's
//! zero page, is not populated by the free), or, in robust mode, filled with
//! [`POISON`], which the next allocation of that item checks on every CPU.
//!
//! # Unsafe
//!
//! Reads and writes of item bytes at addresses this pool computed, and the `Send`/`Sync`
//! promises of the pool; each block says why it holds.
#![allow(unsafe_code)]

use super::error::PoolError;
use super::mapping::{page_size, Mapping};
use crate::index::{CpuId, IndexKind};
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::sync::Mutex;

/// The byte robust mode fills freed items with.
pub const POISON: u8 = 0xa5;

/// The default stride: 64 KiB per CPU, as librseq's default.
pub const DEFAULT_STRIDE: usize = 64 * 1024;

/// How to build a [`PerCpuPool`]: item size, stride, number of CPU ranges, robust mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    item_size: usize,
    stride: usize,
    max_cpus: Option<usize>,
    robust: bool,
}

impl PoolOptions {
    /// Items of `item_size` bytes (rounded up to a power of two, which is also the items'
    /// alignment up to one page), the default stride ([`DEFAULT_STRIDE`]), one range per
    /// possible CPU, robust mode off.
    pub fn new(item_size: usize) -> Self {
        PoolOptions {
            item_size,
            stride: DEFAULT_STRIDE,
            max_cpus: None,
            robust: false,
        }
    }

    /// Items that fit a `T`: `max(size_of::<T>(), align_of::<T>())` bytes.
    pub fn for_type<T>() -> Self {
        Self::new(core::mem::size_of::<T>().max(core::mem::align_of::<T>()))
    }

    /// Bytes per CPU range: a power of two of at least one page. It bounds the items per
    /// CPU (`stride / item size`) and costs address space only.
    pub fn stride(mut self, bytes: usize) -> Self {
        self.stride = bytes;
        self
    }

    /// The number of CPU ranges. With [`CpuId`] indexing the pool never has fewer ranges
    /// than possible CPUs (a larger number simulates a larger machine); with
    /// [`MmCid`](crate::MmCid) it is the width of the concurrency-id space the pool serves
    /// (a thread whose id is at or above it takes the fallback path).
    pub fn max_cpus(mut self, cpus: usize) -> Self {
        self.max_cpus = Some(cpus);
        self
    }

    /// Replaces the item size.
    pub(super) fn item_size(mut self, bytes: usize) -> Self {
        self.item_size = bytes;
        self
    }

    /// The stride asked for.
    pub(super) fn stride_value(&self) -> usize {
        self.stride
    }

    /// Robust mode: freed items are poisoned, and the next allocation of an item checks the
    /// poison on every CPU (reporting [`PoolError::UseAfterFree`]). Costs a write of every
    /// CPU's copy at each free and a read at each reuse.
    pub fn robust(mut self, robust: bool) -> Self {
        self.robust = robust;
        self
    }
}

/// What the pool's lock protects.
struct State {
    mapping: Mapping,
    /// Items ever handed out by bumping (the high-water mark).
    next: usize,
    /// Free items below `next`, reused last-freed first.
    free: Vec<usize>,
    /// One bit per item below `next`: allocated.
    allocated: Vec<u64>,
}

impl State {
    fn is_allocated(&self, item: usize) -> bool {
        self.allocated
            .get(item / 64)
            .is_some_and(|word| word & (1 << (item % 64)) != 0)
    }

    fn set_allocated(&mut self, item: usize, on: bool) {
        if self.allocated.len() <= item / 64 {
            self.allocated.resize(item / 64 + 1, 0);
        }
        if on {
            self.allocated[item / 64] |= 1 << (item % 64);
        } else {
            self.allocated[item / 64] &= !(1 << (item % 64));
        }
    }
}

/// A per-CPU memory pool: items of one size, each present once in every CPU range, the
/// ranges `stride` bytes apart (see the [module docs](crate::pool)).
///
/// The pool only hands out offsets; typed, owning handles are
/// [`PerCpuBox`](crate::PerCpuBox)es, made by [`PerCpuPool::alloc_with`] and friends.
pub struct PerCpuPool<I: IndexKind = CpuId> {
    state: Mutex<State>,
    base: NonNull<u8>,
    item_size: usize,
    stride_shift: u32,
    cpus: usize,
    capacity: usize,
    robust: bool,
    index: PhantomData<I>,
}

// SAFETY: the pool's memory is owned by the mapping inside; its bookkeeping is behind the
// mutex; `base` is only used to compute addresses.
unsafe impl<I: IndexKind> Send for PerCpuPool<I> {}
// SAFETY: as for `Send`: shared access changes the bookkeeping under the mutex only, and
// the items themselves are accessed through handles that carry `T`'s own bounds.
unsafe impl<I: IndexKind> Sync for PerCpuPool<I> {}

impl PerCpuPool<CpuId> {
    /// A pool indexed by CPU number.
    pub fn new(options: PoolOptions) -> Result<Self, PoolError> {
        Self::with_index(CpuId, options)
    }
}

impl<I: IndexKind> PerCpuPool<I> {
    /// A pool indexed by `I` ([`CpuId`] or [`MmCid`](crate::MmCid)).
    pub fn with_index(_index: I, options: PoolOptions) -> Result<Self, PoolError> {
        let page = page_size();
        let stride = options.stride;
        if !stride.is_power_of_two() || stride < page {
            return Err(PoolError::TooLarge);
        }
        let item_size = options.item_size.max(1).next_power_of_two();
        if options.item_size == 0 || item_size > stride {
            return Err(PoolError::BadItemSize {
                item_size: options.item_size,
                stride,
            });
        }
        let possible = crate::storage::PerCpu::new_with(|_| ()).len();
        let cpus = if I::MM_CID {
            options.max_cpus.unwrap_or(possible)
        } else {
            options.max_cpus.unwrap_or(0).max(possible)
        }
        .max(1);
        let stride_shift = stride.trailing_zeros();
        let mapping = Mapping::reserve(cpus, stride_shift)?;
        Ok(PerCpuPool {
            base: mapping.base(),
            state: Mutex::new(State {
                mapping,
                next: 0,
                free: Vec::new(),
                allocated: Vec::new(),
            }),
            item_size,
            stride_shift,
            cpus,
            capacity: stride / item_size,
            robust: options.robust,
            index: PhantomData,
        })
    }

    /// Bytes per item (a power of two).
    pub fn item_size(&self) -> usize {
        self.item_size
    }

    /// The items' alignment: the item size, up to one page.
    pub fn item_align(&self) -> usize {
        self.item_size.min(page_size())
    }

    /// Bytes between one CPU's copy of an item and the next CPU's: `1 << stride_shift`.
    pub fn stride(&self) -> usize {
        1 << self.stride_shift
    }

    /// `log2(stride)`: the copy of CPU `c` is `c << stride_shift` bytes after CPU 0's.
    pub fn stride_shift(&self) -> u32 {
        self.stride_shift
    }

    /// The number of CPU ranges (see [`PoolOptions::max_cpus`]).
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// Items per CPU: `stride / item_size`.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether robust mode is on.
    pub fn is_robust(&self) -> bool {
        self.robust
    }

    /// Items allocated now.
    pub fn allocated(&self) -> usize {
        let state = self.lock();
        state
            .allocated
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    /// The reserved address range `(start, bytes)`: every CPU range, `cpus × stride`.
    pub fn reserved(&self) -> (*const u8, usize) {
        (self.base.as_ptr(), self.lock().mapping.len())
    }

    /// Resident memory of the pool in bytes (`Rss` of its mappings in
    /// `/proc/self/smaps`): the pages actually populated, on every CPU.
    pub fn resident_bytes(&self) -> std::io::Result<usize> {
        self.lock().mapping.resident_bytes()
    }

    /// Checks the poison of every free item on every CPU (robust mode; `Ok` otherwise),
    /// reporting the first that was written after its free.
    pub fn verify(&self) -> Result<(), PoolError> {
        if !self.robust {
            return Ok(());
        }
        let state = self.lock();
        for &item in &state.free {
            self.check_poison(item)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held left the bookkeeping consistent (no step of it
        // can panic half-way), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// CPU 0's address of the item at `offset`.
    pub(super) fn item_ptr(&self, offset: usize) -> NonNull<u8> {
        // SAFETY: `offset` is below the stride, inside CPU 0's range of the reservation.
        unsafe { self.base.add(offset) }
    }

    /// The address of CPU `cpu`'s copy of the byte at CPU-0 address `ptr`.
    #[inline(always)]
    pub(super) fn copy_of(&self, ptr: *mut u8, cpu: usize) -> *mut u8 {
        ptr.wrapping_add(cpu << self.stride_shift)
    }

    /// Checks that values of layout `(size, align)` fit this pool's items.
    pub(super) fn check_fits(&self, size: usize, align: usize) -> Result<(), PoolError> {
        if size > self.item_size || align > self.item_align() {
            return Err(PoolError::DoesNotFit {
                size,
                align,
                item_size: self.item_size,
            });
        }
        Ok(())
    }

    /// Allocates one item, zero on every CPU; returns its offset.
    pub(super) fn alloc_offset(&self) -> Result<usize, PoolError> {
        let mut state = self.lock();
        let item = if let Some(item) = state.free.pop() {
            if self.robust {
                // A poisoned item stays out of circulation (never freed again).
                self.check_poison(item).inspect_err(|_| {
                    state.set_allocated(item, true);
                })?;
                for cpu in 0..self.cpus {
                    let copy = self.copy_of(self.item_ptr(item * self.item_size).as_ptr(), cpu);
                    // SAFETY: the item is free (nobody else has it) and inside every CPU
                    // range's usable prefix (below the high-water mark).
                    unsafe { copy.write_bytes(0, self.item_size) };
                }
            }
            item
        } else {
            if state.next == self.capacity {
                return Err(PoolError::Exhausted {
                    capacity: self.capacity,
                });
            }
            let item = state.next;
            let needed = (item + 1) * self.item_size;
            if needed > state.mapping.usable() {
                let grown = (state.mapping.usable() * 2).max(needed);
                state.mapping.grow_to(grown)?;
            }
            state.next += 1;
            item
        };
        state.set_allocated(item, true);
        Ok(item * self.item_size)
    }

    /// Marks the item at CPU-0 address `addr` free. The caller then drops its values and
    /// calls [`PerCpuPool::recycle`].
    pub(super) fn release(&self, addr: usize) -> Result<usize, PoolError> {
        let base = self.base.as_ptr() as usize;
        let offset = addr.wrapping_sub(base);
        if addr < base || offset >= self.stride() || !offset.is_multiple_of(self.item_size) {
            return Err(PoolError::NotAnItem { addr });
        }
        let item = offset / self.item_size;
        let mut state = self.lock();
        if item >= state.next {
            return Err(PoolError::NotAnItem { addr });
        }
        if !state.is_allocated(item) {
            return Err(PoolError::DoubleFree { offset });
        }
        state.set_allocated(item, false);
        Ok(offset)
    }

    /// Scrubs a released item (its values dropped) and puts it on the free list.
    pub(super) fn recycle(&self, offset: usize) {
        let ptr = self.item_ptr(offset).as_ptr();
        for cpu in 0..self.cpus {
            let copy = self.copy_of(ptr, cpu);
            if self.robust {
                // SAFETY: the item was released: no handle refers to it, and it lies in
                // every CPU range's usable prefix.
                unsafe { copy.write_bytes(POISON, self.item_size) };
            } else if !all_bytes(copy, self.item_size, 0) {
                // SAFETY: as above.
                unsafe { copy.write_bytes(0, self.item_size) };
            }
        }
        self.lock().free.push(offset / self.item_size);
    }

    /// Checks the poison of free item `item` on every CPU.
    fn check_poison(&self, item: usize) -> Result<(), PoolError> {
        let offset = item * self.item_size;
        let ptr = self.item_ptr(offset).as_ptr();
        match (0..self.cpus).find(|&cpu| !all_bytes(self.copy_of(ptr, cpu), self.item_size, POISON))
        {
            Some(cpu) => Err(PoolError::UseAfterFree { offset, cpu }),
            None => Ok(()),
        }
    }
}

/// Whether the `len` bytes at `ptr` (a free item's copy) all equal `byte`. Reads a page
/// the kernel never populated from the zero page, populating nothing.
fn all_bytes(ptr: *const u8, len: usize, byte: u8) -> bool {
    (0..len).all(|i| {
        // SAFETY: `ptr..ptr + len` is one copy of an item in the pool's usable memory, which
        // no handle refers to (it is free or being freed). The memory is the kernel's
        // (mapped, never deallocated while the pool lives); a volatile byte read observes
        // whatever the machine stored, padding of a dropped value included.
        unsafe { ptr.add(i).read_volatile() == byte }
    })
}

impl<I: IndexKind> core::fmt::Debug for PerCpuPool<I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PerCpuPool")
            .field("item_size", &self.item_size)
            .field("stride", &self.stride())
            .field("cpus", &self.cpus)
            .field("robust", &self.robust)
            .field("allocated", &self.allocated())
            .finish()
    }
}
