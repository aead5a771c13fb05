//! This crate's own per-thread rseq area in static TLS, defined in assembly: 256 bytes
//! aligned to 64 (the legacy `__rseq_abi`: 32 bytes aligned to 32).
//!
//! Stable Rust has no `#[thread_local]`, and `thread_local!` gives no fixed offset from
//! the thread pointer, so the area is defined with `global_asm!` in a TLS data section
//! (`.tdata`, flags `awT`), aligned and initialised as an unregistered area must be
//! (`cpu_id_start` 0, `cpu_id` = `RSEQ_CPU_ID_UNINITIALIZED`, the rest zero). The code that
//! takes its offset from the thread pointer uses the initial-exec model (a GOT entry the
//! linker or loader fills with the offset), so the offset is the same in every thread and
//! works in executables and shared objects alike.
//!
//! # Size and alignment
//!
//! The kernel's `struct rseq` grows: Linux 6.3 fills 28 bytes (`AT_RSEQ_FEATURE_SIZE`)
//! and asks for 32-byte alignment (`AT_RSEQ_ALIGN`); Linux 7.0 fills 33 and asks for 64,
//! and a registration longer than the original 32 bytes must be aligned to
//! `AT_RSEQ_ALIGN`. The own area reserves [`OWN_AREA_CAPACITY`] = 256 bytes aligned to
//! [`OWN_AREA_ALIGN`] = 64 (a cache line on x86_64, aarch64 and riscv64), so that the
//! registration can follow the kernel's feature size for several kernel generations
//! (see `extent`); a kernel asking for more than that is registered with the original 32
//! bytes, which every kernel accepts at 32-byte alignment. The cost is 224 bytes of static
//! TLS per thread and module; a shared object loaded with `dlopen` takes them from the
//! loader's static TLS surplus (glibc reserves about 1.6 KiB by default, tunable with
//! `glibc.rtld.optional_static_tls`).
//!
//! # The `legacy-rseq-abi` symbol
//!
//! Without the `legacy-rseq-abi` feature the symbol is hidden and named per crate
//! version, so nothing else can see or share it. With the feature it is the legacy
//! exported weak symbol `__rseq_abi`: default visibility, so a definition that comes
//! first in the loader's lookup order (the executable, or an earlier library) interposes
//! and every module uses that one area, as pre-2.35 software expects. That symbol stays
//! exactly 32 bytes aligned to 32, because every other module sharing it (C code built
//! against glibc < 2.35 headers, librseq) defines and registers it with that size: a
//! larger definition here would lose to their smaller one by interposition, and a longer
//! registration would make theirs fail (`EINVAL`, the kernel insists on one length per
//! thread). The trade-off: with the feature, fields past the first 32 bytes (Linux 7.0's
//! byte 32 onwards) are never filled. The section also carries `SHF_GNU_RETAIN` so
//! `--gc-sections` keeps it.
//!
//! # Safety
//!
//! `global_asm!` counts as unsafe code: the directives below only reserve and initialise
//! the area's bytes of TLS data and define one symbol and, with the feature, a marker
//! string; they emit no code.
#![allow(unsafe_code)]

/// The assembler name of the own area.
#[cfg(not(feature = "legacy-rseq-abi"))]
macro_rules! own_area_symbol {
    () => {
        concat!(
            "__rseq_abi_rs_own_area_v",
            env!("CARGO_PKG_VERSION_MAJOR"),
            "_",
            env!("CARGO_PKG_VERSION_MINOR")
        )
    };
}

/// The assembler name of the own area: the legacy shared symbol.
#[cfg(feature = "legacy-rseq-abi")]
macro_rules! own_area_symbol {
    () => {
        "__rseq_abi"
    };
}

/// Symbol binding and visibility directives for the own area.
#[cfg(not(feature = "legacy-rseq-abi"))]
macro_rules! own_area_binding {
    () => {
        concat!(
            ".globl ",
            own_area_symbol!(),
            "\n.hidden ",
            own_area_symbol!(),
            "\n"
        )
    };
}

/// Symbol binding and visibility directives for the legacy `__rseq_abi`: weak, default
/// visibility, so that another module's definition can interpose.
#[cfg(feature = "legacy-rseq-abi")]
macro_rules! own_area_binding {
    () => {
        concat!(".weak ", own_area_symbol!(), "\n")
    };
}

/// The own area's size (`.size`) and alignment (`.p2align`), and the zero padding after
/// the 32 initialised bytes, as assembler text.
#[cfg(not(feature = "legacy-rseq-abi"))]
macro_rules! own_area_extent {
    (size) => {
        "256"
    };
    (p2align) => {
        "6"
    };
    (padding) => {
        ".zero 224\n"
    };
}

/// The legacy `__rseq_abi`'s size and alignment: the original 32 bytes, 32-aligned.
#[cfg(feature = "legacy-rseq-abi")]
macro_rules! own_area_extent {
    (size) => {
        "32"
    };
    (p2align) => {
        "5"
    };
    (padding) => {
        ""
    };
}

core::arch::global_asm!(concat!(
    ".pushsection .tdata.",
    own_area_symbol!(),
    ",\"awTR\",@progbits\n",
    ".p2align ",
    own_area_extent!(p2align),
    "\n",
    own_area_binding!(),
    ".type ",
    own_area_symbol!(),
    ",@object\n",
    ".size ",
    own_area_symbol!(),
    ", ",
    own_area_extent!(size),
    "\n",
    own_area_symbol!(),
    ":\n",
    // cpu_id_start = 0, cpu_id = RSEQ_CPU_ID_UNINITIALIZED (-1), rseq_cs = 0, flags = 0,
    // node_id = 0, mm_cid = 0, slice_ctrl = 0, then zeroes up to the area's size.
    ".long 0\n",
    ".long 0xffffffff\n",
    ".quad 0\n",
    ".long 0\n",
    ".long 0\n",
    ".long 0\n",
    ".long 0\n",
    own_area_extent!(padding),
    ".popsection\n"
));

/// How many bytes the own area reserves: the longest registration it can hold.
#[cfg(not(feature = "legacy-rseq-abi"))]
pub(crate) const OWN_AREA_CAPACITY: u32 = 256;
/// How many bytes the own area reserves: the legacy `__rseq_abi` is the original 32.
#[cfg(feature = "legacy-rseq-abi")]
pub(crate) const OWN_AREA_CAPACITY: u32 = crate::abi::ORIG_RSEQ_SIZE;

/// The own area's alignment: the largest `AT_RSEQ_ALIGN` it satisfies.
#[cfg(not(feature = "legacy-rseq-abi"))]
pub(crate) const OWN_AREA_ALIGN: u32 = 64;
/// The legacy `__rseq_abi`'s alignment: the original 32.
#[cfg(feature = "legacy-rseq-abi")]
pub(crate) const OWN_AREA_ALIGN: u32 = crate::abi::ORIG_RSEQ_SIZE;

// Beside the legacy area, a marker for link checkers (`rseq-link-check`): this module
// registers its `__rseq_abi` only while the C library does not own registration. A local
// symbol and its name as a string, in a retained read-only section so that neither
// `--gc-sections` nor `strip` removes it.
#[cfg(feature = "legacy-rseq-abi")]
core::arch::global_asm!(
    ".pushsection .rodata.__rseq_abi_rs_defers_to_glibc,\"aR\",@progbits\n",
    "__rseq_abi_rs_defers_to_glibc:\n",
    ".asciz \"__rseq_abi_rs_defers_to_glibc\"\n",
    ".popsection\n"
);

/// The assembler name of the own area (`__rseq_abi` with the `legacy-rseq-abi` feature).
pub const OWN_AREA_SYMBOL: &str = own_area_symbol!();

#[cfg(test)]
mod tests {
    use super::{OWN_AREA_ALIGN, OWN_AREA_CAPACITY};

    /// The assembler text and the constants the registration uses agree.
    #[test]
    fn extent_text_matches_constants() {
        assert_eq!(own_area_extent!(size), OWN_AREA_CAPACITY.to_string());
        let p2align: u32 = own_area_extent!(p2align).parse().unwrap();
        assert_eq!(1 << p2align, OWN_AREA_ALIGN);
        let padding = own_area_extent!(padding)
            .trim()
            .strip_prefix(".zero ")
            .map_or(0, |n| n.parse::<u32>().unwrap());
        assert_eq!(32 + padding, OWN_AREA_CAPACITY);
    }
}
