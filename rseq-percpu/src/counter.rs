//! [`PerCpuCounter`]: a counter split into one word per CPU.
//!
//! # Algorithm
//!
//! `add(n)` reads the CPU number (or concurrency id) `i` from the thread's rseq area,
//! computes the address of word `i`, and runs a critical section whose only instruction
//! after the CPU check is the commit `*word += n` (on x86_64 one `add` to memory, no
//! `lock` prefix). The section is bound to `i`: if the thread is preempted, migrated or
//! signalled before the add completes, the kernel moves it to the abort handler; `add`
//! counts the abort (see `aborted_sections`), re-reads `i` and starts again. Since only threads running on CPU `i` write word `i`, and
//! they cannot interleave inside the section, no increment is lost or doubled. This is
//! librseq's `rseq_load_add_store__ptr`.
//!
//! The fast path of `add` in a release build on x86_64, from the `percpu_counter` example
//! (around it, in an out-of-line caller: saving three registers for the abort path, which
//! is inlined, and loading `n` into a register):
//!
//! ```text
//! mov  (OFFSET), %rax          ; area_offset(): a static (through the GOT in a PIE),
//! test %rax, %rax              ;   compared with its "undecided" sentinel 0
//! jz   first_call
//! mov  %fs:(%rax), %edx        ; cpu_id_start: the index
//! cmp  LEN(%rdi), %rdx         ; index below the word count? (never taken on a
//! jae  fallback                ;   healthy system: see `PerCpu`)
//! shl  $7, %rsi ; add ...      ; &words[cpu] (128-byte slots)
//! lea  desc(%rip), %r9
//! mov  %r9, %fs:8(%rax)        ; arm the descriptor (rseq_cs)
//! cmp  %edx, %fs:4(%rax)       ; start: cpu_id still the index?
//! jne  abort
//! add  %r8, (%rsi)             ; the commit
//! ```
//!
//! `sum()` adds the words with relaxed loads. It is exact once the adding threads are done
//! (joined); while they run it is not a snapshot (with only positive adds, it lies
//! between the totals at the start and at the end of the call).
//!
//! When rseq is unavailable on the calling thread the section reports it on its first
//! abort, and `add` does an atomic `fetch_add` on a separate shared word instead; `sum`
//! includes that word. Per-CPU words are never written atomically from another CPU, so
//! threads on both paths can count at the same time.
#![allow(unsafe_code)]

use super::attempt::{retry, Attempt};
use super::{CpuId, IndexKind, MmCid, PerCpu, Slot};
use crate::rseq_critical;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering};

/// Defines the `add` section for one index kind: `$index` is `cpu_id` or `mm_cid`, and
/// the optional trailing tokens are extra prelude statements.
macro_rules! add_section {
    ($(#[$doc:meta])* $name:ident, $index:ident) => {
        $(#[$doc])*
        #[rseq_critical(on_abort = return Err(Attempt::Aborted))]
        unsafe fn $name(words: &PerCpu<AtomicU64>, n: u64) -> Result<usize, Attempt> {
            let i = $index();
            // An index past the last word (see `PerCpu`) takes the fallback path.
            let Some(word) = words.get(i) else {
                return Err(Attempt::Fallback);
            };
            let word = word.as_ptr();
            commit_add(word, n);
            Ok(i)
        }
    };
}

add_section!(
    /// `words[cpu] += n` in a section bound to the CPU number.
    add_cpu_id,
    cpu_id
);
add_section!(
    /// `words[mm_cid] += n` in a section bound to the concurrency id.
    add_mm_cid,
    mm_cid
);

/// A counter with one word per CPU: `add` is a per-CPU critical section (no atomic
/// instruction, no shared cache line), `sum` adds the words.
///
/// ```
/// use rseq_percpu::PerCpuCounter;
///
/// let counter = PerCpuCounter::new();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..1000 {
///                 counter.add(1);
///             }
///         });
///     }
/// });
/// assert_eq!(counter.sum(), 4000);
/// ```
///
/// Indexed by concurrency id instead of CPU number:
///
/// ```
/// use rseq_percpu::{MmCid, PerCpuCounter};
///
/// let counter = PerCpuCounter::with_index(MmCid);
/// counter.add(5);
/// counter.add(2);
/// assert_eq!(counter.sum(), 7);
/// ```
pub struct PerCpuCounter<I: IndexKind = CpuId> {
    words: PerCpu<AtomicU64>,
    shared: super::CachePadded<AtomicU64>,
    index: PhantomData<I>,
}

impl PerCpuCounter<CpuId> {
    /// A zero counter indexed by CPU number.
    pub fn new() -> Self {
        Self::with_index(CpuId)
    }
}

impl Default for PerCpuCounter<CpuId> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: IndexKind> PerCpuCounter<I> {
    /// A zero counter indexed by `I` ([`CpuId`] or [`MmCid`]).
    pub fn with_index(index: I) -> Self {
        Self::__with_slots(index, super::storage::slot_count())
    }

    /// A zero counter with `slots` per-CPU words (at least 1) instead of one per possible
    /// CPU: indices past the last word take the fallback path. For tests only.
    #[doc(hidden)]
    pub fn __with_slots(_index: I, slots: usize) -> Self {
        PerCpuCounter {
            words: PerCpu::with_len(slots, |_| AtomicU64::new(0)),
            shared: super::CachePadded::new(AtomicU64::new(0)),
            index: PhantomData,
        }
    }

    /// Adds `n` (wrapping) to the calling CPU's word, or to the shared word when rseq is
    /// unavailable on this thread. Returns the slot it added to. To subtract, add
    /// `n.wrapping_neg()`: words and sum wrap, so the sum stays exact.
    #[inline]
    pub fn add(&self, n: u64) -> Slot {
        // One attempt inline (the fast path); everything else out of line, so that the
        // caller keeps no registers and no loop for the rare cases.
        match self.try_add(n) {
            Ok(i) => Slot::PerCpu(i),
            Err(attempt) => self.add_slow(attempt, n),
        }
    }

    /// One attempt at the section.
    #[inline(always)]
    fn try_add(&self, n: u64) -> Result<usize, Attempt> {
        // SAFETY: `self.words` has a word for every index the kernel reports, and those
        // words are written only by this section (bound to their index).
        unsafe {
            if I::MM_CID {
                add_mm_cid(&self.words, n)
            } else {
                add_cpu_id(&self.words, n)
            }
        }
    }

    /// After a first attempt did not commit: retry while the section aborts, or fall back.
    #[cold]
    #[inline(never)]
    fn add_slow(&self, first: Attempt, n: u64) -> Slot {
        let mut first = Some(first);
        // The first attempt's outcome is replayed into the shared loop, then it retries.
        match retry(
            || first.take().map_or_else(|| self.try_add(n), Err),
            |_| false,
        ) {
            Ok(i) => Slot::PerCpu(i),
            Err(_) => self.add_shared(n),
        }
    }

    #[cold]
    #[inline(never)]
    fn add_shared(&self, n: u64) -> Slot {
        self.shared.fetch_add(n, Ordering::Relaxed);
        Slot::Shared
    }

    /// The sum of every word (wrapping): exact once all `add`s have happened-before this
    /// call (for example, the adding threads were joined).
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

    /// Number of per-CPU words (the number of possible CPUs).
    pub fn slots(&self) -> usize {
        self.words.len()
    }
}

impl PerCpuCounter<MmCid> {
    /// A zero counter indexed by concurrency id (`mm_cid`).
    pub fn new_mm_cid() -> Self {
        Self::with_index(MmCid)
    }
}

impl<I: IndexKind> fmt::Debug for PerCpuCounter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuCounter")
            .field("per_cpu", &self.words)
            .field("shared", &self.shared.load(Ordering::Relaxed))
            .finish()
    }
}
