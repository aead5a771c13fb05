//! x86_64: the thread pointer is the `fs` base, and `fs:0` holds it (TLS variant II).
#![allow(unsafe_code)]

use core::arch::asm;

/// The thread pointer: the value stored at `fs:0`.
#[inline(always)]
pub(crate) fn thread_pointer() -> *mut u8 {
    let tp: *mut u8;
    // SAFETY: in the x86_64 TLS ABI (glibc, musl) the word at `fs:0` is the thread
    // control block's self-pointer, readable in every thread; the load has no side effect.
    unsafe {
        asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, preserves_flags, readonly, pure));
    }
    tp
}

/// Offset of this crate's own TLS area from the thread pointer (initial-exec model).
pub(crate) fn own_area_offset() -> isize {
    let off: isize;
    // SAFETY: loads the GOT entry the linker (or loader, via R_X86_64_TPOFF64) fills with
    // the area's offset from the thread pointer; the GOT is readable for the life of the
    // module and the load has no side effect.
    unsafe {
        asm!(
            concat!("mov {}, qword ptr [rip + ", own_area_symbol!(), "@GOTTPOFF]"),
            out(reg) off,
            options(nostack, preserves_flags, readonly, pure)
        );
    }
    off
}
