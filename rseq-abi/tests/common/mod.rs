//! Shared by rseq-abi's integration tests: the calling thread's thread pointer (the child
//! processes they run come from `rseq_testkit::child`).
#![allow(dead_code, unsafe_code)]

/// The calling thread's thread pointer (x86_64: the `fs` base; aarch64: `tpidr_el0`;
/// riscv64: `tp`), for tests that look at glibc's area at `__rseq_offset` from it.
pub fn thread_pointer() -> *mut u8 {
    let tp: *mut u8;
    // SAFETY: in the x86_64 TLS ABI the word at `fs:0` is the thread control block's
    // self-pointer, readable in every thread; the load has no side effect.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, preserves_flags, readonly));
    }
    // SAFETY: reading `tpidr_el0` is allowed at EL0 and has no side effect.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags));
    }
    // SAFETY: copying `tp` into another register has no side effect.
    #[cfg(target_arch = "riscv64")]
    unsafe {
        std::arch::asm!("mv {}, tp", out(reg) tp, options(nomem, nostack, preserves_flags));
    }
    tp
}
