//! The ABI constants of this architecture agree with the C library's view and the kernel.

use rseq_abi::abi::{self, Rseq, RseqCs};

#[test]
fn syscall_number_matches_libc() {
    assert_eq!(abi::SYS_RSEQ, libc::SYS_rseq);
}

#[test]
fn signature_is_the_x86_ud1_immediate() {
    // glibc's sysdeps/unix/sysv/linux/x86/bits/rseq.h: `0f b9 3d 53 30 05 53`.
    assert_eq!(abi::RSEQ_SIG.to_le_bytes(), [0x53, 0x30, 0x05, 0x53]);
}

#[test]
fn unregistered_area_layout() {
    let area = Rseq::new();
    assert_eq!(area.cpu_id as i32, abi::RSEQ_CPU_ID_UNINITIALIZED);
    assert_eq!(area.cpu_id_start, 0);
    assert_eq!(core::mem::size_of::<Rseq>(), 32);
    assert_eq!(core::mem::align_of::<RseqCs>(), 32);
}

/// The time-slice extension's numbers, as the kernel's uapi headers define them
/// (`PR_RSEQ_SLICE_EXTENSION` in `<linux/prctl.h>`, `__NR_rseq_slice_yield` in the unified
/// system call table).
#[test]
fn slice_extension_numbers() {
    assert_eq!(abi::PR_RSEQ_SLICE_EXTENSION, 79);
    assert_eq!(abi::PR_RSEQ_SLICE_EXTENSION_GET, 1);
    assert_eq!(abi::PR_RSEQ_SLICE_EXTENSION_SET, 2);
    assert_eq!(abi::PR_RSEQ_SLICE_EXT_ENABLE, 1);
    #[cfg(target_arch = "x86_64")]
    assert_eq!(abi::SYS_RSEQ_SLICE_YIELD, 471);
    assert_eq!(abi::RSEQ_SLICE_CTRL_FEATURE_SIZE, 32);
    assert_eq!(abi::RSEQ_FLAG_SLICE_EXT_DEFAULT_ON, 2);
}
