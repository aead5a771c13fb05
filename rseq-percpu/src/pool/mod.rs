//! Per-CPU memory pools: many small per-CPU objects at the cost of the pages their CPUs
//! touch (librseq's `rseq_mempool`).
//!
//! The example of the README (`PerCpuBox` is the owning handle `alloc_with` returns):
//!
#![doc = include_str!("example.md")]
//!
//! # Layout
//!
//! A pool reserves one range of `stride` bytes (a power of two, 64 KiB by default) per CPU,
//! contiguous: `cpus × stride` bytes of address space, reserved `PROT_NONE` with `mmap`.
//! An *item* is one offset `x` below the stride, present in every range: CPU 0's copy is at
//! `base + x`, CPU `c`'s at `base + x + (c << log2(stride))`. That one shift-and-add is
//! the same for every item of every pool with that stride, so a critical section needs
//! only the item's CPU-0 address and the shift, never a per-object table of slots.
//!
//! ```text
//!  base             base + stride     base + 2·stride
//!  | CPU 0 range    | CPU 1 range     | CPU 2 range     ...
//!  | a b c . . .    | a b c . . .     | a b c . . .
//!    ^ item a: one offset, one copy per CPU range
//! ```
//!
//! Items of one pool have one size (a power of two, also their alignment up to a page);
//! a [`PoolSet`] keeps a pool per size class. Copies of different items on one CPU are
//! adjacent, so a CPU's hot items share its cache lines instead of each taking a padded
//! line (one 8-byte counter costs 8 bytes per CPU, not 128), while two CPUs' copies are a
//! stride apart and never share a line.
//!
//! # Allocation
//!
//! Items come from a free list or, when it is empty, from a high-water mark; as the mark
//! grows, the pool makes more of every CPU range readable and writable (`mprotect`,
//! doubling). A lock guards this bookkeeping: allocation and free are rare next to the
//! per-CPU operations on the items, which take no lock. A bitmap of allocated items makes
//! a double free an error ([`PoolError::DoubleFree`]).
//!
//! # Population: what memory costs
//!
//! The mapping is private and anonymous, so the kernel populates a page on its first
//! write; a read of a page never written maps the shared zero page and costs nothing.
//!
//! - *Zero*: [`PerCpuPool::alloc_zeroed`] writes nothing. A counter that only CPUs 0 and 3
//!   add to has populated memory on CPUs 0 and 3 only; the other CPUs' copies still read
//!   0 from the zero page (librseq's `RSEQ_MEMPOOL_POPULATE_COW_ZERO`). Freeing scrubs
//!   only copies that are not already zero, so freeing does not populate either.
//! - *Init value*: [`PerCpuPool::alloc_with`] writes `init(cpu)` into every CPU's copy,
//!   populating the item's page on every CPU. librseq's `RSEQ_MEMPOOL_POPULATE_COW_INIT`
//!   avoids that by mapping the init range and every CPU range from one memfd, the CPU
//!   ranges privately, so untouched CPUs share the init page; a write to a CPU copy copies
//!   the page. We chose the simpler policy: the memfd layout needs a shared mapping whose
//!   copy-on-write links a forked child to its parent (librseq forbids using such a pool
//!   in the child), it doubles the mappings of every pool, and the common per-CPU values
//!   (counters, heads, locks) start at zero, where the zero policy already costs nothing.
//!
//! The price is paid at free: scrubbing compares every CPU's copy with zero (librseq's
//! `rseq_percpu_zero_item` does the same at allocation), one read per CPU range, each on
//! its own page. Allocating and freeing an item therefore costs time in proportion to the
//! number of CPU ranges (1–2 µs at 64, 4–5 µs at 256 on the benchmark machine, against
//! 0.2–0.4 µs to allocate and free a boxed array of padded slots; `BENCHMARKS.md`): pools
//! suit objects that live long next to the per-CPU operations on them.
//!
//! [`PerCpuPool::resident_bytes`] reports a pool's resident memory from
//! `/proc/self/smaps`.
//!
//! # Robust mode
//!
//! With [`PoolOptions::robust`], a freed item is filled with [`POISON`] on every CPU, and
//! the next allocation of that item checks the poison on every CPU: a write after the
//! free is reported as [`PoolError::UseAfterFree`] (naming the CPU), and the item is
//! never handed out again. [`PerCpuPool::verify`] checks every free item at once. Double
//! frees are reported in every mode.
//!
//! # Index and fallback
//!
//! A [`CpuId`](crate::CpuId) pool has a range for every possible CPU (more if asked, to
//! simulate a larger machine), so every CPU number the kernel reports has a copy. An
//! [`MmCid`](crate::MmCid) pool has as many ranges as asked (by default one per possible CPU;
//! [`PoolOptions::max_cpus`], the width of the concurrency-id space it serves): a process that runs 8 threads at once
//! on a 256-CPU machine needs 8 ranges. A section compares the concurrency id with the
//! width in its prelude and takes the fallback path when it is not below it, as it does
//! when rseq is unavailable ([`PoolCounter`] then adds to a shared atomic word).
//!
//! # `fork()`
//!
//! A pool is ordinary private memory: a forked child gets a copy-on-write snapshot of
//! every pool (items, free list, allocated bitmap) and can go on using, allocating and
//! freeing in it; what the child writes the parent never sees and the reverse. (librseq's
//! `COW_INIT` pools, built on a shared memfd mapping, cannot be used in the child.) The
//! child's threads register their own rseq areas as any thread does, and a per-CPU copy
//! of the child's is written only by the child's sections of that CPU.
//!
//! # Access from critical sections
//!
//! A [`PerCpuBox`] gives CPU 0's address ([`PerCpuBox::as_ptr`]) and the shift
//! ([`PerCpuBox::stride_shift`]); a section's prelude computes `base + (cpu << shift)`:
//!
//! ```
//! use rseq_percpu::{rseq_critical, PerCpuPool, PoolOptions, Unavailable};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! #[rseq_critical]
//! unsafe fn add(base: usize, shift: u32, n: usize) -> Result<(), Unavailable> {
//!     let cpu = cpu_id();
//!     let word = base + (cpu << shift);
//!     commit_add(word, n);
//!     Ok(())
//! }
//!
//! let pool = PerCpuPool::new(PoolOptions::for_type::<usize>()).unwrap();
//! // SAFETY: zero is an `AtomicUsize`.
//! let hits = unsafe { pool.alloc_zeroed::<AtomicUsize>() }.unwrap();
//! let (base, shift) = (hits.as_ptr() as usize, hits.stride_shift());
//! // SAFETY: the pool has a copy for every CPU the kernel reports, written only here.
//! let added = unsafe { add(base, shift, 3) }.is_ok();
//! let sum: usize = hits.iter().map(|h| h.load(Ordering::Relaxed)).sum();
//! assert_eq!(sum, if added { 3 } else { 0 });
//! ```

mod boxed;
mod counter;
mod error;
mod mapping;
mod raw;
mod set;

pub use self::boxed::PerCpuBox;
pub use self::counter::PoolCounter;
pub use self::error::PoolError;
pub use self::raw::{PerCpuPool, PoolOptions, DEFAULT_STRIDE, POISON};
pub use self::set::PoolSet;
