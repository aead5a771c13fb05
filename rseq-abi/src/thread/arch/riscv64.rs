//! riscv64: the thread pointer is the `tp` register (TLS variant I).
#![allow(unsafe_code)]

use core::arch::asm;

/// The thread pointer: register `tp`.
#[inline(always)]
pub(crate) fn thread_pointer() -> *mut u8 {
    let tp: *mut u8;
    // SAFETY: copying `tp` into another register has no side effect.
    unsafe {
        asm!("mv {}, tp", out(reg) tp, options(nomem, nostack, preserves_flags, pure));
    }
    tp
}

/// Offset of this crate's own TLS area from the thread pointer (initial-exec model).
pub(crate) fn own_area_offset() -> isize {
    let off: isize;
    // SAFETY: `la.tls.ie` loads the GOT entry (R_RISCV_TLS_TPREL64) holding the area's
    // offset from the thread pointer; the GOT is readable for the life of the module.
    unsafe {
        asm!(
            concat!("la.tls.ie {0}, ", own_area_symbol!()),
            out(reg) off,
            options(nostack, preserves_flags, readonly, pure)
        );
    }
    off
}
