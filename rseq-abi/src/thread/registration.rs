//! Registration of this crate's own area on the calling thread, when the process decided
//! that nobody else registers (see `process`).
//!
//! The first registration attempt in the process settles the verdict for every thread:
//! success means this crate registers (each thread registers lazily, on its first call to
//! `prepare_current_thread`); `EINVAL`/`EBUSY` means someone registered an area we do not
//! know ([`Reason::Foreign`]); `ENOSYS`/`EPERM` (and any other errno) means rseq is refused
//! ([`Reason::Refused`]).
//!
//! The first attempt uses the length `extent` plans from the auxiliary vector (32 on
//! kernels that fill no more than 32 bytes, the kernel's `sizeof(struct rseq)` past that);
//! when the kernel refuses a longer length with `EINVAL` it retries with the original 32
//! bytes, and the length that worked is the process's: every other thread registers with
//! it, and each thread unregisters with the length it registered (the kernel insists).
//! A thread that registered arms a thread-exit hook (see `exit_key`) whose destructor
//! unregisters before the thread's static TLS block is freed; once that ran, the thread
//! never registers again (later destructors get [`Reason::ThreadExited`] and take their
//! fallback path).
//!
//! Registration may run in a signal handler (a section's abort path): it allocates
//! nothing and takes no lock. The per-thread state is in `const`-initialised
//! `thread_local!`s without destructors (plain static TLS), the exit hook is a
//! `pthread_setspecific`, and the process-wide answers are [`PublishOnce`]s, which never
//! wait.
#![allow(unsafe_code)]

use std::cell::Cell;

use super::arch;
use super::exit_key;
use super::extent::planned_own_len;
use super::once::PublishOnce;
use super::reason::Reason;
use crate::abi::{Rseq, ORIG_RSEQ_SIZE, RSEQ_FLAG_UNREGISTER, RSEQ_SIG};
use crate::{sys, Errno};

/// The thread never registered the own area.
const UNREGISTERED: u8 = 0;
/// The thread registered the own area and unregisters it at exit.
const REGISTERED: u8 = 1;
/// The own area was already registered by another module sharing it (legacy `__rseq_abi`):
/// live, but not ours to unregister.
const SHARED: u8 = 2;
/// The thread's exit guard ran: never register again.
const EXITED: u8 = 3;

thread_local! {
    static STATE: Cell<u8> = const { Cell::new(UNREGISTERED) };
    /// The length this thread registered the own area with (`REGISTERED` only).
    static LEN: Cell<u32> = const { Cell::new(ORIG_RSEQ_SIZE) };
    /// Why this thread's own attempt failed after the process verdict was `Ok` (another
    /// area registered on this thread): remembered so that later calls stay cheap.
    static FAILED: Cell<Option<Reason>> = const { Cell::new(None) };
}

/// The thread-exit hook: unregisters the own area when the thread exits.
pub(crate) unsafe extern "C" fn unregister_at_exit(_armed: *mut core::ffi::c_void) {
    let previous = STATE.with(|s| s.replace(EXITED));
    if previous == REGISTERED {
        let len = LEN.with(Cell::get);
        // SAFETY: unregistering the area this thread registered, with the same length
        // and signature; the kernel stops writing to it.
        let _ = unsafe { sys::rseq(own_area(), len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) };
    }
}

/// The process verdict: `Ok(length every thread registers with)` or why nobody can.
static VERDICT: PublishOnce<Result<u32, Reason>> = PublishOnce::new();

/// The calling thread's own area.
pub(crate) fn own_area() -> *mut Rseq {
    arch::thread_pointer().wrapping_offset(arch::own_area_offset()) as *mut Rseq
}

/// The process verdict on own registration, if one was reached.
pub(crate) fn verdict() -> Option<Result<(), Reason>> {
    VERDICT.get().map(|v| v.map(drop))
}

/// The length the process registers its own areas with, once the verdict is `Ok`.
pub(crate) fn registered_len() -> Option<u32> {
    VERDICT.get().and_then(|v| v.ok())
}

/// Registers the own area on the calling thread (idempotent).
pub(crate) fn register_current_thread() -> Result<(), Reason> {
    match STATE.with(Cell::get) {
        REGISTERED | SHARED => return Ok(()),
        EXITED => return Err(Reason::ThreadExited),
        _ => {}
    }
    if let Some(Err(r)) = VERDICT.get() {
        return Err(r);
    }
    if let Some(r) = FAILED.with(Cell::get) {
        return Err(r);
    }
    // Arm the exit hook first: without it the area could not be unregistered at exit.
    if !exit_key::arm(unregister_at_exit) {
        STATE.with(|s| s.set(EXITED));
        return Err(Reason::ThreadExited);
    }
    // A settled process length is every thread's; the first attempt in the process plans
    // the length from the auxiliary vector (falling back to 32 bytes) and settles the
    // verdict. A thread that finds the verdict settled `Ok` still attempts its own
    // registration, remembered when it fails.
    let r = match VERDICT.get() {
        Some(Ok(len)) => attempt(len, false),
        _ => attempt(planned_own_len(), true),
    };
    if let (Ok(_), Err(reason)) = (VERDICT.publish(r), r) {
        FAILED.with(|f| f.set(Some(reason)));
    }
    r.map(drop)
}

/// Registers the own area with `len` bytes (and, when `fall_back`, with the original 32
/// when the kernel refuses `len` with `EINVAL`); the length registered, or why not.
fn attempt(len: u32, fall_back: bool) -> Result<u32, Reason> {
    let area = own_area();
    let registered = register_with_fallback(len, fall_back, |len| {
        // SAFETY: `area` is this thread's own static-TLS area: `OWN_AREA_CAPACITY` bytes
        // (at least `len`, which `extent` bounds by it), aligned to `OWN_AREA_ALIGN` (at
        // least the `AT_RSEQ_ALIGN` `extent` checked), valid until the thread's TLS block
        // is freed, which happens only after the exit hook (armed by the caller)
        // unregistered it.
        unsafe { sys::rseq(area, len, 0, RSEQ_SIG) }
    });
    match registered {
        Ok(len) => {
            LEN.with(|l| l.set(len));
            STATE.with(|s| s.set(REGISTERED));
            Ok(len)
        }
        Err((len, e)) if e == Errno::EBUSY && cpu_id(area) >= 0 => {
            // Registered already: by another module sharing the area, or by a signal
            // handler that interrupted this registration (then it stays ours to undo).
            STATE.with(|s| {
                if s.get() != REGISTERED {
                    s.set(SHARED);
                }
            });
            Ok(len)
        }
        Err((_, e)) if e == Errno::EINVAL || e == Errno::EBUSY => Err(Reason::Foreign(e)),
        Err((_, e)) => Err(Reason::Refused(e)),
    }
}

/// Calls `register(len)`; when that fails with `EINVAL`, `len` is longer than the
/// original 32 bytes and `fall_back` is set, calls `register(32)`. Returns the length that
/// was accepted, or the last length tried and its errno.
fn register_with_fallback(
    len: u32,
    fall_back: bool,
    mut register: impl FnMut(u32) -> Result<(), Errno>,
) -> Result<u32, (u32, Errno)> {
    match register(len) {
        Ok(()) => Ok(len),
        Err(e) if e == Errno::EINVAL && fall_back && len != ORIG_RSEQ_SIZE => {
            register(ORIG_RSEQ_SIZE)
                .map(|()| ORIG_RSEQ_SIZE)
                .map_err(|e| (ORIG_RSEQ_SIZE, e))
        }
        Err(e) => Err((len, e)),
    }
}

fn cpu_id(area: *mut Rseq) -> i32 {
    // SAFETY: `area` is the calling thread's own TLS area, readable and aligned.
    unsafe { core::ptr::addr_of!((*area).cpu_id).read_volatile() as i32 }
}

/// Why `rseq(2)` is refused in this process, probed once (see [`probe`]).
pub(crate) fn probe_refusal() -> Option<Errno> {
    static PROBED: PublishOnce<Option<Errno>> = PublishOnce::new();
    PROBED.get_or_publish(probe)
}

/// Probes whether `rseq(2)` can be called at all, without side effects: unregistering
/// when nothing is registered fails with `EINVAL` on a kernel with rseq, and with
/// `ENOSYS`/`EPERM` when the call is refused. `None` means the call is available.
fn probe() -> Option<Errno> {
    // SAFETY: an unregister request with a null area registers nothing; the kernel only
    // compares the pointer with the thread's registration.
    match unsafe {
        sys::rseq(
            core::ptr::null_mut(),
            ORIG_RSEQ_SIZE,
            RSEQ_FLAG_UNREGISTER,
            RSEQ_SIG,
        )
    } {
        Err(e) if e == Errno::ENOSYS || e == Errno::EPERM => Some(e),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{own_area, register_with_fallback};
    use crate::thread::area::OWN_AREA_ALIGN;
    use crate::Errno;

    /// A simulated kernel that accepts the lengths in `accepted` and refuses others with
    /// `EINVAL`, recording every call.
    fn kernel<'a>(
        accepted: &'a [u32],
        calls: &'a mut Vec<u32>,
    ) -> impl FnMut(u32) -> Result<(), Errno> + 'a {
        move |len| {
            calls.push(len);
            if accepted.contains(&len) {
                Ok(())
            } else {
                Err(Errno::EINVAL)
            }
        }
    }

    #[test]
    fn longer_length_accepted() {
        let mut calls = Vec::new();
        assert_eq!(
            register_with_fallback(64, true, kernel(&[32, 64], &mut calls)),
            Ok(64)
        );
        assert_eq!(calls, [64]);
    }

    #[test]
    fn longer_length_refused_falls_back_to_32() {
        let mut calls = Vec::new();
        assert_eq!(
            register_with_fallback(64, true, kernel(&[32], &mut calls)),
            Ok(32)
        );
        assert_eq!(calls, [64, 32]);
    }

    #[test]
    fn no_fallback_for_other_threads_or_other_errors() {
        let mut calls = Vec::new();
        let r = register_with_fallback(64, false, kernel(&[32], &mut calls));
        assert_eq!(r, Err((64, Errno::EINVAL)));
        assert_eq!(calls, [64]);
        let r = register_with_fallback(64, true, |_| Err(Errno::ENOSYS));
        assert_eq!(r, Err((64, Errno::ENOSYS)));
        // A foreign area: both lengths are refused; the errno of the last try is kept.
        let mut calls = Vec::new();
        let r = register_with_fallback(64, true, kernel(&[], &mut calls));
        assert_eq!(r, Err((32, Errno::EINVAL)));
        assert_eq!(calls, [64, 32]);
        // 32 is never retried.
        let mut calls = Vec::new();
        let r = register_with_fallback(32, true, kernel(&[], &mut calls));
        assert_eq!(r, Err((32, Errno::EINVAL)));
        assert_eq!(calls, [32]);
    }

    /// Every thread's own area is aligned as declared.
    #[test]
    fn own_area_is_aligned() {
        assert_eq!(own_area() as usize % OWN_AREA_ALIGN as usize, 0);
        std::thread::spawn(|| assert_eq!(own_area() as usize % OWN_AREA_ALIGN as usize, 0))
            .join()
            .unwrap();
    }
}
