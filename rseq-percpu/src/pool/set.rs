//! [`PoolSet`]: pools of power-of-two item sizes, one chosen per value by its layout
//! (librseq's `rseq_mempool_set`).
//!
//! # Unsafe
//!
//! Only [`PoolSet::alloc_zeroed`], which passes its caller's promise on to the pool.
#![allow(unsafe_code)]

use super::boxed::PerCpuBox;
use super::error::PoolError;
use super::raw::{PerCpuPool, PoolOptions};
use crate::index::{CpuId, IndexKind};
use std::sync::{Mutex, OnceLock};

/// The smallest item size of a set.
const MIN_CLASS: usize = 8;

/// Pools of item sizes 8, 16, 32, ... up to the stride, made on first use, all with the
/// same stride, CPU count and robust mode. A value goes to the smallest pool whose items
/// fit its size and alignment.
///
/// ```
/// use rseq_percpu::{PoolOptions, PoolSet};
///
/// let set = PoolSet::new(PoolOptions::new(8)).unwrap();
/// let small = set.alloc_with(|cpu| cpu as u32).unwrap();
/// let large = set.alloc_with(|_| [0u64; 20]).unwrap();
/// assert_eq!(small.pool().item_size(), 8);
/// assert_eq!(large.pool().item_size(), 256);
/// assert_eq!(small.get(0), Some(&0));
/// ```
pub struct PoolSet<I: IndexKind = CpuId> {
    options: PoolOptions,
    index: I,
    classes: Vec<OnceLock<PerCpuPool<I>>>,
    making: Mutex<()>,
}

impl PoolSet<CpuId> {
    /// A set indexed by CPU number. `options` gives the stride, CPU count and robust
    /// mode; its item size is ignored.
    pub fn new(options: PoolOptions) -> Result<Self, PoolError> {
        Self::with_index(CpuId, options)
    }
}

impl<I: IndexKind + Copy> PoolSet<I> {
    /// A set indexed by `I`. No pool is made yet; the options are checked by making the
    /// smallest one.
    pub fn with_index(index: I, options: PoolOptions) -> Result<Self, PoolError> {
        let stride = options.stride_value();
        let count = (stride / MIN_CLASS).max(1).trailing_zeros() as usize + 1;
        let set = PoolSet {
            options,
            index,
            classes: (0..count).map(|_| OnceLock::new()).collect(),
            making: Mutex::new(()),
        };
        set.class(0)?;
        Ok(set)
    }

    /// The pool for values of `size` bytes aligned to `align`.
    pub fn pool_for(&self, size: usize, align: usize) -> Result<&PerCpuPool<I>, PoolError> {
        let need = size.max(align).max(MIN_CLASS).next_power_of_two();
        let class = (need / MIN_CLASS).trailing_zeros() as usize;
        if class >= self.classes.len() {
            return Err(PoolError::DoesNotFit {
                size,
                align,
                item_size: MIN_CLASS << (self.classes.len() - 1),
            });
        }
        self.class(class)
    }

    /// Allocates `init(cpu)` on every CPU from the pool that fits `T`
    /// (see [`PerCpuPool::alloc_with`]).
    pub fn alloc_with<T>(
        &self,
        init: impl FnMut(usize) -> T,
    ) -> Result<PerCpuBox<'_, T, I>, PoolError> {
        self.pool_for(core::mem::size_of::<T>(), core::mem::align_of::<T>())?
            .alloc_with(init)
    }

    /// Allocates a zeroed `T` on every CPU from the pool that fits it, writing nothing.
    ///
    /// # Safety
    ///
    /// As [`PerCpuPool::alloc_zeroed`]: all-zero bytes must be a valid `T`.
    pub unsafe fn alloc_zeroed<T>(&self) -> Result<PerCpuBox<'_, T, I>, PoolError> {
        let pool = self.pool_for(core::mem::size_of::<T>(), core::mem::align_of::<T>())?;
        // SAFETY: the caller's promise, passed on.
        unsafe { pool.alloc_zeroed() }
    }

    /// The pools made so far, smallest items first.
    pub fn pools(&self) -> impl Iterator<Item = &PerCpuPool<I>> + '_ {
        self.classes.iter().filter_map(OnceLock::get)
    }

    fn class(&self, class: usize) -> Result<&PerCpuPool<I>, PoolError> {
        if let Some(pool) = self.classes[class].get() {
            return Ok(pool);
        }
        let _making = self.making.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = self.classes[class].get() {
            return Ok(pool);
        }
        let options = self.options.clone().item_size(MIN_CLASS << class);
        let pool = PerCpuPool::with_index(self.index, options)?;
        Ok(self.classes[class].get_or_init(|| pool))
    }
}

impl<I: IndexKind> core::fmt::Debug for PoolSet<I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.classes.iter().filter_map(OnceLock::get))
            .finish()
    }
}
