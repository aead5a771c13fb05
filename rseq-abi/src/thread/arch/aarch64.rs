//! aarch64: the thread pointer is `tpidr_el0` (TLS variant I).
#![allow(unsafe_code)]

use core::arch::asm;

/// The thread pointer: `tpidr_el0`.
#[inline(always)]
pub(crate) fn thread_pointer() -> *mut u8 {
    let tp: *mut u8;
    // SAFETY: reading `tpidr_el0` is allowed at EL0 and has no side effect.
    unsafe {
        asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags, pure));
    }
    tp
}

/// Offset of this crate's own TLS area from the thread pointer (initial-exec model).
pub(crate) fn own_area_offset() -> isize {
    let off: isize;
    // SAFETY: loads the GOT entry (R_AARCH64_TLS_TPREL64) holding the area's offset from
    // the thread pointer; the GOT is readable for the life of the module.
    unsafe {
        asm!(
            concat!("adrp {0}, :gottprel:", own_area_symbol!()),
            concat!("ldr {0}, [{0}, #:gottprel_lo12:", own_area_symbol!(), "]"),
            out(reg) off,
            options(nostack, preserves_flags, readonly, pure)
        );
    }
    off
}
