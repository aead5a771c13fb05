//! Per-CPU data structures built from restartable sequences, and the `#[rseq_critical]`
//! macro they are written with ([`rseq_critical`], re-exported from `rseq-macros`, whose
//! version this crate pins exactly).
//!
//! Each structure keeps one slot per possible CPU ([`PerCpu`], padded to a cache line by
//! [`CachePadded`]) and changes a slot only inside an `#[rseq_critical]` section bound
//! to that slot's index. The kernel restarts (aborts) such a section whenever the thread
//! is preempted, migrated or signalled before its single commit store, so the
//! read-modify-write of a slot is atomic with respect to every other thread that can
//! touch it (the threads running on the same CPU), without a lock and without an atomic
//! read-modify-write instruction.
//!
//! | type | operations | section shape (librseq name) |
//! | --- | --- | --- |
//! | [`PerCpuCounter`] | `add`, `sum` | add to a word (`rseq_load_add_store__ptr`) |
//! | [`PerCpuSpinLock`] | `lock` → guard + slot | compare and store (`rseq_load_cbne_store__ptr`) |
//! | [`PerCpuStack`] | `push`, `pop` | compare and store; list pop (`rseq_load_cbeq_store_add_load_store__ptr`) |
//! | [`PerCpuRing`] | `push`, `pop` | compare, speculative store, commit-release (`rseq_load_cbne_store_store__ptr`) |
//! | [`PerCpuCopyRing`] | `push`, `pop` | compare, bounded memcpy, commit (`rseq_load_cbne_memcpy_store__ptr`) |
//!
//! # Index: CPU number or concurrency id
//!
//! Every structure takes an [`IndexKind`] type parameter: [`CpuId`] (the default; the
//! slot of the CPU the thread runs on) or [`MmCid`] (the slot of the thread's memory-map
//! concurrency id, a compact per-process number below the number of CPUs the process
//! uses at once; Linux 6.3+). With `mm_cid` indexing a process that runs a few threads on
//! a large machine touches only the first few slots (fewer cache lines, and pops find what
//! other threads pushed more often). Where the kernel does not fill `mm_cid`, an
//! `MmCid` structure always takes its fallback path.
//!
//! # When rseq is unavailable
//!
//! A section on a thread whose rseq area is not live aborts, and the section reports
//! [`Unavailable`] when
//! [`prepare_current_thread`](rseq_abi::thread::prepare_current_thread) cannot make it live
//! (kernel without rseq, a seccomp filter, another library's registration, ...). The
//! operation then takes its fallback path, which uses atomics on a separate *shared* slot
//! that critical sections never write: a per-CPU slot is written only by critical sections
//! of its own index, so fallback threads and rseq threads can run at the same time in one
//! process and every result stays exact. `sum` adds the shared slot too; a `pop` on a
//! thread with rseq takes from its CPU's slot and, when that is empty, from the shared one;
//! a `pop` on a thread without rseq sees the shared slot only.
//!
//! [`aborted_sections`] counts the sections the kernel aborted (each then retried): a
//! diagnostic for stress tests, costing one relaxed atomic add on the abort path only.
//!
//! # Memory model: asm accesses are relaxed atomic accesses
//!
//! Per-CPU words are atomics (`AtomicU64`, `AtomicUsize`) that two kinds of code touch:
//! the critical sections, whose loads, stores and commits are plain instructions inside
//! an `asm!` block, and ordinary Rust on other threads (`sum()` and `len_of` with relaxed
//! loads, the spin lock's release store in `unlock`, the ring pop's acquire load of the
//! tail, the drains through `&mut`). This is sound under one rule, which every structure
//! here relies on:
//!
//! > An aligned, word-sized access made by a section's assembly to a word that Rust code
//! > treats as an atomic is a *relaxed atomic access* of that word (`commit_release` is a
//! > release store); the read-modify-write of `commit_add` is a relaxed load followed by
//! > a relaxed store, not an atomic read-modify-write.
//!
//! Why it holds: Rust requires an `asm!` block to behave like *some* Rust code the
//! compiler cannot see, and its data-race rule applies to that code. The Rust code that
//! the sections stand for is `AtomicU64::load`/`store(Ordering::Relaxed)` (and
//! `store(Ordering::Release)` for `commit_release`): on every supported architecture a
//! relaxed atomic load or store of an aligned word compiles to exactly the plain
//! instruction the section uses (x86_64 `mov`, aarch64 `ldr`/`str`, riscv64 `ld`/`sd`),
//! and such an access is single-copy atomic in the hardware memory model (no torn
//! reads), so no execution of the asm is one that relaxed atomics could not have. With
//! that reading there is no data race: concurrent accesses from other threads are atomic
//! too, and a per-CPU word is written only by sections of its own index (plus the lock
//! holder's release store, and `&mut` drains that exclude everything else). The order
//! between two sections of the same index (two threads on one CPU, or one thread before
//! and after a migration) is given by the kernel, whose context switch and migration are
//! full barriers, and the section's restart on preemption makes its load-to-commit
//! sequence appear indivisible: that is the mechanism rseq provides, not a Rust ordering.
//! Plain (non-atomic) Rust accesses to a per-CPU word while sections may run would break
//! the rule; the structures make none. The same rule is the safety contract of every
//! `#[rseq_critical]` function (see the `rseq-macros` crate docs).
//!
//! # Unsafe
//!
//! The critical sections dereference raw slot addresses, and the structures hand out
//! interior references under their own synchronisation; each `unsafe` block says why it
//! holds.

#![deny(unsafe_code)]

// Code generated by `#[rseq_critical]` names this crate `::rseq_percpu`, also inside it.
extern crate self as rseq_percpu;

mod attempt;
mod cache_padded;
mod capacity;
mod counter;
mod index;
pub mod pool;
mod primitive;
mod ring;
mod ring_copy;
mod shared;
mod spinlock;
mod stack;
mod storage;
#[cfg(test)]
mod testing;

pub use self::attempt::aborted_sections;
pub use self::cache_padded::CachePadded;
pub use self::capacity::CapacityError;
pub use self::counter::PerCpuCounter;
pub use self::index::{CpuId, IndexKind, MmCid, Slot};
pub use self::pool::{PerCpuBox, PerCpuPool, PoolCounter, PoolError, PoolOptions, PoolSet};
pub use self::ring::PerCpuRing;
pub use self::ring_copy::PerCpuCopyRing;
pub use self::spinlock::{PerCpuSpinLock, PerCpuSpinLockGuard};
pub use self::stack::{PerCpuStack, StackLink, StackNode};
pub use self::storage::PerCpu;

pub use rseq_abi::thread::Unavailable;
/// `#[rseq_critical]`: restartable-sequence critical sections from a small Rust DSL.
pub use rseq_macros::rseq_critical;

/// What code generated by `#[rseq_critical]` uses, and nothing else: not a public API.
///
/// The macro crate's version is pinned exactly by this crate, so these paths may change
/// in any release without breaking an expansion.
#[doc(hidden)]
pub mod __private {
    pub use rseq_abi::abi::{offsets, Rseq, RseqCs, RSEQ_SIG};
    pub use rseq_abi::thread::{
        area, area_offset, mm_cid_supported, prepare_current_thread, prepare_current_thread_mm_cid,
        Unavailable,
    };
}
