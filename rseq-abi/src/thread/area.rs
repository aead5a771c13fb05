//! This crate's own per-thread rseq area: 32 bytes in static TLS, defined in assembly.
//!
//! Stable Rust has no `#[thread_local]`, and `thread_local!` gives no fixed offset from
//! the thread pointer, so the area is defined with `global_asm!` in a TLS data section
//! (`.tdata`, flags `awT`), 32-byte aligned and initialised as an unregistered area must
//! be (`cpu_id_start` 0, `cpu_id` = `RSEQ_CPU_ID_UNINITIALIZED`). The code that takes its
//! offset from the thread pointer uses the initial-exec model (a GOT entry the linker or
//! loader fills with the offset), so the offset is the same in every thread and works in
//! executables and shared objects alike. A shared object loaded with `dlopen` needs room
//! in the loader's static TLS surplus (32 bytes; glibc reserves several hundred).
//!
//! Without the `legacy-rseq-abi` feature the symbol is hidden and named per crate
//! version, so nothing else can see or share it. With the feature it is the legacy
//! exported weak symbol `__rseq_abi`: default visibility, so a definition that comes
//! first in the loader's lookup order (the executable, or an earlier library) interposes
//! and every module uses that one area, as pre-2.35 software expects. The section also
//! carries `SHF_GNU_RETAIN` so `--gc-sections` keeps it.
//!
//! # Safety
//!
//! `global_asm!` counts as unsafe code: the directives below only reserve and initialise
//! 32 bytes of TLS data, define one symbol and, with the feature, a marker string; they
//! emit no code.
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

core::arch::global_asm!(concat!(
    ".pushsection .tdata.",
    own_area_symbol!(),
    ",\"awTR\",@progbits\n",
    ".p2align 5\n",
    own_area_binding!(),
    ".type ",
    own_area_symbol!(),
    ",@object\n",
    ".size ",
    own_area_symbol!(),
    ", 32\n",
    own_area_symbol!(),
    ":\n",
    // cpu_id_start = 0, cpu_id = RSEQ_CPU_ID_UNINITIALIZED (-1), rseq_cs = 0, flags = 0,
    // node_id = 0, mm_cid = 0, slice_ctrl = 0.
    ".long 0\n",
    ".long 0xffffffff\n",
    ".quad 0\n",
    ".long 0\n",
    ".long 0\n",
    ".long 0\n",
    ".long 0\n",
    ".popsection\n"
));

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

/// The registered length of the own area: always the original 32 bytes, which every
/// kernel accepts with 32-byte alignment. The kernel fills the fields up to
/// `min(32, AT_RSEQ_FEATURE_SIZE)`.
pub(crate) const OWN_AREA_LEN: u32 = crate::abi::ORIG_RSEQ_SIZE;

/// The assembler name of the own area (`__rseq_abi` with the `legacy-rseq-abi` feature).
pub const OWN_AREA_SYMBOL: &str = own_area_symbol!();
