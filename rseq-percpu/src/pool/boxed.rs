//! [`PerCpuBox`]: the owning handle of one pool item, a `T` on every CPU.
//!
//! # Unsafe
//!
//! The handle computes each CPU's copy from CPU 0's address and the pool's stride, writes
//! the copies when it is made, hands out references to them, and drops them; each block
//! says why it holds.
#![allow(unsafe_code)]

use super::error::PoolError;
use super::raw::PerCpuPool;
use crate::index::{CpuId, IndexKind};
use core::marker::PhantomData;
use core::ptr::NonNull;

/// One `T` on every CPU, in a [`PerCpuPool`]: CPU `c`'s copy is `c << stride_shift` bytes
/// after CPU 0's. Dropping the box drops every copy and frees the item.
///
/// Shared access to any CPU's copy is allowed (`&T`: [`get`](PerCpuBox::get),
/// [`iter`](PerCpuBox::iter)); writes from critical sections go through the raw addresses
/// ([`cpu_ptr`](PerCpuBox::cpu_ptr), [`as_ptr`](PerCpuBox::as_ptr) with
/// [`stride_shift`](PerCpuBox::stride_shift)), so `T` is typically an atomic or holds its
/// words in `UnsafeCell`s, as the structures of this crate do.
pub struct PerCpuBox<'p, T, I: IndexKind = CpuId> {
    ptr: NonNull<T>,
    /// The pool's stride shift, kept here so that the address computation of a fast path
    /// loads from the handle only.
    stride_shift: u32,
    pool: &'p PerCpuPool<I>,
    owns: PhantomData<T>,
}

// SAFETY: the box owns one `T` per CPU; sending the box sends them (and drops them
// wherever it is dropped): `T: Send`.
unsafe impl<T: Send, I: IndexKind> Send for PerCpuBox<'_, T, I> {}
// SAFETY: `&PerCpuBox` gives `&T` of every copy to any thread: `T: Sync`.
unsafe impl<T: Sync, I: IndexKind> Sync for PerCpuBox<'_, T, I> {}

impl<I: IndexKind> PerCpuPool<I> {
    /// Allocates an item holding `init(cpu)` on every CPU `cpu`. This writes every CPU's
    /// copy, populating its page on every CPU: for values whose bytes are all zero, use
    /// [`alloc_zeroed`](PerCpuPool::alloc_zeroed), which writes nothing.
    pub fn alloc_with<T>(
        &self,
        mut init: impl FnMut(usize) -> T,
    ) -> Result<PerCpuBox<'_, T, I>, PoolError> {
        self.check_fits(core::mem::size_of::<T>(), core::mem::align_of::<T>())?;
        let offset = self.alloc_offset()?;
        let ptr = self.item_ptr(offset).cast::<T>();
        // On a panic in `init`, drop the copies written so far and free the item.
        struct Partial<'a, T, I: IndexKind> {
            pool: &'a PerCpuPool<I>,
            ptr: NonNull<T>,
            offset: usize,
            written: usize,
        }
        impl<T, I: IndexKind> Drop for Partial<'_, T, I> {
            fn drop(&mut self) {
                for cpu in 0..self.written {
                    let copy = self.pool.copy_of(self.ptr.as_ptr().cast(), cpu).cast::<T>();
                    // SAFETY: copies `0..written` were initialised and nobody else has them.
                    unsafe { copy.drop_in_place() };
                }
                if self.pool.release(self.ptr.as_ptr() as usize).is_ok() {
                    self.pool.recycle(self.offset);
                }
            }
        }
        let mut partial = Partial {
            pool: self,
            ptr,
            offset,
            written: 0,
        };
        for cpu in 0..self.cpus() {
            let copy = self.copy_of(ptr.as_ptr().cast(), cpu).cast::<T>();
            // SAFETY: the item was just allocated (nobody else has it); `copy` is CPU
            // `cpu`'s copy, inside the usable part of its range and aligned for `T`
            // (`check_fits`: the item size is a multiple of `align_of::<T>()`, and ranges
            // start on page boundaries).
            unsafe { copy.write(init(cpu)) };
            partial.written = cpu + 1;
        }
        core::mem::forget(partial);
        Ok(PerCpuBox {
            ptr,
            stride_shift: self.stride_shift(),
            pool: self,
            owns: PhantomData,
        })
    }

    /// Allocates an item holding a clone of `value` on every CPU (populating every CPU's
    /// page, see [`alloc_with`](PerCpuPool::alloc_with)).
    pub fn alloc_clone<T: Clone>(&self, value: T) -> Result<PerCpuBox<'_, T, I>, PoolError> {
        self.alloc_with(|_| value.clone())
    }

    /// Allocates an item whose bytes are zero on every CPU, writing nothing: a CPU whose
    /// copy is never written keeps reading the kernel's zero page and costs no memory.
    ///
    /// # Safety
    ///
    /// The all-zero bit pattern must be a valid `T` (integers, atomics, raw pointers,
    /// `Option` of references and of `NonNull`, arrays and structs of those).
    pub unsafe fn alloc_zeroed<T>(&self) -> Result<PerCpuBox<'_, T, I>, PoolError> {
        self.check_fits(core::mem::size_of::<T>(), core::mem::align_of::<T>())?;
        let offset = self.alloc_offset()?;
        Ok(PerCpuBox {
            ptr: self.item_ptr(offset).cast(),
            stride_shift: self.stride_shift(),
            pool: self,
            owns: PhantomData,
        })
    }

    /// Frees an item given back by [`PerCpuBox::into_raw`]: drops its `T` on every CPU.
    /// A pointer that is not an allocated item of this pool is reported, not freed:
    /// [`PoolError::DoubleFree`] for an item already freed, [`PoolError::NotAnItem`] for
    /// any other address.
    ///
    /// # Safety
    ///
    /// If `ptr` is an allocated item of this pool, it holds a `T` on every CPU (it came
    /// from [`PerCpuBox::into_raw`] of a `PerCpuBox<T, I>` of this pool) and no reference
    /// to any of its copies is used after this call.
    pub unsafe fn free_raw<T>(&self, ptr: *mut T) -> Result<(), PoolError> {
        let offset = self.release(ptr as usize)?;
        if core::mem::needs_drop::<T>() {
            for cpu in 0..self.cpus() {
                let copy = self.copy_of(ptr.cast(), cpu).cast::<T>();
                // SAFETY: the caller promises a `T` in every copy, and that nobody uses
                // them any more; `release` made sure the item was allocated (once).
                unsafe { copy.drop_in_place() };
            }
        }
        self.recycle(offset);
        Ok(())
    }
}

impl<'p, T, I: IndexKind> PerCpuBox<'p, T, I> {
    /// The pool this item belongs to.
    pub fn pool(&self) -> &'p PerCpuPool<I> {
        self.pool
    }

    /// The number of copies (the pool's CPU ranges).
    pub fn cpus(&self) -> usize {
        self.pool.cpus()
    }

    /// CPU 0's copy. CPU `c`'s is `as_ptr().byte_add(c << stride_shift())`.
    #[inline(always)]
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// `log2` of the distance between two CPUs' copies.
    #[inline(always)]
    pub fn stride_shift(&self) -> u32 {
        self.stride_shift
    }

    /// The address of CPU `cpu`'s copy: one shift and one add, no bounds check. It points
    /// into the item only for `cpu < self.cpus()` (true of every CPU number the kernel
    /// reports, with [`CpuId`] indexing); the pointer is for critical sections, which
    /// dereference it under their own contract.
    #[inline(always)]
    pub fn cpu_ptr(&self, cpu: usize) -> *mut T {
        self.ptr
            .as_ptr()
            .wrapping_byte_add(cpu << self.stride_shift)
    }

    /// CPU `cpu`'s copy, if the pool has that CPU.
    pub fn get(&self, cpu: usize) -> Option<&T> {
        // SAFETY: `cpu < cpus`: the copy is inside the item, initialised, and shared
        // access is what `&self` allows.
        (cpu < self.cpus()).then(|| unsafe { &*self.cpu_ptr(cpu) })
    }

    /// CPU `cpu`'s copy, exclusively.
    pub fn get_mut(&mut self, cpu: usize) -> Option<&mut T> {
        // SAFETY: as in `get`, and `&mut self` excludes every other reference.
        (cpu < self.cpus()).then(|| unsafe { &mut *self.cpu_ptr(cpu) })
    }

    /// The copy of the CPU the thread runs on now (it may have moved by the time the
    /// reference is used: for reads and statistics, not for per-CPU exclusivity).
    pub fn current(&self) -> Option<&T> {
        let index = if I::MM_CID {
            rseq_abi::cpu::mm_cid()? as usize
        } else {
            rseq_abi::cpu::current_cpu() as usize
        };
        self.get(index)
    }

    /// Every CPU's copy, in CPU order (sums, snapshots).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        // SAFETY: `cpu < cpus`, as in `get`.
        (0..self.cpus()).map(move |cpu| unsafe { &*self.cpu_ptr(cpu) })
    }

    /// Every CPU's copy exclusively, in CPU order (draining: `iter_mut().map(mem::take)`).
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = &mut T> + '_ {
        let this = &*self;
        // SAFETY: `cpu < cpus`; distinct CPUs' copies do not overlap (the item size is
        // below the stride) and `&mut self` excludes every other reference.
        (0..this.cpus()).map(move |cpu| unsafe { &mut *this.cpu_ptr(cpu) })
    }

    /// Gives up ownership: CPU 0's address, for [`PerCpuPool::free_raw`] (or the item stays
    /// allocated until the pool is dropped, its values never dropped).
    pub fn into_raw(self) -> *mut T {
        let ptr = self.ptr.as_ptr();
        core::mem::forget(self);
        ptr
    }
}

impl<T, I: IndexKind> Drop for PerCpuBox<'_, T, I> {
    fn drop(&mut self) {
        // SAFETY: the box owns the item, which holds a `T` on every CPU, and is going away.
        let freed = unsafe { self.pool.free_raw(self.ptr.as_ptr()) };
        debug_assert!(freed.is_ok(), "a box owns its item: {freed:?}");
    }
}

impl<T: core::fmt::Debug, I: IndexKind> core::fmt::Debug for PerCpuBox<'_, T, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
