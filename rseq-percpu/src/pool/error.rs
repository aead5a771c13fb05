//! [`PoolError`]: why a pool could not be made, could not allocate, or refused a free.

use std::io;

/// Why a pool operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The stride is not a power of two of at least one page, or the reservation
    /// (`cpus × stride`) does not fit the address space.
    #[error("invalid pool geometry: the stride must be a power of two of at least one page, and cpus x stride must fit the address space")]
    TooLarge,
    /// The item size is zero or larger than the stride.
    #[error("item size {item_size} does not fit a stride of {stride} bytes")]
    BadItemSize {
        /// The requested item size.
        item_size: usize,
        /// The pool's stride.
        stride: usize,
    },
    /// A value's size or alignment exceeds the pool's item size or alignment.
    #[error("a value of {size} bytes aligned to {align} does not fit items of {item_size} bytes")]
    DoesNotFit {
        /// `size_of` the value.
        size: usize,
        /// `align_of` the value.
        align: usize,
        /// The pool's item size (also its items' alignment, up to a page).
        item_size: usize,
    },
    /// A [`PoolCounter`](crate::PoolCounter) whose type fixes another stride than the
    /// pool's.
    #[error("the pool's stride is {stride} bytes, the counter's type expects {expected}")]
    StrideMismatch {
        /// The pool's stride.
        stride: usize,
        /// The stride the counter's type expects.
        expected: usize,
    },
    /// Every item of the pool is allocated.
    #[error("the pool is full ({capacity} items per CPU)")]
    Exhausted {
        /// Items per CPU range.
        capacity: usize,
    },
    /// `mmap` or `mprotect` failed.
    #[error("mapping pool memory failed: {0}")]
    Map(#[source] io::Error),
    /// A pointer handed back to the pool is not the CPU-0 address of one of its items.
    #[error("{addr:#x} is not an item of this pool")]
    NotAnItem {
        /// The address given.
        addr: usize,
    },
    /// An item was freed while it was already free.
    #[error("double free of the pool item at offset {offset:#x}")]
    DoubleFree {
        /// The item's offset in every CPU range.
        offset: usize,
    },
    /// Robust mode: a freed item's poison changed, so something wrote it after the free.
    /// The item is taken out of use.
    #[error("use after free: the freed pool item at offset {offset:#x} was written on CPU {cpu}")]
    UseAfterFree {
        /// The item's offset in every CPU range.
        offset: usize,
        /// The CPU range whose copy was written.
        cpu: usize,
    },
}
