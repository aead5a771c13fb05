//! The kernel's rseq ABI, as `include/uapi/linux/rseq.h` defines it: `struct rseq`,
//! `struct rseq_cs`, `struct rseq_slice_ctrl`, the flags, the cpu_id sentinels, the
//! abort signature and the system call number of every architecture the kernel supports.
//!
//! Field offsets are checked at compile time against the uapi layout, so assembly that
//! addresses these fields by offset (see [`offsets`]) can never drift from the types.

use core::mem::{align_of, offset_of, size_of};

/// `RSEQ_CPU_ID_UNINITIALIZED`: the value of `cpu_id` before the area is registered.
pub const RSEQ_CPU_ID_UNINITIALIZED: i32 = -1;
/// `RSEQ_CPU_ID_REGISTRATION_FAILED`: glibc stores this in `cpu_id` when its own
/// registration failed (kernel without rseq, or a seccomp filter refused the call).
pub const RSEQ_CPU_ID_REGISTRATION_FAILED: i32 = -2;

/// `RSEQ_FLAG_UNREGISTER`: the `flags` argument of `rseq(2)` that unregisters the area.
pub const RSEQ_FLAG_UNREGISTER: i32 = 1 << 0;
/// `RSEQ_FLAG_SLICE_EXT_DEFAULT_ON`: register with time-slice extension enabled
/// (kernels with `CONFIG_RSEQ_SLICE_EXTENSION`; older kernels reject it with `EINVAL`).
pub const RSEQ_FLAG_SLICE_EXT_DEFAULT_ON: i32 = 1 << 1;

/// `RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT`: historical `rseq_cs.flags` bit. Kernels since
/// 6.0 reject it (the thread is killed with `SIGSEGV` when a section carries it).
#[deprecated(note = "rejected by the kernel since Linux 6.0; rseq_cs.flags must be 0")]
pub const RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT: u32 = 1 << 0;
/// `RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL`: historical `rseq_cs.flags` bit, rejected since 6.0.
#[deprecated(note = "rejected by the kernel since Linux 6.0; rseq_cs.flags must be 0")]
pub const RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL: u32 = 1 << 1;
/// `RSEQ_CS_FLAG_NO_RESTART_ON_MIGRATE`: historical `rseq_cs.flags` bit, rejected since 6.0.
#[deprecated(note = "rejected by the kernel since Linux 6.0; rseq_cs.flags must be 0")]
pub const RSEQ_CS_FLAG_NO_RESTART_ON_MIGRATE: u32 = 1 << 2;
/// `RSEQ_CS_FLAG_SLICE_EXT_AVAILABLE`: bit the kernel sets in `rseq.flags` (read-only
/// for user space) when time-slice extension can be used.
pub const RSEQ_CS_FLAG_SLICE_EXT_AVAILABLE: u32 = 1 << 4;
/// `RSEQ_CS_FLAG_SLICE_EXT_ENABLED`: bit the kernel sets in `rseq.flags` when
/// time-slice extension is enabled for this thread.
pub const RSEQ_CS_FLAG_SLICE_EXT_ENABLED: u32 = 1 << 5;

/// `ORIG_RSEQ_SIZE`: the original registered length of `struct rseq` (and its original
/// alignment). Registering exactly this length with 32-byte alignment is always accepted.
pub const ORIG_RSEQ_SIZE: u32 = 32;

/// Version of [`RseqCs`] understood by every kernel with rseq.
pub const RSEQ_CS_VERSION: u32 = 0;

/// `AT_RSEQ_FEATURE_SIZE`: auxiliary-vector entry giving the size of the rseq fields the
/// running kernel fills (20 before Linux 6.3, 28 with `node_id` and `mm_cid`).
pub const AT_RSEQ_FEATURE_SIZE: u64 = 27;
/// `AT_RSEQ_ALIGN`: auxiliary-vector entry giving the alignment the kernel requires for an
/// area registered with a length other than [`ORIG_RSEQ_SIZE`].
pub const AT_RSEQ_ALIGN: u64 = 28;

/// The feature size of kernels that predate `AT_RSEQ_FEATURE_SIZE` (fields up to and
/// including `flags`).
pub const RSEQ_ORIG_FEATURE_SIZE: u32 = 20;

/// `PR_RSEQ_SLICE_EXTENSION`: the `prctl(2)` option that queries and sets the calling
/// thread's time-slice extension (Linux 7.0+; older kernels reject it with `EINVAL`).
pub const PR_RSEQ_SLICE_EXTENSION: i32 = 79;
/// `PR_RSEQ_SLICE_EXTENSION_GET`: `prctl(PR_RSEQ_SLICE_EXTENSION, GET, 0, 0, 0)` returns
/// [`PR_RSEQ_SLICE_EXT_ENABLE`] when the extension is enabled for the thread, else 0.
pub const PR_RSEQ_SLICE_EXTENSION_GET: u64 = 1;
/// `PR_RSEQ_SLICE_EXTENSION_SET`: `prctl(PR_RSEQ_SLICE_EXTENSION, SET, flags, 0, 0)`
/// enables (`flags` = [`PR_RSEQ_SLICE_EXT_ENABLE`]) or disables (0) the extension.
pub const PR_RSEQ_SLICE_EXTENSION_SET: u64 = 2;
/// `PR_RSEQ_SLICE_EXT_ENABLE`: the enable bit of `PR_RSEQ_SLICE_EXTENSION_SET` and of the
/// `GET` answer.
pub const PR_RSEQ_SLICE_EXT_ENABLE: u64 = 0x01;

/// The feature size that covers `slice_ctrl` (its offset plus its 4 bytes): a kernel that
/// reports at least this much in `AT_RSEQ_FEATURE_SIZE` knows the time-slice extension
/// field.
pub const RSEQ_SLICE_CTRL_FEATURE_SIZE: u32 = (offsets::RSEQ_SLICE_CTRL + 4) as u32;

/// `struct rseq_slice_ctrl`: time-slice extension control word (Linux 6.19+).
///
/// `request` is set by user space; `granted` is set and cleared by the kernel.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RseqSliceCtrl {
    /// Set by user space to ask for a time-slice extension.
    pub request: u8,
    /// Set by the kernel when an extension was granted.
    pub granted: u8,
    /// Reserved, zero.
    pub reserved: u16,
}

/// `struct rseq`: the per-thread area shared between the kernel and user space.
///
/// The *registered length* of an area is never `size_of::<Rseq>()`: it is the length
/// passed to `rseq(2)` (glibc's `__rseq_size`, or what this crate registered), and the
/// fields the kernel actually fills are bounded by `getauxval(AT_RSEQ_FEATURE_SIZE)`.
/// Read `node_id`, `mm_cid` and `slice_ctrl` only when the feature size covers them.
#[repr(C, align(32))]
#[derive(Debug)]
pub struct Rseq {
    /// Current CPU, always a valid CPU number (0 before registration).
    pub cpu_id_start: u32,
    /// Current CPU, or a negative sentinel ([`RSEQ_CPU_ID_UNINITIALIZED`],
    /// [`RSEQ_CPU_ID_REGISTRATION_FAILED`]) read as `i32`.
    pub cpu_id: u32,
    /// Address of the active [`RseqCs`] descriptor, or 0 outside a critical section.
    pub rseq_cs: u64,
    /// Kernel-owned feature flags (historically `RSEQ_CS_FLAG_*`, now read-only status).
    pub flags: u32,
    /// NUMA node of the current CPU (feature size >= 24).
    pub node_id: u32,
    /// Memory-map concurrency id: a compact per-process index (feature size >= 28).
    pub mm_cid: u32,
    /// Time-slice extension control (feature size >= 32).
    pub slice_ctrl: RseqSliceCtrl,
}

impl Rseq {
    /// An unregistered area, as it must look before registration: `cpu_id` is
    /// [`RSEQ_CPU_ID_UNINITIALIZED`] and everything else zero.
    pub const fn new() -> Self {
        Rseq {
            cpu_id_start: 0,
            cpu_id: RSEQ_CPU_ID_UNINITIALIZED as u32,
            rseq_cs: 0,
            flags: 0,
            node_id: 0,
            mm_cid: 0,
            slice_ctrl: RseqSliceCtrl {
                request: 0,
                granted: 0,
                reserved: 0,
            },
        }
    }
}

impl Default for Rseq {
    fn default() -> Self {
        Self::new()
    }
}

/// `struct rseq_cs`: the descriptor of one critical section.
///
/// The kernel reads it when it preempts, migrates or signals a thread whose
/// `rseq.rseq_cs` points to it and whose instruction pointer is in
/// `[start_ip, start_ip + post_commit_offset)`; it then moves the thread to `abort_ip`,
/// whose preceding four bytes must be [`RSEQ_SIG`].
#[repr(C, align(32))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RseqCs {
    /// Structure version; must be [`RSEQ_CS_VERSION`].
    pub version: u32,
    /// Must be 0 (the historical `RSEQ_CS_FLAG_*` bits are rejected).
    pub flags: u32,
    /// Address of the first instruction of the section.
    pub start_ip: u64,
    /// Length of the section: the first address after the commit is `start_ip + post_commit_offset`.
    pub post_commit_offset: u64,
    /// Address of the abort handler (outside the section).
    pub abort_ip: u64,
}

/// Byte offsets of the ABI fields, for code (inline assembly, ELF readers) that addresses
/// them by number. Each is checked at compile time against the Rust types above.
pub mod offsets {
    /// `offsetof(struct rseq, cpu_id_start)`.
    pub const RSEQ_CPU_ID_START: usize = 0;
    /// `offsetof(struct rseq, cpu_id)`.
    pub const RSEQ_CPU_ID: usize = 4;
    /// `offsetof(struct rseq, rseq_cs)`.
    pub const RSEQ_RSEQ_CS: usize = 8;
    /// `offsetof(struct rseq, flags)`.
    pub const RSEQ_FLAGS: usize = 16;
    /// `offsetof(struct rseq, node_id)`.
    pub const RSEQ_NODE_ID: usize = 20;
    /// `offsetof(struct rseq, mm_cid)`.
    pub const RSEQ_MM_CID: usize = 24;
    /// `offsetof(struct rseq, slice_ctrl)`.
    pub const RSEQ_SLICE_CTRL: usize = 28;
    /// `offsetof(struct rseq_cs, version)`.
    pub const RSEQ_CS_VERSION: usize = 0;
    /// `offsetof(struct rseq_cs, flags)`.
    pub const RSEQ_CS_FLAGS: usize = 4;
    /// `offsetof(struct rseq_cs, start_ip)`.
    pub const RSEQ_CS_START_IP: usize = 8;
    /// `offsetof(struct rseq_cs, post_commit_offset)`.
    pub const RSEQ_CS_POST_COMMIT_OFFSET: usize = 16;
    /// `offsetof(struct rseq_cs, abort_ip)`.
    pub const RSEQ_CS_ABORT_IP: usize = 24;
    /// `sizeof(struct rseq_cs)`.
    pub const RSEQ_CS_SIZE: usize = 32;
}

const _: () = {
    assert!(offset_of!(Rseq, cpu_id_start) == offsets::RSEQ_CPU_ID_START);
    assert!(offset_of!(Rseq, cpu_id) == offsets::RSEQ_CPU_ID);
    assert!(offset_of!(Rseq, rseq_cs) == offsets::RSEQ_RSEQ_CS);
    assert!(offset_of!(Rseq, flags) == offsets::RSEQ_FLAGS);
    assert!(offset_of!(Rseq, node_id) == offsets::RSEQ_NODE_ID);
    assert!(offset_of!(Rseq, mm_cid) == offsets::RSEQ_MM_CID);
    assert!(offset_of!(Rseq, slice_ctrl) == offsets::RSEQ_SLICE_CTRL);
    assert!(size_of::<Rseq>() == ORIG_RSEQ_SIZE as usize);
    assert!(align_of::<Rseq>() == ORIG_RSEQ_SIZE as usize);
    assert!(size_of::<RseqSliceCtrl>() == 4);
    assert!(offset_of!(RseqCs, version) == offsets::RSEQ_CS_VERSION);
    assert!(offset_of!(RseqCs, flags) == offsets::RSEQ_CS_FLAGS);
    assert!(offset_of!(RseqCs, start_ip) == offsets::RSEQ_CS_START_IP);
    assert!(offset_of!(RseqCs, post_commit_offset) == offsets::RSEQ_CS_POST_COMMIT_OFFSET);
    assert!(offset_of!(RseqCs, abort_ip) == offsets::RSEQ_CS_ABORT_IP);
    assert!(size_of::<RseqCs>() == offsets::RSEQ_CS_SIZE);
    assert!(align_of::<RseqCs>() == 32);
};

/// The abort signature of each architecture: the 32-bit value the kernel compares with the
/// four bytes before `abort_ip`, and the value passed to `rseq(2)`. On most architectures
/// it encodes a trapping instruction so that a stray jump into it faults.
pub mod sig {
    /// x86 and x86_64: the immediate of `ud1 0x53053053(%rip), %edi` (`0f b9 3d` + this).
    pub const X86: u32 = 0x5305_3053;
    /// aarch64, little-endian data: `brk #0x45e0`.
    pub const AARCH64: u32 = 0xd428_bc00;
    /// aarch64 big-endian: instructions stay little-endian, so the data word is swapped.
    pub const AARCH64_BE: u32 = 0x00bc_28d4;
    /// 32-bit arm, little-endian: `udf #24035`.
    pub const ARM: u32 = 0xe7f5_def3;
    /// 32-bit arm, big-endian data.
    pub const ARM_BE: u32 = 0xf3de_f5e7;
    /// powerpc and powerpc64: `twui r5,11`.
    pub const POWERPC: u32 = 0x0fe5_000b;
    /// s390 and s390x: `trap4`.
    pub const S390: u32 = 0xb2ff_0fff;
    /// riscv32 and riscv64: `csrw mhartid, x0`, which traps in user mode.
    pub const RISCV: u32 = 0xf140_1073;
    /// mips: `break 0x350` (glibc uses other words for microMIPS and nanoMIPS, which Rust
    /// does not target).
    pub const MIPS: u32 = 0x0350_000d;
    /// loongarch64: `break 0x10`.
    pub const LOONGARCH: u32 = 0x002a_0010;
}

/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub const RSEQ_SIG: u32 = sig::X86;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
pub const RSEQ_SIG: u32 = sig::AARCH64;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(all(target_arch = "aarch64", target_endian = "big"))]
pub const RSEQ_SIG: u32 = sig::AARCH64_BE;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(all(target_arch = "arm", target_endian = "little"))]
pub const RSEQ_SIG: u32 = sig::ARM;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(all(target_arch = "arm", target_endian = "big"))]
pub const RSEQ_SIG: u32 = sig::ARM_BE;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(any(target_arch = "powerpc", target_arch = "powerpc64"))]
pub const RSEQ_SIG: u32 = sig::POWERPC;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(target_arch = "s390x")]
pub const RSEQ_SIG: u32 = sig::S390;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
pub const RSEQ_SIG: u32 = sig::RISCV;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
pub const RSEQ_SIG: u32 = sig::MIPS;
/// The abort signature of the architecture this crate is compiled for (`RSEQ_SIG`).
#[cfg(target_arch = "loongarch64")]
pub const RSEQ_SIG: u32 = sig::LOONGARCH;

/// The `rseq` system call number of each architecture and ABI.
pub mod nr {
    /// x86_64.
    pub const X86_64: i64 = 334;
    /// x32: the x86_64 number with `__X32_SYSCALL_BIT` (`0x4000_0000`).
    pub const X32: i64 = 0x4000_0000 + 334;
    /// i386.
    pub const X86: i64 = 386;
    /// aarch64 (generic syscall table).
    pub const AARCH64: i64 = 293;
    /// 32-bit arm (EABI).
    pub const ARM: i64 = 398;
    /// powerpc and powerpc64.
    pub const POWERPC: i64 = 387;
    /// s390 and s390x.
    pub const S390: i64 = 383;
    /// riscv32 and riscv64 (generic syscall table).
    pub const RISCV: i64 = 293;
    /// mips o32.
    pub const MIPS_O32: i64 = 4367;
    /// mips n64.
    pub const MIPS_N64: i64 = 5327;
    /// mips n32.
    pub const MIPS_N32: i64 = 6331;
    /// loongarch64 (generic syscall table).
    pub const LOONGARCH: i64 = 293;
}

/// The `rseq_slice_yield` system call number (Linux 7.0+). Since Linux 5.1 new system calls
/// take the same number on every architecture (424 and up; alpha adds 110, the mips ABIs
/// add their 4000/5000/6000 bases, x32 adds `__X32_SYSCALL_BIT`), so it is 471 on x86_64,
/// aarch64, riscv64 and loongarch64.
pub mod nr_slice_yield {
    /// The common number (x86_64, i386, aarch64, arm, riscv, loongarch, powerpc, s390).
    pub const COMMON: i64 = 471;
    /// x32: the common number with `__X32_SYSCALL_BIT`.
    pub const X32: i64 = 0x4000_0000 + 471;
    /// mips o32.
    pub const MIPS_O32: i64 = 4000 + 471;
    /// mips n64.
    pub const MIPS_N64: i64 = 5000 + 471;
    /// mips n32.
    pub const MIPS_N32: i64 = 6000 + 471;
}

/// The `rseq_slice_yield` system call number of the architecture this crate is compiled
/// for.
pub const SYS_RSEQ_SLICE_YIELD: i64 = {
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "32"))]
    let n = nr_slice_yield::X32;
    #[cfg(target_arch = "mips")]
    let n = nr_slice_yield::MIPS_O32;
    #[cfg(target_arch = "mips64")]
    let n = nr_slice_yield::MIPS_N64;
    #[cfg(not(any(
        all(target_arch = "x86_64", target_pointer_width = "32"),
        target_arch = "mips",
        target_arch = "mips64"
    )))]
    let n = nr_slice_yield::COMMON;
    n
};

/// The `rseq` system call number of the architecture this crate is compiled for.
pub const SYS_RSEQ: i64 = {
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    let n = nr::X86_64;
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "32"))]
    let n = nr::X32;
    #[cfg(target_arch = "x86")]
    let n = nr::X86;
    #[cfg(target_arch = "aarch64")]
    let n = nr::AARCH64;
    #[cfg(target_arch = "arm")]
    let n = nr::ARM;
    #[cfg(any(target_arch = "powerpc", target_arch = "powerpc64"))]
    let n = nr::POWERPC;
    #[cfg(target_arch = "s390x")]
    let n = nr::S390;
    #[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
    let n = nr::RISCV;
    #[cfg(target_arch = "mips")]
    let n = nr::MIPS_O32;
    #[cfg(target_arch = "mips64")]
    let n = nr::MIPS_N64;
    #[cfg(target_arch = "loongarch64")]
    let n = nr::LOONGARCH;
    n
};

#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "s390x",
    target_arch = "riscv32",
    target_arch = "riscv64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "loongarch64"
)))]
compile_error!("rseq-abi: the Linux kernel has no rseq support on this architecture");
