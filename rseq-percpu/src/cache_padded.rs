//! [`CachePadded`]: crossbeam-utils' cache-line padding, which keeps two per-CPU slots
//! from ever sharing a cache line (no false sharing between CPUs).
//!
//! Its alignment is crossbeam's per-architecture destructive-interference size: 128 bytes
//! on `x86_64` (the L2 spatial prefetcher pairs 64-byte lines), `aarch64` (some cores have
//! 128-byte lines) and `powerpc64`; 256 on `s390x`; 32 on `arm` and `mips`; 64 elsewhere
//! (`riscv64` included). The per-CPU structures rely on what the tests below check: every
//! `CachePadded<T>` starts on that boundary, its size is a multiple of it, and the value
//! sits at the start of its block, so consecutive slots of an array are exactly one
//! padded block apart.

pub use crossbeam_utils::CachePadded;

#[cfg(test)]
mod tests {
    use super::CachePadded;
    use core::mem::{align_of, size_of};

    /// The per-architecture alignment of the module docs, as numbers.
    const EXPECTED_ALIGN: usize = if cfg!(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64"
    )) {
        128
    } else if cfg!(target_arch = "s390x") {
        256
    } else if cfg!(any(
        target_arch = "arm",
        target_arch = "mips",
        target_arch = "mips64"
    )) {
        32
    } else {
        64
    };

    #[test]
    fn alignment_is_the_documented_one() {
        assert_eq!(align_of::<CachePadded<u8>>(), EXPECTED_ALIGN);
        assert_eq!(align_of::<CachePadded<u64>>(), EXPECTED_ALIGN);
        assert_eq!(align_of::<CachePadded<[u8; 1000]>>(), EXPECTED_ALIGN);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(EXPECTED_ALIGN, 128);
    }

    #[test]
    fn size_is_rounded_up_to_whole_lines() {
        assert_eq!(size_of::<CachePadded<u8>>(), EXPECTED_ALIGN);
        // A zero-sized value stays zero-sized, but still aligned.
        assert_eq!(size_of::<CachePadded<()>>(), 0);
        assert_eq!(size_of::<CachePadded<[u8; 129]>>() % EXPECTED_ALIGN, 0);
        assert!(size_of::<CachePadded<[u8; 129]>>() >= 129);
        assert_eq!(
            size_of::<CachePadded<[u8; 300]>>(),
            300usize.div_ceil(EXPECTED_ALIGN) * EXPECTED_ALIGN
        );
    }

    #[test]
    fn array_elements_never_share_a_line() {
        let slots: Vec<CachePadded<u32>> = (0..5).map(CachePadded::new).collect();
        for pair in slots.windows(2) {
            let a = &pair[0] as *const CachePadded<u32> as usize;
            let b = &pair[1] as *const CachePadded<u32> as usize;
            assert_eq!(a % EXPECTED_ALIGN, 0);
            assert_eq!(b - a, EXPECTED_ALIGN);
            // The padded value is at the start of its block.
            assert_eq!(&*pair[0] as *const u32 as usize, a);
        }
        assert_eq!(*slots[3], 3);
    }
}
