//! [`PerCpu<T>`]: one cache-line-padded slot per possible CPU.
//!
//! The number of slots is the number of *possible* CPUs as the kernel reports them in
//! `/sys/devices/system/cpu/possible` (the highest possible CPU number + 1, Linux's
//! `nr_cpu_ids`), through [`rseq_abi::cpu::possible_cpus`]. It is neither the number of
//! online CPUs nor the number this process may run on (`nproc`): CPUs come online
//! later, affinity masks change, and the possible mask can have holes, but the kernel
//! never reports a `cpu_id` (nor an `mm_cid`) at or above `nr_cpu_ids`. That count can
//! still grow under a running process (a checkpoint restored on a bigger machine, a
//! possible mask that grows), so the per-CPU sections do not rely on it: each compares
//! the index it read with the slot count in its prelude (one compare and a branch not
//! taken) and takes its operation's fallback path past the end, before any slot is
//! touched.
//!
//! As a guard against a possible-CPU count that came out too small (a `/sys` that is not
//! mounted), the slot count is never below the highest CPU in the creating thread's
//! affinity mask + 1, nor below `sysconf(_SC_NPROCESSORS_CONF)`; on a healthy system
//! both are at most the possible count and change nothing.
//!
//! # Unsafe
//!
//! This module hands out raw slot pointers ([`PerCpu::slot_ptr`]) and implements the
//! unchecked index used after a section checked its index; each block says why it holds.
#![allow(unsafe_code)]

use super::CachePadded;
use core::fmt;

/// One `T` per possible CPU, each in its own [`CachePadded`] slot.
///
/// The slot count is the number of *possible* CPUs (`/sys/devices/system/cpu/possible`:
/// the highest possible CPU number + 1, see [`possible_cpus`](rseq_abi::cpu::possible_cpus)),
/// not the number of online or allowed CPUs: every CPU number and concurrency id the kernel
/// can report has a slot, whatever comes online later or whatever the affinity mask.
///
/// Shared access to another CPU's slot is allowed (`&T`, [`PerCpu::get`],
/// [`PerCpu::iter`]); what a slot may be used for concurrently is up to `T` (the per-CPU
/// building blocks of this crate keep words that only critical sections of the slot's
/// own CPU write).
///
/// ```
/// use rseq_percpu::PerCpu;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let hits: PerCpu<AtomicU64> = PerCpu::new_with(|_cpu| AtomicU64::new(0));
/// assert!(hits.len() >= rseq_abi::cpu::possible_cpus());
/// let cpu = rseq_abi::cpu::current_cpu() as usize;
/// hits[cpu].fetch_add(1, Ordering::Relaxed);
/// assert_eq!(hits.iter().map(|h| h.load(Ordering::Relaxed)).sum::<u64>(), 1);
/// ```
pub struct PerCpu<T> {
    slots: Box<[CachePadded<T>]>,
}

impl<T> PerCpu<T> {
    /// One slot per possible CPU, slot `i` initialised with `init(i)`.
    pub fn new_with(init: impl FnMut(usize) -> T) -> Self {
        Self::with_len(slot_count(), init)
    }

    /// `len` slots (at least 1). Used by [`PerCpu::new_with`], and by the structures'
    /// hidden constructors with a smaller count (the sections send the indices past the
    /// end to the fallback path).
    pub(crate) fn with_len(len: usize, mut init: impl FnMut(usize) -> T) -> Self {
        let len = len.max(1);
        let slots = (0..len).map(|i| CachePadded::new(init(i))).collect();
        PerCpu { slots }
    }

    /// `len` slots (at least 1), or the first error of `init` (the slots made before it
    /// are dropped).
    pub(crate) fn try_with_len<E>(
        len: usize,
        mut init: impl FnMut(usize) -> Result<T, E>,
    ) -> Result<Self, E> {
        let len = len.max(1);
        let slots = (0..len)
            .map(|i| init(i).map(CachePadded::new))
            .collect::<Result<_, E>>()?;
        Ok(PerCpu { slots })
    }

    /// Number of slots: the number of possible CPUs.
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slot of CPU (or concurrency id) `index`, if it exists.
    pub fn get(&self, index: usize) -> Option<&T> {
        self.slots.get(index).map(|slot| &**slot)
    }

    /// The slot of `index`, exclusively.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.slots.get_mut(index).map(|slot| &mut **slot)
    }

    /// The slot of a CPU number or concurrency id read from this thread's rseq area.
    ///
    /// # Safety
    ///
    /// `index` must be below [`PerCpu::len`] (a section checks it in its prelude).
    #[inline(always)]
    pub(crate) unsafe fn get_unchecked(&self, index: usize) -> &T {
        debug_assert!(index < self.slots.len());
        // SAFETY: the caller guarantees `index < len`.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// Raw pointer to the slot of `index`, or null if there is none. For critical sections
    /// that write the slot through a pointer.
    pub fn slot_ptr(&self, index: usize) -> *const T {
        self.get(index)
            .map_or(core::ptr::null(), |slot| slot as *const T)
    }

    /// Iterates over the slots in CPU order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        self.slots.iter().map(|slot| &**slot)
    }

    /// Iterates exclusively over the slots in CPU order.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = &mut T> + '_ {
        self.slots.iter_mut().map(|slot| &mut **slot)
    }
}

impl<T: Default> Default for PerCpu<T> {
    fn default() -> Self {
        Self::new_with(|_| T::default())
    }
}

impl<T> core::ops::Index<usize> for PerCpu<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        &self.slots[index]
    }
}

impl<T> core::ops::IndexMut<usize> for PerCpu<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.slots[index]
    }
}

impl<T: fmt::Debug> fmt::Debug for PerCpu<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The number of slots of every [`PerCpu`]: the possible-CPU count, guarded from below by
/// what the first creating thread can observe directly (see the module docs). Decided once.
///
/// Without a lock (0 is "not yet"): a thread that finds no count computes one and the
/// first to store it wins, so that nothing waits on another thread (the child of a `fork`
/// taken while another thread was computing it would wait forever on a `OnceLock`).
pub(crate) fn slot_count() -> usize {
    use core::sync::atomic::{AtomicUsize, Ordering};
    static SLOTS: AtomicUsize = AtomicUsize::new(0);
    match SLOTS.load(Ordering::Relaxed) {
        0 => {
            let possible = rseq_abi::cpu::possible_cpus();
            let count = possible.max(affinity_bound()).max(configured_cpus()).max(1);
            match SLOTS.compare_exchange(0, count, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => count,
                Err(first) => first,
            }
        }
        count => count,
    }
}

/// Highest CPU in the calling thread's affinity mask + 1 (0 if it cannot be read).
fn affinity_bound() -> usize {
    // SAFETY: `cpu_set_t` is plain bits; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, core::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return 0;
    }
    (0..libc::CPU_SETSIZE as usize)
        .rev()
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the bit length of `set`.
        .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .map_or(0, |cpu| cpu + 1)
}

/// `sysconf(_SC_NPROCESSORS_CONF)`, or 0 when unknown.
fn configured_cpus() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    usize::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_padded_slot_per_possible_cpu() {
        let per_cpu: PerCpu<u8> = PerCpu::new_with(|i| i as u8);
        assert!(per_cpu.len() >= rseq_abi::cpu::possible_cpus());
        assert!(per_cpu.len() >= 1);
        for (i, slot) in per_cpu.iter().enumerate() {
            assert_eq!(*slot as usize, i % 256);
            let addr = slot as *const u8 as usize;
            assert_eq!(addr % core::mem::align_of::<CachePadded<u8>>(), 0);
        }
        if per_cpu.len() > 1 {
            let a = per_cpu.slot_ptr(0) as usize;
            let b = per_cpu.slot_ptr(1) as usize;
            assert_eq!(b - a, core::mem::align_of::<CachePadded<u8>>());
        }
        assert!(per_cpu.get(per_cpu.len()).is_none());
        assert!(per_cpu.slot_ptr(per_cpu.len()).is_null());
    }

    #[test]
    fn the_current_cpu_has_a_slot() {
        let per_cpu: PerCpu<u8> = PerCpu::default();
        assert!((rseq_abi::cpu::current_cpu() as usize) < per_cpu.len());
        assert!(affinity_bound() <= per_cpu.len());
    }

    #[test]
    fn possible_count_matches_sysfs() {
        // Independent reading of the possible mask: "0-1", "0,2-5", ...
        let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
        let max = text
            .trim()
            .split([',', '-'])
            .map(|n| n.parse::<usize>().unwrap())
            .max()
            .unwrap();
        let per_cpu: PerCpu<()> = PerCpu::new_with(|_| ());
        assert_eq!(per_cpu.len(), max + 1);
    }
}
