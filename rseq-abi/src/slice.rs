//! Scheduler time-slice extensions (Linux 7.0+): ask the kernel not to preempt the calling
//! thread during a short piece of work (a lock hold), and give the CPU back when it
//! granted the request.
//!
//! # Protocol
//!
//! From the kernel's `Documentation/userspace-api/rseq.rst` and `include/uapi/linux/rseq.h`:
//!
//! 1. The thread has a registered rseq area whose registration covers `slice_ctrl`
//!    (offset 28), and enables the extension with
//!    `prctl(PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_SET, PR_RSEQ_SLICE_EXT_ENABLE)`
//!    ([`enable`]). The kernel then sets `RSEQ_CS_FLAG_SLICE_EXT_ENABLED` in the area's
//!    `flags`, a read-only status word for user space.
//! 2. Before the work the thread stores 1 in `slice_ctrl.request`. When an interrupt
//!    would reschedule it, the kernel may instead grant an extension (5 µs by default, at
//!    most 50 µs): it clears `request` and sets `slice_ctrl.granted`. A reschedule after
//!    the grant clears `granted` again (the grant was revoked).
//! 3. After the work the thread clears `request`; if `granted` is set it calls
//!    `rseq_slice_yield(2)`, which gives the CPU back without other side effects (any
//!    other system call also ends the grant). If neither is set, the grant was revoked
//!    and nothing is left to do. A kernel timer ends a grant the thread does not yield.
//!
//! Everything is local to the thread and its CPU, so plain (volatile) byte accesses with
//! compiler fences around the work suffice; the race between reading `granted` and an
//! interrupt revoking it is inherent and harmless (the yield then returns 0).
//!
//! [`with_extension`] does steps 2 and 3 around a closure, and costs one load and one
//! branch where the extension is not enabled: an old kernel, an area this crate cannot
//! use, or a thread that did not call [`enable`]. [`support`] says which.
//!
//! # Safety
//!
//! Uses `unsafe` for volatile accesses to the calling thread's area.
#![allow(unsafe_code)]

use core::sync::atomic::{compiler_fence, Ordering};

use crate::abi::{offsets, Rseq, RSEQ_CS_FLAG_SLICE_EXT_ENABLED};
use crate::thread::{self, Features, Reason};
use crate::{sys, Errno};

/// Offset of `slice_ctrl.request` in `struct rseq`.
const REQUEST: usize = offsets::RSEQ_SLICE_CTRL;
/// Offset of `slice_ctrl.granted` in `struct rseq`.
const GRANTED: usize = offsets::RSEQ_SLICE_CTRL + 1;

const _: () = {
    assert!(core::mem::offset_of!(Rseq, slice_ctrl) == REQUEST);
    assert!(
        core::mem::offset_of!(Rseq, slice_ctrl)
            + core::mem::offset_of!(crate::abi::RseqSliceCtrl, granted)
            == GRANTED
    );
};

/// The time-slice extension can be used on the calling thread: the answer of [`support`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Support {
    /// Enabled: [`with_extension`] requests extensions.
    Enabled,
    /// Available but not enabled on this thread: call [`enable`].
    Available,
}

/// Why the time-slice extension cannot be used on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// The thread has no live rseq area this crate can use.
    #[error("rseq is unavailable on this thread: {0}")]
    NoRseq(Reason),
    /// The kernel has no time-slice extension: Linux before 7.0 (the feature size does
    /// not cover `slice_ctrl`, `prctl` rejects the option with `EINVAL`, registering with
    /// `RSEQ_FLAG_SLICE_EXT_DEFAULT_ON` fails with `EINVAL`), or a kernel built without
    /// `CONFIG_RSEQ_SLICE_EXTENSION`.
    #[error("the kernel has no rseq time-slice extension")]
    Kernel,
    /// The extension is disabled on the kernel command line (`rseq_slice_ext=0`).
    #[error("rseq time-slice extensions are disabled on the kernel command line")]
    Disabled,
    /// `prctl(PR_RSEQ_SLICE_EXTENSION)` failed with another errno (a seccomp filter).
    #[error("prctl(PR_RSEQ_SLICE_EXTENSION) failed with {0}")]
    Refused(Errno),
}

/// Whether the calling thread can use time-slice extensions, and whether it enabled
/// them. Makes the thread's area live first ([`thread::prepare_current_thread`]).
pub fn support() -> Result<Support, Unsupported> {
    thread::prepare_current_thread().map_err(|e| Unsupported::NoRseq(e.reason()))?;
    if !thread::features().contains(Features::SLICE_CTRL) {
        return Err(Unsupported::Kernel);
    }
    match sys::rseq_slice_extension_get() {
        Ok(true) => Ok(Support::Enabled),
        Ok(false) => Ok(Support::Available),
        Err(e) => Err(unsupported(e)),
    }
}

/// Enables time-slice extensions for the calling thread (idempotent).
///
/// `prctl(PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_SET, PR_RSEQ_SLICE_EXT_ENABLE)`
/// after [`support`] found the extension available.
pub fn enable() -> Result<(), Unsupported> {
    match support()? {
        Support::Enabled => Ok(()),
        Support::Available => sys::rseq_slice_extension_set(true).map_err(unsupported),
    }
}

/// Maps a `prctl(PR_RSEQ_SLICE_EXTENSION)` errno to the reason.
fn unsupported(e: Errno) -> Unsupported {
    if e == Errno::EINVAL {
        Unsupported::Kernel
    } else if e == Errno::ENOTSUPP {
        Unsupported::Disabled
    } else if e == Errno::ENXIO {
        Unsupported::NoRseq(Reason::NotRegistered)
    } else {
        Unsupported::Refused(e)
    }
}

/// Runs `work` with a time-slice extension requested, and gives the CPU back with
/// `rseq_slice_yield(2)` afterwards when the kernel granted one (see the module docs for
/// the protocol). Where extensions are not enabled on this thread it only runs `work`,
/// after one load and one branch.
///
/// Keep `work` short (microseconds) and free of system calls: a system call ends the
/// grant. Nested calls are harmless: the outermost request covers the inner work. The
/// request is withdrawn when `work` panics.
#[inline]
pub fn with_extension<R>(work: impl FnOnce() -> R) -> R {
    with_extension_in(thread::area(), yield_now, work)
}

/// `rseq_slice_yield(2)`, its answer ignored: whether or not the yield happened within the
/// grant, the grant is over.
#[cold]
fn yield_now() {
    let _ = sys::rseq_slice_yield();
}

/// Reads the byte at `offset` of the area.
#[inline(always)]
fn read_u8(area: *mut Rseq, offset: usize) -> u8 {
    // SAFETY: callers pass the calling thread's area (or a test's simulated one), at
    // least 32 bytes long, and an offset inside `slice_ctrl`; the kernel writes these
    // bytes only while the thread is not running user code.
    unsafe { area.cast::<u8>().add(offset).read_volatile() }
}

/// [`with_extension`] on `area`, yielding with `yield_now`.
#[inline(always)]
fn with_extension_in<R>(area: *mut Rseq, yield_now: impl FnOnce(), work: impl FnOnce() -> R) -> R {
    // SAFETY: `area` designates the calling thread's readable, 32-byte-aligned area;
    // `flags` is its aligned u32 at offset 16, written by the kernel only while this
    // thread is not running user code.
    let flags = unsafe { core::ptr::addr_of!((*area).flags).read_volatile() };
    if flags & RSEQ_CS_FLAG_SLICE_EXT_ENABLED == 0 {
        return work();
    }
    // The kernel sets the enabled bit only for an area whose registration covers
    // `slice_ctrl`, so from here on the area is at least 32 bytes the kernel knows.
    if read_u8(area, REQUEST) != 0 || read_u8(area, GRANTED) != 0 {
        // An outer call's request (or grant) covers this work.
        return work();
    }
    let request = Request {
        area,
        yield_now: Some(yield_now),
    };
    // SAFETY: `request` is the calling thread's own byte of `slice_ctrl` (see above);
    // user space sets it, the kernel may clear it.
    unsafe { area.cast::<u8>().add(REQUEST).write_volatile(1) };
    compiler_fence(Ordering::SeqCst);
    let r = work();
    drop(request);
    r
}

/// An outstanding request: withdrawn, and the CPU given back when granted, on drop (also
/// when the work panics).
struct Request<Y: FnOnce()> {
    area: *mut Rseq,
    yield_now: Option<Y>,
}

impl<Y: FnOnce()> Drop for Request<Y> {
    #[inline(always)]
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as in `with_extension_in`: the calling thread's `slice_ctrl.request`.
        unsafe { self.area.cast::<u8>().add(REQUEST).write_volatile(0) };
        if read_u8(self.area, GRANTED) != 0 {
            if let Some(y) = self.yield_now.take() {
                y();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The protocol against a simulated area: the test's `work` plays the kernel's part
    //! (granting or revoking while the request is outstanding), and the simulated
    //! `rseq_slice_yield` ends the grant as the kernel's syscall entry work does.

    use core::cell::Cell;

    use super::{with_extension_in, GRANTED, REQUEST};
    use crate::abi::{Rseq, RSEQ_CS_FLAG_SLICE_EXT_AVAILABLE, RSEQ_CS_FLAG_SLICE_EXT_ENABLED};

    /// A simulated area on the heap, with the given `flags`.
    struct Sim(*mut Rseq);

    impl Sim {
        fn new(flags: u32) -> Sim {
            let mut area = Box::new(Rseq::new());
            area.flags = flags;
            Sim(Box::into_raw(area))
        }
        fn enabled() -> Sim {
            Sim::new(RSEQ_CS_FLAG_SLICE_EXT_AVAILABLE | RSEQ_CS_FLAG_SLICE_EXT_ENABLED)
        }
        fn byte(&self, offset: usize) -> u8 {
            // SAFETY: the simulated area is a live 32-byte allocation.
            unsafe { self.0.cast::<u8>().add(offset).read_volatile() }
        }
        /// The kernel's grant: `request` cleared, `granted` set.
        fn grant(&self) {
            // SAFETY: as in `byte`.
            unsafe {
                self.0.cast::<u8>().add(REQUEST).write_volatile(0);
                self.0.cast::<u8>().add(GRANTED).write_volatile(1);
            }
        }
        /// The kernel revoking a grant by rescheduling: `granted` cleared.
        fn revoke(&self) {
            // SAFETY: as in `byte`.
            unsafe { self.0.cast::<u8>().add(GRANTED).write_volatile(0) };
        }
    }

    impl Drop for Sim {
        fn drop(&mut self) {
            // SAFETY: allocated by `Box::into_raw` in `new`, freed once.
            drop(unsafe { Box::from_raw(self.0) });
        }
    }

    /// Runs `work` against `sim`, counting yields (each yield ends the grant).
    fn run(sim: &Sim, work: impl FnOnce(&Sim) -> u32) -> (u32, u32) {
        let yields = Cell::new(0);
        let r = with_extension_in(
            sim.0,
            || {
                yields.set(yields.get() + 1);
                sim.revoke();
            },
            || work(sim),
        );
        (r, yields.get())
    }

    #[test]
    fn not_enabled_only_runs_the_work() {
        for flags in [0, RSEQ_CS_FLAG_SLICE_EXT_AVAILABLE] {
            let sim = Sim::new(flags);
            let (r, yields) = run(&sim, |s| {
                assert_eq!(s.byte(REQUEST), 0, "no request without the enabled bit");
                7
            });
            assert_eq!((r, yields), (7, 0));
            assert_eq!((sim.byte(REQUEST), sim.byte(GRANTED)), (0, 0));
        }
    }

    #[test]
    fn no_interrupt_withdraws_the_request() {
        let sim = Sim::enabled();
        let (r, yields) = run(&sim, |s| {
            assert_eq!(s.byte(REQUEST), 1, "requested during the work");
            1
        });
        assert_eq!((r, yields), (1, 0));
        assert_eq!((sim.byte(REQUEST), sim.byte(GRANTED)), (0, 0));
    }

    #[test]
    fn granted_extension_is_yielded() {
        let sim = Sim::enabled();
        let (r, yields) = run(&sim, |s| {
            s.grant();
            2
        });
        assert_eq!((r, yields), (2, 1));
        assert_eq!((sim.byte(REQUEST), sim.byte(GRANTED)), (0, 0));
    }

    #[test]
    fn revoked_grant_needs_nothing() {
        let sim = Sim::enabled();
        let (r, yields) = run(&sim, |s| {
            s.grant();
            s.revoke();
            3
        });
        assert_eq!((r, yields), (3, 0));
        assert_eq!((sim.byte(REQUEST), sim.byte(GRANTED)), (0, 0));
    }

    #[test]
    fn nested_requests_leave_the_outer_one_alone() {
        let sim = Sim::enabled();
        let (r, yields) = run(&sim, |s| {
            let (inner, inner_yields) = run(s, |s| {
                assert_eq!(s.byte(REQUEST), 1);
                4
            });
            assert_eq!(inner_yields, 0);
            assert_eq!(s.byte(REQUEST), 1, "the outer request is still outstanding");
            s.grant();
            let (_, inner_yields) = run(s, |_| 0);
            assert_eq!(inner_yields, 0, "the outer call yields, not the inner one");
            assert_eq!(s.byte(GRANTED), 1);
            inner
        });
        assert_eq!((r, yields), (4, 1));
    }

    #[test]
    fn panic_withdraws_the_request() {
        let sim = Sim::enabled();
        let yields = Cell::new(0);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_extension_in(
                sim.0,
                || yields.set(yields.get() + 1),
                || {
                    sim.grant();
                    panic!("work failed")
                },
            )
        }));
        assert!(unwound.is_err());
        assert_eq!(yields.get(), 1);
        assert_eq!(sim.byte(REQUEST), 0);
    }
}
