//! [`PublishOnce`]: a value computed by whoever needs it first and published once,
//! without a lock, so that it can be read from signal handlers and after `fork`.
//!
//! `std::sync::OnceLock` makes every other caller *wait* while one initialises. That wait
//! never ends in two cases this crate must survive: a signal handler that interrupts its
//! own thread's initialisation (it waits for itself), and the child of a `fork` taken
//! while another thread was initialising (that thread does not exist in the child). A
//! `PublishOnce` never waits. Each caller that finds no value computes its own (the
//! computations here are idempotent: the same answer on every thread) and tries to
//! publish it with one compare-and-swap; a caller that loses the race, or that finds the
//! slot being written by someone who will never finish, uses its own value, which is the
//! same one.
//!
//! # Algorithm
//!
//! `state` goes `EMPTY → WRITING → READY`, only forward. A publisher wins `EMPTY →
//! WRITING` with a compare-and-swap, writes the value, and stores `READY` with release
//! ordering; readers load `READY` with acquire ordering before reading the value, so they
//! see it whole. Nobody reads the value in any other state, so it is written exactly once
//! and never while read.
//!
//! # Safety
//!
//! The value lives in an `UnsafeCell<MaybeUninit<T>>`; each access states why it is
//! exclusive or initialised.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

/// A `Copy` value published at most once, read without waiting (see the module docs).
pub(crate) struct PublishOnce<T: Copy> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once by the thread that won `EMPTY → WRITING` and read only
// after the release/acquire pair on `READY`; `T: Send + Sync` (it is `Copy` and shared).
unsafe impl<T: Copy + Send + Sync> Sync for PublishOnce<T> {}

impl<T: Copy> PublishOnce<T> {
    /// No value yet.
    pub(crate) const fn new() -> Self {
        PublishOnce {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The published value, if any.
    #[inline]
    pub(crate) fn get(&self) -> Option<T> {
        if self.state.load(Ordering::Acquire) == READY {
            // SAFETY: `READY` was stored (release) after the value was written, and the
            // value is never written again.
            Some(unsafe { (*self.value.get()).assume_init() })
        } else {
            None
        }
    }

    /// Publishes `value` unless a value was published (or is being published) already;
    /// returns the published value when there is one, else `value`.
    pub(crate) fn publish(&self, value: T) -> T {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
        {
            // SAFETY: this thread alone moved the state to `WRITING`, and nobody reads the
            // value before `READY`: the write is exclusive.
            unsafe { (*self.value.get()).write(value) };
            self.state.store(READY, Ordering::Release);
            return value;
        }
        self.get().unwrap_or(value)
    }

    /// The published value, or `compute()`'s, published if nobody published first.
    #[inline]
    pub(crate) fn get_or_publish(&self, compute: impl FnOnce() -> T) -> T {
        match self.get() {
            Some(value) => value,
            None => self.publish(compute()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PublishOnce;

    #[test]
    fn first_publication_wins_and_never_waits() {
        let once = PublishOnce::<u32>::new();
        assert_eq!(once.get(), None);
        assert_eq!(once.get_or_publish(|| 7), 7);
        assert_eq!(once.publish(8), 7);
        assert_eq!(once.get_or_publish(|| unreachable!()), 7);
    }

    #[test]
    fn a_publication_left_half_done_is_not_waited_for() {
        // As in the child of a fork taken while another thread was publishing.
        let once = PublishOnce::<u32>::new();
        once.state
            .store(super::WRITING, core::sync::atomic::Ordering::Relaxed);
        assert_eq!(once.get(), None);
        assert_eq!(once.get_or_publish(|| 9), 9);
    }

    #[test]
    fn racing_threads_agree_once_published() {
        static ONCE: PublishOnce<usize> = PublishOnce::new();
        let seen: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|t| s.spawn(move || ONCE.publish(t))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winner = ONCE.get().unwrap();
        // Losers saw either the winner's value or (mid-write) their own.
        assert!(seen.contains(&winner));
    }
}
