//! [`PoolCounter`]: a per-CPU counter whose words live in a [`PerCpuPool`], so that many
//! counters cost only the pages their CPUs touch.
//!
//! # Algorithm
//!
//! As [`PerCpuCounter`](crate::PerCpuCounter): `add(n)` reads the index `i` (CPU number or
//! concurrency id) from the thread's rseq area, computes the address of word `i`, and runs
//! a critical section whose only instruction after the index check is the commit
//! `*word += n` (librseq's `rseq_load_add_store__ptr`). The address is
//! `base + (i << stride_shift)`: one shift and one add, where `PerCpuCounter` multiplies by
//! the padded slot size. An abort is counted and retried; when rseq is unavailable, or a
//! concurrency id is at or above the pool's width, `add` does an atomic `fetch_add` on the
//! counter's own shared word, which `sum` includes.
//!
//! The fast path on x86_64 (release build, `cpu_id` indexing, default stride), from the
//! `pool_counter` example (`objdump -d`; `rseq-link-check asm` shows the same section,
//! start to commit, for `PoolCounter` and `PerCpuCounter`):
//!
//! ```text
//! mov  (%rdi), %rbx            ; the item's CPU-0 address, from the handle
//! mov  (OFFSET), %rax          ; area_offset() (GOT), then tested for "undecided"
//! test %rax, %rax ; jz first_call
//! mov  %fs:(%rax), %ecx        ; cpu_id_start: the index
//! mov  %rcx, %rdx
//! shl  $16, %rdx ; add %rbx, %rdx   ; base + (cpu << 16): 64 KiB stride
//! lea  desc(%rip), %r8
//! mov  %r8, %fs:8(%rax)        ; arm the descriptor (rseq_cs)
//! cmp  %ecx, %fs:4(%rax)       ; start: cpu_id still the index?
//! jne  abort
//! add  %rsi, (%rdx)            ; the commit
//! ```
//!
//! Instruction for instruction this is `PerCpuCounter::add` (which shifts by 7 for its
//! 128-byte slots and adds the slot array's address from memory), because the stride is a
//! constant of the counter's type.
#![allow(unsafe_code)]

use super::boxed::PerCpuBox;
use super::error::PoolError;
use super::raw::{PerCpuPool, DEFAULT_STRIDE};
use crate::attempt::{retry, Attempt};
use crate::index::{CpuId, IndexKind, Slot};
use crate::rseq_critical;
use core::sync::atomic::{AtomicU64, Ordering};

/// `log2(DEFAULT_STRIDE)`.
const DEFAULT_SHIFT: u32 = DEFAULT_STRIDE.trailing_zeros();

/// `*(base + (cpu << shift)) += n` in a section bound to the CPU number.
#[rseq_critical(on_abort = return Err(Attempt::Aborted))]
unsafe fn add_cpu_id(base: usize, shift: u32, n: u64) -> Result<usize, Attempt> {
    let i = cpu_id();
    let word = base + (i << shift);
    commit_add(word, n);
    Ok(i)
}

/// `*(base + (cid << shift)) += n` in a section bound to the concurrency id, which must be
/// below `cpus`.
#[rseq_critical(on_abort = return Err(Attempt::Aborted))]
unsafe fn add_mm_cid(base: usize, shift: u32, cpus: usize, n: u64) -> Result<usize, Attempt> {
    let i = mm_cid();
    if i >= cpus {
        return Err(Attempt::Fallback);
    }
    let word = base + (i << shift);
    commit_add(word, n);
    Ok(i)
}

/// A counter with one word per CPU in a [`PerCpuPool`] (8-byte items): `add` is a per-CPU
/// critical section, `sum` adds the words. Ten thousand of them on a 256-CPU machine cost
/// the pages their CPUs wrote, not `10,000 × 256` cache lines.
///
/// ```
/// use rseq_percpu::{PerCpuPool, PoolCounter, PoolOptions};
///
/// let pool = PerCpuPool::new(PoolOptions::for_type::<u64>()).unwrap();
/// let counters: Vec<PoolCounter> = (0..100).map(|_| PoolCounter::new(&pool).unwrap()).collect();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for c in &counters {
///                 c.add(2);
///             }
///         });
///     }
/// });
/// assert!(counters.iter().all(|c| c.sum() == 8));
/// ```
///
/// The stride is part of the type (`STRIDE_SHIFT`, `log2(stride)`, by default that of
/// [`DEFAULT_STRIDE`]), so the fast path shifts by a constant, as `PerCpuCounter`'s does;
/// [`PoolCounter::new`] checks that the pool has that stride.
pub struct PoolCounter<'p, I: IndexKind = CpuId, const STRIDE_SHIFT: u32 = DEFAULT_SHIFT> {
    words: PerCpuBox<'p, AtomicU64, I>,
    shared: AtomicU64,
}

impl<'p, I: IndexKind> PoolCounter<'p, I> {
    /// A zero counter in `pool`, whose items must hold a `u64` and whose stride must be
    /// [`DEFAULT_STRIDE`] ([`PoolError::StrideMismatch`] otherwise; for other strides,
    /// [`PoolCounter::with_stride`]). Writes nothing: the words read from the kernel's zero
    /// page until a CPU adds.
    pub fn new(pool: &'p PerCpuPool<I>) -> Result<Self, PoolError> {
        Self::with_stride(pool)
    }
}

impl<'p, I: IndexKind, const STRIDE_SHIFT: u32> PoolCounter<'p, I, STRIDE_SHIFT> {
    /// A zero counter in `pool`, whose stride must be `1 << STRIDE_SHIFT`
    /// ([`PoolError::StrideMismatch`] otherwise):
    /// `PoolCounter::<CpuId, 17>::with_stride(&pool)` for a pool of 128 KiB stride.
    pub fn with_stride(pool: &'p PerCpuPool<I>) -> Result<Self, PoolError> {
        if pool.stride_shift() != STRIDE_SHIFT {
            return Err(PoolError::StrideMismatch {
                stride: pool.stride(),
                expected: 1usize.checked_shl(STRIDE_SHIFT).unwrap_or(0),
            });
        }
        Ok(PoolCounter {
            // SAFETY: all-zero bytes are an `AtomicU64` of 0.
            words: unsafe { pool.alloc_zeroed()? },
            shared: AtomicU64::new(0),
        })
    }

    /// Adds `n` (wrapping) to the calling CPU's word, or to the shared word when rseq is
    /// unavailable on this thread. Returns the slot it added to.
    #[inline]
    pub fn add(&self, n: u64) -> Slot {
        match self.try_add(n) {
            Ok(i) => Slot::PerCpu(i),
            Err(attempt) => self.add_slow(attempt, n),
        }
    }

    /// One attempt at the section.
    #[inline(always)]
    fn try_add(&self, n: u64) -> Result<usize, Attempt> {
        let base = self.words.as_ptr() as usize;
        let shift = STRIDE_SHIFT;
        // SAFETY: the pool has a word for every CPU number the kernel reports (CpuId pools
        // cover the possible CPUs) and for every concurrency id below `cpus` (checked in
        // the section's prelude); the words are written only by this section, bound to
        // their index, and by nothing else while the counter lives.
        unsafe {
            if I::MM_CID {
                add_mm_cid(base, shift, self.words.cpus(), n)
            } else {
                add_cpu_id(base, shift, n)
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn add_slow(&self, first: Attempt, n: u64) -> Slot {
        let mut first = Some(first);
        match retry(
            || first.take().map_or_else(|| self.try_add(n), Err),
            |_| false,
        ) {
            Ok(i) => Slot::PerCpu(i),
            Err(_) => {
                self.shared.fetch_add(n, Ordering::Relaxed);
                Slot::Shared
            }
        }
    }

    /// The sum of every word (wrapping): exact once all `add`s have happened-before this
    /// call.
    pub fn sum(&self) -> u64 {
        self.words
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .fold(self.shared.load(Ordering::Relaxed), u64::wrapping_add)
    }

    /// The value of one slot: a per-CPU word, or the shared word of the fallback path.
    pub fn get(&self, slot: Slot) -> Option<u64> {
        match slot {
            Slot::PerCpu(i) => self.words.get(i).map(|w| w.load(Ordering::Relaxed)),
            Slot::Shared => Some(self.shared.load(Ordering::Relaxed)),
        }
    }

    /// Takes every word's value, leaving the counter at zero (exclusive access).
    pub fn drain(&mut self) -> u64 {
        self.words
            .iter_mut()
            .map(|w| {
                // Only a written word is reset: a zero one may still be the zero page.
                let word = w.get_mut();
                let value = *word;
                if value != 0 {
                    *word = 0;
                }
                value
            })
            .fold(core::mem::take(self.shared.get_mut()), u64::wrapping_add)
    }

    /// Number of per-CPU words.
    pub fn slots(&self) -> usize {
        self.words.cpus()
    }
}

impl<I: IndexKind, const STRIDE_SHIFT: u32> core::fmt::Debug for PoolCounter<'_, I, STRIDE_SHIFT> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolCounter")
            .field("sum", &self.sum())
            .finish()
    }
}
