//! [`CachePadded`]: aligns and pads a value to the length of a cache line, so that two
//! per-CPU slots never share one (no false sharing between CPUs).
//!
//! The per-architecture alignment, with its reasons and sources, is documented on the type.

use core::fmt;
use core::ops::{Deref, DerefMut};

/// A value aligned and padded to [`CachePadded::ALIGN`] bytes: the destructive
/// interference size of the target architecture.
///
/// The alignment is a property of the target architecture, stated here once with the
/// reason and the source for each value:
///
/// | architecture | bytes | why |
/// | --- | --- | --- |
/// | `x86_64` | 128 | 64-byte lines, but since Sandy Bridge the L2 *spatial prefetcher* (the "adjacent cache line" prefetcher) completes every line to its 128-byte-aligned pair, so two values in the same 128-byte block still ping-pong between cores (Intel 64 and IA-32 Architectures Optimization Reference Manual, section "Hardware prefetching for the second-level cache"; folly's `hardware_destructive_interference_size` is 128 on x86_64 for the same reason) |
/// | `aarch64` | 128 | most cores have 64-byte lines, but some have 128 (Apple M1 and later, Cavium ThunderX, Marvell ThunderX2 L2/L3); Linux's `arch/arm64/include/asm/cache.h` sets `ARCH_DMA_MINALIGN` to 128 for that reason |
/// | `powerpc64` | 128 | 128-byte lines on POWER (`arch/powerpc/include/asm/cache.h`: `L1_CACHE_SHIFT` 7 on 64-bit) |
/// | `s390x` | 256 | 256-byte lines (`arch/s390/include/asm/cache.h`: `L1_CACHE_SHIFT` 8) |
/// | `arm`, `mips`, `mips64` | 32 | 32-byte lines on the common cores of these families (`L1_CACHE_SHIFT` 5 in their default kernel configurations) |
/// | everything else (`x86`, `riscv64`, `loongarch64`, ...) | 64 | 64-byte lines (RISC-V: the Zic64b profile requirement; LoongArch: `L1_CACHE_SHIFT` 6) |
///
/// Over-aligning costs memory only; under-aligning costs throughput on every contended
/// update, so where an architecture has cores with two line sizes the larger one is used.
///
/// `size_of::<CachePadded<T>>()` is a multiple of `ALIGN` and every `CachePadded<T>`
/// starts on an `ALIGN`-byte boundary, so in an array of them no two elements ever share
/// a cache line (or an adjacent-line prefetch pair).
///
/// ```
/// use rseq_percpu::CachePadded;
///
/// let slots = [CachePadded::new(0u64), CachePadded::new(0u64)];
/// let a = &slots[0] as *const _ as usize;
/// let b = &slots[1] as *const _ as usize;
/// assert_eq!(a % CachePadded::<u64>::ALIGN, 0);
/// assert_eq!(b - a, CachePadded::<u64>::ALIGN);
/// assert_eq!(*slots[1], 0);
/// ```
#[cfg_attr(
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64"
    ),
    repr(C, align(128))
)]
#[cfg_attr(target_arch = "s390x", repr(C, align(256)))]
#[cfg_attr(
    any(target_arch = "arm", target_arch = "mips", target_arch = "mips64"),
    repr(C, align(32))
)]
#[cfg_attr(
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "arm",
        target_arch = "mips",
        target_arch = "mips64",
    )),
    repr(C, align(64))
)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CachePadded<T> {
    value: T,
}

impl<T> CachePadded<T> {
    /// The alignment (and the granularity of the size) of every `CachePadded<T>`, in bytes.
    pub const ALIGN: usize = core::mem::align_of::<Self>();

    /// Pads and aligns `value`.
    pub const fn new(value: T) -> Self {
        CachePadded { value }
    }

    /// Returns the padded value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for CachePadded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachePadded")
            .field("value", &self.value)
            .finish()
    }
}

impl<T> From<T> for CachePadded<T> {
    fn from(value: T) -> Self {
        CachePadded::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::CachePadded;
    use core::mem::{align_of, size_of};

    /// The per-architecture table of the module docs, as numbers.
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
        assert_eq!(CachePadded::<u8>::ALIGN, EXPECTED_ALIGN);
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
