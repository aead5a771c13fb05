//! Per-CPU data structures built from restartable sequences.
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
//! [`Unavailable`](crate::thread::Unavailable) when
//! [`prepare_current_thread`](crate::thread::prepare_current_thread) cannot make it live
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
//! # Unsafe
//!
//! The critical sections dereference raw slot addresses, and the structures hand out
//! interior references under their own synchronisation; each `unsafe` block says why it
//! holds.

mod attempt;
mod cache_padded;
mod counter;
mod index;
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
pub use self::counter::PerCpuCounter;
pub use self::index::{CpuId, IndexKind, MmCid, Slot};
pub use self::ring::PerCpuRing;
pub use self::ring_copy::PerCpuCopyRing;
pub use self::spinlock::{PerCpuSpinLock, PerCpuSpinLockGuard};
pub use self::stack::{PerCpuStack, StackLink, StackNode};
pub use self::storage::PerCpu;
