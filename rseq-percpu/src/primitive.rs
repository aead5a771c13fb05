//! The synchronisation primitives of the shared fallback slot, swapped for `loom`'s under
//! `--cfg loom` so that the model checker can explore every interleaving of the fallback
//! structures (as crossbeam-utils does with its own `primitive` module).
//!
//! Only `shared` (the spin lock every fallback path takes, and the fallback ring on it)
//! goes through this shim; the per-CPU sections are assembly, which loom cannot model.
//! Run the model: `RUSTFLAGS="--cfg loom" cargo test -p rseq-percpu --lib --release loom`.
//!
//! # Unsafe
//!
//! [`ValueCell`] hands out a raw pointer to its value, like `UnsafeCell`; under loom the
//! [`Access`] that carries it is tracked, so two overlapping accesses fail the model.
#![allow(unsafe_code)]

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicUsize};

/// Waits a little before trying a held lock again: crossbeam's `Backoff`, or a loom yield
/// (an unbounded spin would never end the model).
pub(crate) struct Spin {
    #[cfg(not(loom))]
    backoff: crossbeam_utils::Backoff,
}

impl Spin {
    /// A fresh back-off.
    pub(crate) fn new() -> Self {
        Spin {
            #[cfg(not(loom))]
            backoff: crossbeam_utils::Backoff::new(),
        }
    }

    /// Backs off once.
    pub(crate) fn snooze(&self) {
        #[cfg(not(loom))]
        self.backoff.snooze();
        #[cfg(loom)]
        loom::thread::yield_now();
    }
}

/// An `UnsafeCell` whose accesses loom tracks.
pub(crate) struct ValueCell<T> {
    #[cfg(not(loom))]
    cell: core::cell::UnsafeCell<T>,
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<T>,
}

/// One access to a [`ValueCell`]'s value, for as long as it lives.
pub(crate) struct Access<T> {
    #[cfg(not(loom))]
    ptr: *mut T,
    #[cfg(loom)]
    ptr: loom::cell::MutPtr<T>,
}

impl<T> ValueCell<T> {
    /// A cell holding `value`.
    pub(crate) fn new(value: T) -> Self {
        ValueCell {
            #[cfg(not(loom))]
            cell: core::cell::UnsafeCell::new(value),
            #[cfg(loom)]
            cell: loom::cell::UnsafeCell::new(value),
        }
    }

    /// Starts an access to the value. The caller makes it exclusive (a lock).
    pub(crate) fn access(&self) -> Access<T> {
        Access {
            #[cfg(not(loom))]
            ptr: self.cell.get(),
            #[cfg(loom)]
            ptr: self.cell.get_mut(),
        }
    }

    /// The value, exclusively.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        #[cfg(not(loom))]
        return self.cell.get_mut();
        // SAFETY: `&mut self` excludes every other access for the returned lifetime.
        #[cfg(loom)]
        return self.cell.with_mut(|p| unsafe { &mut *p });
    }
}

impl<T> Access<T> {
    /// The value's address, valid while this access lives.
    pub(crate) fn ptr(&self) -> *mut T {
        #[cfg(not(loom))]
        return self.ptr;
        #[cfg(loom)]
        return self.ptr.with(|p| p);
    }
}
