//! The calling thread's rseq area: where it is, whether it is live, and how to make it
//! live.
//!
//! [`area_offset`] is the offset from the thread pointer to the area, the same for every
//! thread and decided once per process; it always designates a readable and writable,
//! 32-byte-aligned `struct rseq`, even when rseq is unavailable (then it is this crate's
//! own TLS area, never registered, whose `cpu_id` stays `RSEQ_CPU_ID_UNINITIALIZED`, so
//! every critical section aborts harmlessly). [`prepare_current_thread`] makes the calling
//! thread's area live or says why it cannot be ([`Unavailable`]); callers then take their
//! fallback path.
//!
//! [`features`] says which fields the kernel fills in the calling thread's area, whoever
//! registered it.
//!
//! Discovery rules, decided once per process:
//!
//! | situation | registrar | `area_offset()` | `prepare_current_thread()` |
//! |---|---|---|---|
//! | glibc ≥ 2.35 registered (`__rseq_size > 0`) | [`Registrar::Glibc`] | `__rseq_offset` | `Ok` when glibc's registration of this thread succeeded |
//! | glibc's registration failed (`cpu_id` = -2) | [`Registrar::Nobody`] | own area (never registered) | `Err(GlibcFailed)` |
//! | no glibc registration (musl, old glibc, `glibc.pthread.rseq=0`) | [`Registrar::Crate`] | own area | registers the own area, `Ok` |
//! | another area registered first (`EINVAL`/`EBUSY`) | [`Registrar::Foreign`] | own area (never registered) | `Err(Foreign)` |
//! | `rseq(2)` refused (`ENOSYS`, `EPERM`: old kernel, seccomp) | [`Registrar::Nobody`] | own area (never registered) | `Err(Refused)` |
//! | the thread already ran its exit destructor | unchanged | unchanged | `Err(ThreadExited)` |
//!
//! When glibc's start-up registration fails (a seccomp filter installed before `exec`,
//! a kernel without rseq), glibc 2.35+ sets `__rseq_size` to 0, so the process lands in
//! the "no glibc registration" row and this crate's own attempt reports the errno. The
//! `cpu_id` = -2 row covers a deciding thread that glibc did not manage to register while
//! still exporting a non-zero size.
//!
//! The decision is taken at load time, by a constructor in `.init_array` (it looks up
//! glibc's symbols with `dlopen`/`dlvsym`, which a signal handler must not call), so that
//! everything here, [`prepare_current_thread`] included, may then run in a signal handler:
//! own registration allocates nothing and takes no lock, and nothing here ever waits for
//! another thread (so the child of a `fork` never waits for a thread it does not have).
//! Were the constructor not run (a loader that skips `.init_array`), the first call
//! decides: make it outside signal handlers.
//!
//! # Safety
//!
//! This module uses `unsafe` only for the volatile read of `cpu_id` and, in
//! [`prepare_unload`], for the store to `rseq_cs`; the per-architecture primitives, the
//! own area and the registration live in submodules that state their own.
#![allow(unsafe_code)]

#[macro_use]
mod area;
mod exit_key;
mod extent;
mod load;
mod once;
mod process;
mod reason;
mod registration;

#[cfg_attr(
    all(target_arch = "x86_64", target_pointer_width = "64"),
    path = "arch/x86_64.rs"
)]
#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64.rs")]
#[cfg_attr(target_arch = "riscv64", path = "arch/riscv64.rs")]
mod arch;

#[cfg(not(any(
    all(target_arch = "x86_64", target_pointer_width = "64"),
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
compile_error!(
    "rseq-abi: thread-area discovery supports x86_64 (not x32), aarch64 and riscv64; build without the `std` feature for the ABI types alone"
);

use core::sync::atomic::{AtomicIsize, AtomicU32, Ordering};

pub use self::area::OWN_AREA_SYMBOL;
pub use self::extent::Features;
pub use self::reason::{Reason, Unavailable};
use crate::abi::{Rseq, RSEQ_CPU_ID_REGISTRATION_FAILED};
use crate::glibc::GlibcRseq;
use crate::Errno;
use process::Owner;

/// Who registers rseq areas in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Registrar {
    /// glibc registered every thread's area; [`area_offset`] is `__rseq_offset`.
    Glibc(GlibcRseq),
    /// This crate registers its own area on each thread that calls
    /// [`prepare_current_thread`].
    Crate,
    /// Someone else registered an area this crate does not know about.
    Foreign(Errno),
    /// Nobody: rseq cannot be used in this process.
    Nobody(Reason),
}

/// Not yet decided. On x86_64 (TLS variant II) and aarch64 (variant I with a 16-byte TCB)
/// the thread pointer designates the TCB itself, so no rseq area is ever at offset 0, and
/// the check is one `test`+`jz`; on riscv64 TLS blocks start at the thread pointer, so
/// there the sentinel is an offset no area can have. Were an area ever found at the
/// sentinel, every call would take the slow path, which still returns the right offset.
const UNDECIDED: isize = if cfg!(target_arch = "riscv64") {
    isize::MIN
} else {
    0
};
static OFFSET: AtomicIsize = AtomicIsize::new(UNDECIDED);

/// Offset from the thread pointer to the calling thread's rseq area: the same for every
/// thread, decided once per process (`__rseq_offset` when glibc owns registration).
///
/// After the first call this is one relaxed load and one compare.
#[inline(always)]
pub fn area_offset() -> isize {
    let offset = OFFSET.load(Ordering::Relaxed);
    if offset != UNDECIDED {
        offset
    } else {
        area_offset_slow()
    }
}

#[cold]
#[inline(never)]
fn area_offset_slow() -> isize {
    let _ = load::ran();
    let offset = process::process().offset;
    OFFSET.store(offset, Ordering::Relaxed);
    offset
}

/// The calling thread's rseq area: the thread pointer (x86_64: the `fs` base; aarch64:
/// `tpidr_el0`; riscv64: `tp`) + [`area_offset`].
#[inline(always)]
pub fn area() -> *mut Rseq {
    arch::thread_pointer().wrapping_offset(area_offset()) as *mut Rseq
}

/// The area's `cpu_id`, read here so that this module does not depend on `cpu` (which
/// reads the area through this one).
#[inline(always)]
fn live_cpu_id() -> i32 {
    // SAFETY: `area()` always designates a readable, 32-byte-aligned `struct rseq` of the
    // calling thread; the kernel writes `cpu_id` with single aligned stores.
    unsafe { core::ptr::addr_of!((*area()).cpu_id).read_volatile() as i32 }
}

/// Makes the calling thread's area live and returns `Ok(())` when its `cpu_id` is a CPU
/// number; `Err` says why rseq cannot be used on this thread.
///
/// In own-registration mode this registers the crate's own area on the thread (once; it is
/// unregistered by a thread-exit destructor). Cheap when already registered.
#[cold]
pub fn prepare_current_thread() -> Result<(), Unavailable> {
    let p = process::process();
    match p.owner {
        Owner::Glibc(_) => match live_cpu_id() {
            c if c >= 0 => Ok(()),
            RSEQ_CPU_ID_REGISTRATION_FAILED => Err(Unavailable(Reason::GlibcFailed(
                registration::probe_refusal(),
            ))),
            _ => Err(Unavailable(Reason::NotRegistered)),
        },
        Owner::GlibcFailed => Err(Unavailable(Reason::GlibcFailed(
            registration::probe_refusal(),
        ))),
        Owner::Crate => {
            registration::register_current_thread().map_err(Unavailable)?;
            if live_cpu_id() >= 0 {
                Ok(())
            } else {
                Err(Unavailable(Reason::NotRegistered))
            }
        }
    }
}

/// Whether the kernel fills `mm_cid` in this process's areas (the usable feature size
/// covers it). When it does not, `mm_cid` reads 0 in every thread, so a section indexed by
/// it would let threads on different CPUs share one slot: callers must fall back.
#[inline]
pub fn mm_cid_supported() -> bool {
    feature_size() >= (crate::abi::offsets::RSEQ_MM_CID + 4) as u32
}

/// [`prepare_current_thread`] for a section indexed by `mm_cid`: also `Err` with
/// [`Reason::MmCidUnsupported`] when the kernel does not fill `mm_cid`.
#[cold]
pub fn prepare_current_thread_mm_cid() -> Result<(), Unavailable> {
    prepare_current_thread()?;
    if mm_cid_supported() {
        Ok(())
    } else {
        Err(Unavailable(Reason::MmCidUnsupported))
    }
}

/// Who registers rseq areas in this process. In own-registration mode, when no thread has
/// tried yet, this registers the calling thread to find out.
pub fn registrar() -> Registrar {
    let p = process::process();
    match p.owner {
        Owner::Glibc(g) => Registrar::Glibc(g),
        Owner::GlibcFailed => Registrar::Nobody(Reason::GlibcFailed(registration::probe_refusal())),
        Owner::Crate => {
            let verdict = match registration::verdict() {
                Some(v) => v,
                None => {
                    let _ = prepare_current_thread();
                    registration::verdict().unwrap_or(Err(Reason::ThreadExited))
                }
            };
            match verdict {
                Ok(()) => Registrar::Crate,
                Err(Reason::Foreign(e)) => Registrar::Foreign(e),
                Err(r) => Registrar::Nobody(r),
            }
        }
    }
}

/// How many bytes of the area the kernel fills:
/// `min(registered length, AT_RSEQ_FEATURE_SIZE)` (20 on kernels before 6.3).
///
/// The registered length is glibc's (at least 32, whatever `__rseq_size` says) or this
/// crate's: the length planned from the auxiliary vector, or 32 once the kernel refused
/// the planned one.
///
/// Sections indexed by `mm_cid` ask this on every call (through [`mm_cid_supported`]), so
/// once the answer is final (the process decision taken and, in own-registration mode, the
/// registered length settled) it is kept in one atomic word: one relaxed load afterwards.
pub fn feature_size() -> u32 {
    /// The final answer, or 0 while it may still change (a real feature size is at least
    /// 20).
    static FINAL: AtomicU32 = AtomicU32::new(0);
    let cached = FINAL.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let p = process::process();
    let (size, settled) = match (p.owner, registration::registered_len()) {
        (Owner::Crate, Some(len)) => (len.min(p.feature_size), true),
        (Owner::Crate, None) => (p.feature_size, false),
        _ => (p.feature_size, true),
    };
    if settled && size != 0 {
        FINAL.store(size, Ordering::Relaxed);
    }
    size
}

/// Which fields of `struct rseq` the kernel fills in the calling thread's area: `cpu_id`
/// (with `cpu_id_start` and the critical-section protocol), `node_id`, `mm_cid` and the
/// time-slice extension word `slice_ctrl`.
///
/// One answer for every registrar: glibc's registration (its `__rseq_size` read together
/// with `AT_RSEQ_FEATURE_SIZE`, so that glibc 2.35-2.39 reporting 32, 2.40 and backports
/// reporting 20 and 2.41+ reporting the feature size all give the right fields), this
/// crate's own (its registered length), and empty when the thread has no live area
/// ([`prepare_current_thread`] fails: foreign area, rseq refused, thread exited). Like
/// [`prepare_current_thread`], which it calls, it registers the own area on the calling
/// thread in own-registration mode.
pub fn features() -> Features {
    let live = prepare_current_thread().is_ok();
    let p = process::process();
    let registered_len = match p.owner {
        Owner::Glibc(g) => Some(g.registered_len()),
        Owner::Crate => registration::registered_len(),
        Owner::GlibcFailed => None,
    };
    extent::features_of(
        registered_len.filter(|_| live),
        crate::auxv::rseq_feature_size(),
    )
}

/// glibc's exported `__rseq_offset`, `__rseq_size` and `__rseq_flags`, when present.
pub fn glibc_rseq() -> Option<GlibcRseq> {
    process::process().glibc
}

/// Clears the calling thread's `rseq_cs`, so that the kernel no longer reads the descriptor
/// of the thread's last critical section.
///
/// The kernel reads `rseq_cs` (and the descriptor it points to) whenever it preempts,
/// migrates or signals the thread, until it clears the field itself; a pointer into
/// unmapped memory makes it kill the thread with `SIGSEGV`. So every thread that ran a
/// critical section defined in a module (a shared object, or JIT code) must call this at
/// least once between its last section from that module and the unloading (or reuse) of
/// the memory holding the section's descriptor or code. It is a single store; calling it
/// when no section is active, or on a thread whose area is not live, is harmless.
pub fn prepare_unload() {
    let field = area()
        .cast::<u8>()
        .wrapping_add(crate::abi::offsets::RSEQ_RSEQ_CS)
        .cast::<u64>();
    // SAFETY: `area()` designates a writable, 32-byte-aligned `struct rseq` of the calling
    // thread; `rseq_cs` is its 8-byte-aligned field at offset 8. Only this thread stores to
    // it, and the kernel reads it only while this thread is not running user code, so a
    // volatile aligned store is the single-copy-atomic update the ABI requires.
    unsafe { field.write_volatile(0) };
}

/// Whether the process-wide decision was taken by the load-time constructor (before any
/// other code of this crate ran) and published.
///
/// Not part of the API: the project's tests check that the constructor runs.
#[doc(hidden)]
pub fn decided_at_load() -> bool {
    load::ran() && process::decided()
}

/// The address of this crate's own area in the calling thread (the legacy `__rseq_abi`
/// of this module with the `legacy-rseq-abi` feature), whether or not it is in use.
///
/// Not part of the API: the project's end-to-end tests and link fixtures compare it with
/// [`area`] and with what C code sharing `__rseq_abi` sees.
#[doc(hidden)]
pub fn own_area() -> *mut Rseq {
    registration::own_area()
}
