//! CPU numbers: readers of the calling thread's rseq area (`cpu_id`, `cpu_id_start`,
//! `node_id`, `mm_cid`), [`current_cpu`] with its [`sched_getcpu`] fallback, and the number
//! of possible CPUs from the kernel's possible-CPU mask.
//!
//! # Safety
//!
//! Uses `unsafe` for volatile reads of the area, which the kernel updates behind the
//! compiler's back.
#![allow(unsafe_code)]

use std::sync::OnceLock;

use crate::abi::offsets;
use crate::thread::{area, feature_size, mm_cid_supported};
use crate::Errno;

/// The offset just past `node_id`: a feature size at least this large means the kernel
/// fills it.
const NODE_ID_END: u32 = (offsets::RSEQ_NODE_ID + 4) as u32;

/// Reads the `u32` field at byte offset `field` of the calling thread's area.
#[inline(always)]
fn read_field(field: usize) -> u32 {
    let p = area().cast::<u8>().wrapping_add(field).cast::<u32>();
    // SAFETY: `area()` always designates a readable, 32-byte-aligned `struct rseq` of the
    // calling thread (glibc's area or this crate's own TLS area) and `field` is the offset
    // of a 4-byte-aligned `u32` inside its first 32 bytes; a volatile read of an aligned
    // u32 is the single-copy-atomic load the ABI asks for.
    unsafe { p.read_volatile() }
}

/// The area's `cpu_id` as `i32`: the current CPU when the area is live, otherwise
/// `RSEQ_CPU_ID_UNINITIALIZED` (-1) or `RSEQ_CPU_ID_REGISTRATION_FAILED` (-2).
#[inline]
pub fn cpu_id() -> i32 {
    read_field(offsets::RSEQ_CPU_ID) as i32
}

/// The area's `cpu_id_start`: always a valid CPU number (0 when the area is not live).
#[inline]
pub fn cpu_id_start() -> u32 {
    read_field(offsets::RSEQ_CPU_ID_START)
}

/// The area's `node_id`, when the area is live and the kernel fills it (feature size ≥ 24).
#[inline]
pub fn node_id() -> Option<u32> {
    if cpu_id() < 0 || feature_size() < NODE_ID_END {
        return None;
    }
    Some(read_field(offsets::RSEQ_NODE_ID))
}

/// The area's `mm_cid` (memory-map concurrency id, a compact per-process index below the
/// number of possible CPUs), when the area is live and the kernel fills it (feature size ≥ 28).
#[inline]
pub fn mm_cid() -> Option<u32> {
    if cpu_id() < 0 || !mm_cid_supported() {
        return None;
    }
    Some(read_field(offsets::RSEQ_MM_CID))
}

/// The CPU the calling thread runs on: rseq's `cpu_id` when this thread's area is live,
/// else `sched_getcpu()` (0 if even that fails).
#[inline]
pub fn current_cpu() -> u32 {
    match cpu_id() {
        c if c >= 0 => c as u32,
        _ => sched_getcpu().unwrap_or(0),
    }
}

/// `int sched_getcpu(void)`: the CPU the calling thread is running on.
///
/// See `sched_getcpu(3)`.
pub fn sched_getcpu() -> Result<u32, Errno> {
    // SAFETY: sched_getcpu takes no arguments and touches no caller memory.
    let ret = unsafe { libc::sched_getcpu() };
    if ret >= 0 {
        Ok(ret as u32)
    } else {
        Err(Errno::last())
    }
}

/// The number of possible CPUs: the highest index in `/sys/devices/system/cpu/possible`
/// plus one, decided once (falls back to `sysconf(_SC_NPROCESSORS_CONF)`, then 1).
/// Per-CPU arrays must have this many slots: CPUs can come online later.
pub fn possible_cpus() -> usize {
    static POSSIBLE: OnceLock<usize> = OnceLock::new();
    *POSSIBLE.get_or_init(|| {
        std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .ok()
            .and_then(|s| cpu_list_max(&s))
            .and_then(|max| max.checked_add(1))
            .unwrap_or_else(|| {
                // SAFETY: sysconf takes an integer and has no preconditions.
                let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
                usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1)
            })
    })
}

/// Parses a kernel CPU list (`"0-3,8,10-11\n"`) and returns its highest index, or `None`
/// when the list is empty or malformed.
pub(crate) fn cpu_list_max(list: &str) -> Option<usize> {
    let mut max = None;
    for part in list.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (
                lo.trim().parse::<usize>().ok()?,
                hi.trim().parse::<usize>().ok()?,
            ),
            None => {
                let n = part.trim().parse::<usize>().ok()?;
                (n, n)
            }
        };
        if lo > hi {
            return None;
        }
        max = Some(max.map_or(hi, |m: usize| m.max(hi)));
    }
    max
}

#[cfg(test)]
mod tests {
    use super::{cpu_list_max, possible_cpus};

    #[test]
    fn possible_cpus_from_the_kernel_mask() {
        let mask = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
        let max = cpu_list_max(&mask).unwrap();
        assert_eq!(possible_cpus(), max + 1);
        assert!(rseq_testkit::allowed_cpus()
            .iter()
            .all(|&c| c < possible_cpus()));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list_max("0-1\n"), Some(1));
        assert_eq!(cpu_list_max("0"), Some(0));
        assert_eq!(cpu_list_max("0-3,8,10-11"), Some(11));
        assert_eq!(cpu_list_max("8,0-3"), Some(8));
        assert_eq!(cpu_list_max(""), None);
        assert_eq!(cpu_list_max("3-1"), None);
        assert_eq!(cpu_list_max("0-x"), None);
    }
}
