//! How long a registration is and which fields of `struct rseq` the kernel fills: pure
//! decisions over the auxiliary vector, glibc's `__rseq_size` and the own area's
//! capacity, kept free of system calls so that every kernel and C library generation can
//! be unit-tested on any machine.
//!
//! The rules, from the kernel's `include/uapi/linux/rseq.h` and `kernel/rseq.c`:
//!
//! - The kernel fills the fields up to `AT_RSEQ_FEATURE_SIZE` bytes (20 before Linux 6.3,
//!   which has no auxiliary-vector entry; 28 from 6.3; 33 from 7.0), and never past the
//!   length the area was registered with.
//! - A registration of exactly 32 bytes aligned to 32 is always accepted. A longer one
//!   must cover the feature size and be aligned to `AT_RSEQ_ALIGN` (the kernel's
//!   `__alignof__(struct rseq)`: 32 until 6.19, 64 from 7.0).
//! - One registration per thread: a second call with another length fails (`EINVAL`).

use super::area::{OWN_AREA_ALIGN, OWN_AREA_CAPACITY};
use crate::abi::{offsets, ORIG_RSEQ_SIZE, RSEQ_ORIG_FEATURE_SIZE, RSEQ_SLICE_CTRL_FEATURE_SIZE};

bitflags::bitflags! {
    /// The fields of `struct rseq` the kernel fills in the calling thread's area: the
    /// answer of [`features`](super::features).
    ///
    /// Empty when the thread's area is not live (rseq refused, a foreign area registered,
    /// the thread exited).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Features: u32 {
        /// `cpu_id_start`, `cpu_id` and the `rseq_cs` protocol (every kernel with rseq).
        const CPU_ID = 1 << 0;
        /// `node_id` (feature size ≥ 24, Linux 6.3+).
        const NODE_ID = 1 << 1;
        /// `mm_cid` (feature size ≥ 28, Linux 6.3+).
        const MM_CID = 1 << 2;
        /// `slice_ctrl`, the time-slice extension word (feature size ≥ 32, Linux 7.0+).
        /// Whether the extension can be used is [`crate::slice::support`]'s answer.
        const SLICE_CTRL = 1 << 3;
    }
}

impl Features {
    /// The fields a live area fills when the usable feature size is `feature_size`
    /// (`min(registered length, AT_RSEQ_FEATURE_SIZE)`).
    pub const fn covered_by(feature_size: u32) -> Features {
        let mut bits = 0;
        if feature_size >= RSEQ_ORIG_FEATURE_SIZE {
            bits |= Features::CPU_ID.bits();
        }
        if feature_size >= (offsets::RSEQ_NODE_ID + 4) as u32 {
            bits |= Features::NODE_ID.bits();
        }
        if feature_size >= (offsets::RSEQ_MM_CID + 4) as u32 {
            bits |= Features::MM_CID.bits();
        }
        if feature_size >= RSEQ_SLICE_CTRL_FEATURE_SIZE {
            bits |= Features::SLICE_CTRL.bits();
        }
        Features::from_bits_retain(bits)
    }
}

/// `min(registered length, AT_RSEQ_FEATURE_SIZE)`: how many bytes the kernel fills in an
/// area registered with `registered_len` bytes; a kernel without the auxiliary-vector
/// entry (`None`) fills the original 20.
pub(crate) fn usable_feature_size(registered_len: u32, auxv_feature_size: Option<u32>) -> u32 {
    registered_len.min(auxv_feature_size.unwrap_or(RSEQ_ORIG_FEATURE_SIZE))
}

/// The fields the kernel fills for a thread whose live area was registered with
/// `registered_len` bytes (`None`: the thread has no live area this crate can use).
pub(crate) fn features_of(registered_len: Option<u32>, auxv_feature_size: Option<u32>) -> Features {
    match registered_len {
        Some(len) => Features::covered_by(usable_feature_size(len, auxv_feature_size)),
        None => Features::empty(),
    }
}

/// The length this crate registers its own area with, given the auxiliary vector
/// (`AT_RSEQ_FEATURE_SIZE`, `AT_RSEQ_ALIGN`; `None` where absent) and the area's
/// `capacity` and alignment `area_align`.
///
/// When the kernel fills no more than the original 32 bytes, or does not say (kernels
/// before 6.3), the answer is 32, which every kernel accepts at 32-byte alignment.
/// Otherwise it is the feature size rounded up to `max(AT_RSEQ_ALIGN, 32)`, the
/// `sizeof(struct rseq)` of that kernel's uapi header (64 for Linux 7.0's 33/64), provided
/// the area is large and aligned enough; else 32 again (the kernel then fills only the
/// first 32 bytes).
pub(crate) fn own_registration_len(
    auxv_feature_size: Option<u32>,
    auxv_align: Option<u32>,
    capacity: u32,
    area_align: u32,
) -> u32 {
    let Some(feature_size) = auxv_feature_size else {
        return ORIG_RSEQ_SIZE;
    };
    if feature_size <= ORIG_RSEQ_SIZE {
        return ORIG_RSEQ_SIZE;
    }
    let align = auxv_align.unwrap_or(ORIG_RSEQ_SIZE).max(ORIG_RSEQ_SIZE);
    if !align.is_power_of_two() || align > area_align {
        return ORIG_RSEQ_SIZE;
    }
    match feature_size.checked_next_multiple_of(align) {
        Some(len) if len <= capacity => len,
        _ => ORIG_RSEQ_SIZE,
    }
}

/// [`own_registration_len`] for the running kernel and this build's own area: the length
/// the first registration attempt uses.
pub(crate) fn planned_own_len() -> u32 {
    own_registration_len(
        crate::auxv::rseq_feature_size(),
        crate::auxv::rseq_align(),
        OWN_AREA_CAPACITY,
        OWN_AREA_ALIGN,
    )
}

#[cfg(test)]
mod tests {
    use super::{features_of, own_registration_len, usable_feature_size, Features};
    use crate::glibc::GlibcRseq;

    /// The own area of this crate without the legacy feature: 256 bytes aligned to 64.
    fn own(feature_size: u32, align: u32) -> u32 {
        let opt = |v: u32| (v != 0).then_some(v);
        own_registration_len(opt(feature_size), opt(align), 256, 64)
    }

    /// The length glibc registered, from the `__rseq_size` it reports.
    fn glibc(size: u32) -> u32 {
        GlibcRseq {
            offset: 0,
            size,
            flags: 0,
        }
        .registered_len()
    }

    const ALL_BUT_SLICE: Features = Features::CPU_ID
        .union(Features::NODE_ID)
        .union(Features::MM_CID);

    #[test]
    fn own_length_on_linux_6_18() {
        // AT_RSEQ_FEATURE_SIZE 28, AT_RSEQ_ALIGN 32: the original 32 bytes.
        assert_eq!(own(28, 32), 32);
        assert_eq!(usable_feature_size(own(28, 32), Some(28)), 28);
        assert_eq!(features_of(Some(own(28, 32)), Some(28)), ALL_BUT_SLICE);
    }

    #[test]
    fn own_length_on_linux_7_0() {
        // AT_RSEQ_FEATURE_SIZE 33, AT_RSEQ_ALIGN 64: sizeof(struct rseq) = 64.
        assert_eq!(own(33, 64), 64);
        assert_eq!(usable_feature_size(64, Some(33)), 33);
        assert_eq!(features_of(Some(64), Some(33)), Features::all());
        // Refused and retried with 32: the first 32 bytes, slice_ctrl included.
        assert_eq!(usable_feature_size(32, Some(33)), 32);
        assert_eq!(features_of(Some(32), Some(33)), Features::all());
    }

    #[test]
    fn own_length_without_auxv_entries() {
        // Linux before 6.3 (getauxval answers 0): 32 bytes, of which 20 are filled.
        assert_eq!(own(0, 0), 32);
        assert_eq!(usable_feature_size(32, None), 20);
        assert_eq!(features_of(Some(32), None), Features::CPU_ID);
    }

    #[test]
    fn own_length_limits() {
        // A future kernel: rounded up to its alignment while it fits.
        assert_eq!(own(65, 64), 128);
        assert_eq!(own(200, 32), 224);
        // Too large or too strictly aligned for the area: the original 32 bytes.
        assert_eq!(own(257, 64), 32);
        assert_eq!(own(40, 128), 32);
        // A nonsensical alignment is not trusted.
        assert_eq!(own(40, 48), 32);
        // Feature size past 32 with no alignment entry: 32-byte alignment.
        assert_eq!(own(33, 0), 64);
        // The legacy `__rseq_abi` is 32 bytes aligned to 32: always 32.
        assert_eq!(own_registration_len(Some(33), Some(64), 32, 32), 32);
        assert_eq!(own_registration_len(Some(u32::MAX), Some(32), 256, 64), 32);
    }

    #[test]
    fn glibc_combinations() {
        // glibc 2.35-2.39 report 32, 2.40 and its backports 20, for a 32-byte area.
        assert_eq!(features_of(Some(glibc(32)), Some(28)), ALL_BUT_SLICE);
        assert_eq!(features_of(Some(glibc(20)), Some(28)), ALL_BUT_SLICE);
        // The same releases on Linux 7.0: the 32 bytes include slice_ctrl.
        assert_eq!(features_of(Some(glibc(20)), Some(33)), Features::all());
        // glibc 2.41+ report the feature size they registered for: 33 on Linux 7.0, 28
        // on 6.18 (registered with 32).
        assert_eq!(usable_feature_size(glibc(33), Some(33)), 33);
        assert_eq!(features_of(Some(glibc(33)), Some(33)), Features::all());
        assert_eq!(features_of(Some(glibc(28)), Some(28)), ALL_BUT_SLICE);
        // Before Linux 6.3 (no auxv entry): the original 20 bytes.
        assert_eq!(features_of(Some(glibc(32)), None), Features::CPU_ID);
    }

    #[test]
    fn no_live_area() {
        // Foreign area, rseq refused, glibc's registration failed, thread exited.
        assert_eq!(features_of(None, Some(33)), Features::empty());
        assert_eq!(features_of(None, None), Features::empty());
    }

    #[test]
    fn covered_by_thresholds() {
        assert_eq!(Features::covered_by(0), Features::empty());
        assert_eq!(Features::covered_by(20), Features::CPU_ID);
        assert_eq!(
            Features::covered_by(24),
            Features::CPU_ID | Features::NODE_ID
        );
        assert_eq!(Features::covered_by(28), ALL_BUT_SLICE);
        assert_eq!(Features::covered_by(31), ALL_BUT_SLICE);
        assert_eq!(Features::covered_by(32), Features::all());
    }
}
