//! The auxiliary-vector entries that describe the kernel's rseq support:
//! `AT_RSEQ_FEATURE_SIZE` (27) and `AT_RSEQ_ALIGN` (28), present since Linux 6.3.
//!
//! # Safety
//!
//! Uses `unsafe` only to call `getauxval(3)`.
#![allow(unsafe_code)]

use crate::abi::{AT_RSEQ_ALIGN, AT_RSEQ_FEATURE_SIZE};

fn getauxval(kind: u64) -> Option<u64> {
    // SAFETY: getauxval takes an integer, reads the process's own auxiliary vector and
    // returns 0 for a missing entry; it has no preconditions.
    let v = unsafe { libc::getauxval(kind as libc::c_ulong) };
    (v != 0).then_some(v)
}

/// `getauxval(AT_RSEQ_FEATURE_SIZE)`: the size of the `struct rseq` fields the running
/// kernel fills, or `None` on kernels older than 6.3 (which fill the original 20 bytes).
pub fn rseq_feature_size() -> Option<u32> {
    getauxval(AT_RSEQ_FEATURE_SIZE).and_then(|v| u32::try_from(v).ok())
}

/// `getauxval(AT_RSEQ_ALIGN)`: the alignment the kernel requires of an area registered
/// with a length other than 32, or `None` on kernels older than 6.3.
pub fn rseq_align() -> Option<u32> {
    getauxval(AT_RSEQ_ALIGN).and_then(|v| u32::try_from(v).ok())
}
