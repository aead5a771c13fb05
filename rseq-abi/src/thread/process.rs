//! The process-wide decision, taken once: who registers rseq areas in this process and
//! where each thread's area lies relative to its thread pointer.
//!
//! 1. glibc exports `__rseq_size > 0` and the deciding thread's area at
//!    `tp + __rseq_offset` does not hold `RSEQ_CPU_ID_REGISTRATION_FAILED`: glibc owns
//!    registration, and the offset is `__rseq_offset`.
//! 2. glibc exports `__rseq_size > 0` but its registration failed (`cpu_id` is -2): rseq
//!    is refused (old kernel, seccomp); the offset designates this crate's own area, which
//!    is never registered.
//! 3. Otherwise (glibc absent, older than 2.35, or `glibc.pthread.rseq=0`): this crate
//!    registers its own area on each thread that asks (see `registration`), and the offset
//!    designates that area.
//!
//! The usable feature size is `min(registered length, AT_RSEQ_FEATURE_SIZE)`, where glibc's
//! registered length is at least 32 whatever `__rseq_size` reports (glibc 2.35-2.39 report
//! 32, later releases 20, for the same 32-byte registration), and kernels without
//! `AT_RSEQ_FEATURE_SIZE` fill the original 20 bytes.
//!
//! The decision is taken before any section can run, by a constructor in `.init_array`
//! (see `load`), and kept in a [`PublishOnce`], which never makes a reader wait.
#![allow(unsafe_code)]

use super::arch;
use super::extent::planned_own_len;
use super::once::PublishOnce;
use crate::abi::{Rseq, RSEQ_CPU_ID_REGISTRATION_FAILED, RSEQ_ORIG_FEATURE_SIZE};
use crate::glibc::{self, GlibcRseq};

/// Who is responsible for registering each thread's area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// glibc registered (or registers) every thread's area.
    Glibc(GlibcRseq),
    /// glibc owns registration, but its registration failed on the deciding thread.
    GlibcFailed,
    /// Nobody registers for us: this crate registers its own area per thread.
    Crate,
}

/// The process-wide facts decided once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Process {
    /// Offset of every thread's area from its thread pointer.
    pub offset: isize,
    /// Who registers.
    pub owner: Owner,
    /// glibc's exported rseq variables, when present.
    pub glibc: Option<GlibcRseq>,
    /// How many bytes of the area the kernel fills.
    pub feature_size: u32,
}

static PROCESS: PublishOnce<Process> = PublishOnce::new();

/// The process-wide facts: decided at load time by the `load` constructor, or on first
/// use if it did not run. Never waits (see `PublishOnce`): a caller that finds no
/// published decision (a signal handler interrupting the first decision on its own
/// thread, the child of a fork taken during it) decides again, with the same answer.
pub(crate) fn process() -> Process {
    PROCESS.get_or_publish(decide)
}

/// Whether the decision was published (by the load-time constructor or a first use).
pub(crate) fn decided() -> bool {
    PROCESS.get().is_some()
}

fn cpu_id_at(offset: isize) -> i32 {
    let area = arch::thread_pointer().wrapping_offset(offset) as *const Rseq;
    // SAFETY: `offset` is glibc's `__rseq_offset` or this crate's own TLS offset; both
    // designate a readable, aligned `struct rseq` in every thread's static TLS block.
    unsafe { core::ptr::addr_of!((*area).cpu_id).read_volatile() as i32 }
}

fn decide() -> Process {
    let auxv_feature_size = crate::auxv::rseq_feature_size();
    let glibc = glibc::rseq_symbols();
    let own_offset = arch::own_area_offset();
    let (offset, owner, registered_len) = match glibc {
        Some(g) if g.size > 0 => {
            if cpu_id_at(g.offset) == RSEQ_CPU_ID_REGISTRATION_FAILED {
                (own_offset, Owner::GlibcFailed, planned_own_len())
            } else {
                (g.offset, Owner::Glibc(g), g.registered_len())
            }
        }
        _ => (own_offset, Owner::Crate, planned_own_len()),
    };
    Process {
        offset,
        owner,
        glibc,
        feature_size: usable_feature_size(registered_len, auxv_feature_size),
    }
}

/// `min(registered length, AT_RSEQ_FEATURE_SIZE)`; kernels without the auxv entry fill the
/// original 20 bytes.
fn usable_feature_size(registered_len: u32, auxv_feature_size: Option<u32>) -> u32 {
    registered_len.min(auxv_feature_size.unwrap_or(RSEQ_ORIG_FEATURE_SIZE))
}

#[cfg(test)]
mod tests {
    use super::usable_feature_size;
    use crate::glibc::GlibcRseq;

    fn glibc(size: u32) -> u32 {
        GlibcRseq {
            offset: 0,
            size,
            flags: 0,
        }
        .registered_len()
    }

    #[test]
    fn glibc_size_quirks() {
        // glibc 2.35-2.39 report 32, 2.40 and backports 20, for the same 32-byte area.
        assert_eq!(usable_feature_size(glibc(32), Some(28)), 28);
        assert_eq!(usable_feature_size(glibc(20), Some(28)), 28);
        // glibc 2.41+ report the extended size they registered.
        assert_eq!(usable_feature_size(glibc(28), Some(28)), 28);
        assert_eq!(usable_feature_size(glibc(36), Some(36)), 36);
        // A kernel before 6.3 fills 20 bytes whatever was registered.
        assert_eq!(usable_feature_size(glibc(32), None), 20);
        // The own area is 32 bytes: fields past it are never filled.
        assert_eq!(usable_feature_size(32, Some(36)), 32);
    }
}
