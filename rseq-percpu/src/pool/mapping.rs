//! The address space of one pool: a `PROT_NONE` reservation of `cpus × stride` bytes,
//! made readable and writable in growing prefixes of every CPU's range, unmapped on drop.
//!
//! The mapping is private and anonymous (`MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE`): the
//! kernel populates a page on its first write (a read maps the shared zero page, which
//! costs no resident memory), so a CPU range that no thread on that CPU ever writes costs
//! nothing but address space and page-table entries. The reservation is advised
//! `MADV_NOHUGEPAGE`, so that population stays page by page.
//!
//! # Unsafe
//!
//! `mmap`, `mprotect` and `munmap` on a range this module owns; each block says why.
#![allow(unsafe_code)]

use super::PoolError;
use core::ptr::NonNull;
use std::io;

/// One pool's reservation.
pub(super) struct Mapping {
    base: NonNull<u8>,
    /// Bytes reserved: `cpus << stride_shift`.
    len: usize,
    cpus: usize,
    stride_shift: u32,
    /// Bytes at the start of every CPU range that are readable and writable.
    usable: usize,
}

// SAFETY: the mapping is plain memory owned by this value; which thread maps, protects or
// unmaps it does not matter.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` only reads the fields; the memory's own synchronisation is the pool's.
unsafe impl Sync for Mapping {}

/// The system page size.
pub(super) fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(1)
}

impl Mapping {
    /// Reserves `cpus` ranges of `1 << stride_shift` bytes each, none of them usable yet.
    pub(super) fn reserve(cpus: usize, stride_shift: u32) -> Result<Mapping, PoolError> {
        let len = 1usize
            .checked_shl(stride_shift)
            .and_then(|stride| stride.checked_mul(cpus))
            .ok_or(PoolError::TooLarge)?;
        // One never-opened guard page on each side: the kernel merges adjacent anonymous
        // mappings with the same protection into one, so without them a fully opened pool
        // would share a mapping (and its resident-page count in `/proc/self/smaps`) with a
        // neighbouring pool or heap.
        let guarded = len
            .checked_add(2 * page_size())
            .ok_or(PoolError::TooLarge)?;
        // SAFETY: a fresh anonymous mapping at an address the kernel chooses; it overlaps
        // nothing this process uses.
        let addr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                guarded,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(PoolError::Map(io::Error::last_os_error()));
        }
        // No transparent huge pages: once the CPU ranges are fully opened they merge into
        // one mapping, where a first write could populate 2 MiB, other CPUs' ranges
        // included. Best effort: a kernel without THP refuses the advice, which is harmless.
        // SAFETY: advice on the range just mapped; it changes no contents.
        unsafe { libc::madvise(addr, guarded, libc::MADV_NOHUGEPAGE) };
        // SAFETY: `addr + page` is inside the mapping of `guarded` bytes just made.
        let base = unsafe { addr.cast::<u8>().add(page_size()) };
        let base = NonNull::new(base).ok_or(PoolError::TooLarge)?;
        Ok(Mapping {
            base,
            len,
            cpus,
            stride_shift,
            usable: 0,
        })
    }

    /// The start of CPU 0's range.
    pub(super) fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Bytes reserved in all.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes usable at the start of every CPU range.
    pub(super) fn usable(&self) -> usize {
        self.usable
    }

    /// Makes the first `bytes` (rounded up to whole pages, at most the stride) of every CPU
    /// range readable and writable. Populates nothing: the kernel does, on first write.
    pub(super) fn grow_to(&mut self, bytes: usize) -> Result<(), PoolError> {
        let stride = 1usize << self.stride_shift;
        let page = page_size();
        let bytes = bytes.div_ceil(page).saturating_mul(page).min(stride);
        if bytes <= self.usable {
            return Ok(());
        }
        for cpu in 0..self.cpus {
            let start = (cpu << self.stride_shift) + self.usable;
            // SAFETY: `[start, start + bytes - usable)` lies inside this CPU's range of the
            // reservation (`bytes <= stride`), which this value owns; the start is
            // page-aligned (base, stride and `usable` are).
            let rc = unsafe {
                libc::mprotect(
                    self.base.as_ptr().add(start).cast(),
                    bytes - self.usable,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if rc != 0 {
                let error = io::Error::last_os_error();
                // Leave the ranges consistent: take back what was opened on this round.
                for done in 0..cpu {
                    let start = (done << self.stride_shift) + self.usable;
                    // SAFETY: the range opened above for CPU `done`, inside the reservation.
                    unsafe {
                        libc::mprotect(
                            self.base.as_ptr().add(start).cast(),
                            bytes - self.usable,
                            libc::PROT_NONE,
                        );
                    }
                }
                return Err(PoolError::Map(error));
            }
        }
        self.usable = bytes;
        Ok(())
    }

    /// Resident bytes of the reservation: the sum of `Rss:` over the mappings of
    /// `/proc/self/smaps` that lie inside it.
    pub(super) fn resident_bytes(&self) -> io::Result<usize> {
        resident_bytes_in(self.base.as_ptr() as usize, self.len)
    }
}

/// Resident bytes of `[start, start + len)`, from `/proc/self/smaps` (mappings that
/// overlap the range count in full).
pub(super) fn resident_bytes_in(start: usize, len: usize) -> io::Result<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let end = start.saturating_add(len);
    let mut inside = false;
    let mut total_kib = 0usize;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = lo < end && hi > start;
                continue;
            }
        }
        if inside && first == "Rss:" {
            total_kib += words.next().and_then(|kib| kib.parse().ok()).unwrap_or(0);
        }
    }
    Ok(total_kib * 1024)
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the whole reservation with its guard pages, mapped in `reserve` and owned
        // by this value; no item outlives the pool (handles borrow it).
        unsafe {
            libc::munmap(
                self.base.as_ptr().sub(page_size()).cast(),
                self.len + 2 * page_size(),
            );
        }
    }
}
