//! Registration of this crate's own area on the calling thread, when the process decided
//! that nobody else registers (see `process`).
//!
//! The first registration attempt in the process settles the verdict for every thread:
//! success means this crate registers (each thread registers lazily, on its first call to
//! `prepare_current_thread`); `EINVAL`/`EBUSY` means someone registered an area we do not
//! know ([`Reason::Foreign`]); `ENOSYS`/`EPERM` (and any other errno) means rseq is refused
//! ([`Reason::Refused`]). A thread that registered arms a thread-exit hook (see
//! `exit_key`) whose destructor unregisters before the thread's static TLS block is freed;
//! once that ran, the thread never registers again (later destructors get
//! [`Reason::ThreadExited`] and take their fallback path).
//!
//! Registration may run in a signal handler (a section's abort path): it allocates
//! nothing and takes no lock. The per-thread state is in `const`-initialised
//! `thread_local!`s without destructors (plain static TLS), the exit hook is a
//! `pthread_setspecific`, and the process-wide answers are [`PublishOnce`]s, which never
//! wait.
#![allow(unsafe_code)]

use std::cell::Cell;

use super::arch;
use super::area::OWN_AREA_LEN;
use super::exit_key;
use super::once::PublishOnce;
use super::reason::Reason;
use crate::abi::{Rseq, RSEQ_FLAG_UNREGISTER, RSEQ_SIG};
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
    /// Why this thread's own attempt failed after the process verdict was `Ok` (another
    /// area registered on this thread): remembered so that later calls stay cheap.
    static FAILED: Cell<Option<Reason>> = const { Cell::new(None) };
}

/// The thread-exit hook: unregisters the own area when the thread exits.
pub(crate) unsafe extern "C" fn unregister_at_exit(_armed: *mut core::ffi::c_void) {
    let previous = STATE.with(|s| s.replace(EXITED));
    if previous == REGISTERED {
        // SAFETY: unregistering the area this thread registered, with the same length
        // and signature; the kernel stops writing to it.
        let _ = unsafe { sys::rseq(own_area(), OWN_AREA_LEN, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) };
    }
}

static VERDICT: PublishOnce<Result<(), Reason>> = PublishOnce::new();

/// The calling thread's own area.
pub(crate) fn own_area() -> *mut Rseq {
    arch::thread_pointer().wrapping_offset(arch::own_area_offset()) as *mut Rseq
}

/// The process verdict on own registration, if one was reached.
pub(crate) fn verdict() -> Option<Result<(), Reason>> {
    VERDICT.get()
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
    // The first attempt in the process settles the verdict; a thread that finds it
    // settled `Ok` still attempts its own registration, remembered when it fails.
    let r = attempt();
    if let (Ok(()), Err(reason)) = (VERDICT.publish(r), r) {
        FAILED.with(|f| f.set(Some(reason)));
    }
    r
}

fn attempt() -> Result<(), Reason> {
    let area = own_area();
    // SAFETY: `area` is this thread's own static-TLS area: 32 bytes, 32-aligned, valid
    // until the thread's TLS block is freed, which happens only after `ExitGuard` (armed
    // by the caller) unregistered it.
    match unsafe { sys::rseq(area, OWN_AREA_LEN, 0, RSEQ_SIG) } {
        Ok(()) => {
            STATE.with(|s| s.set(REGISTERED));
            Ok(())
        }
        Err(e) if e == Errno::EBUSY && cpu_id(area) >= 0 => {
            // Registered already: by another module sharing the area, or by a signal
            // handler that interrupted this registration (then it stays ours to undo).
            STATE.with(|s| {
                if s.get() != REGISTERED {
                    s.set(SHARED);
                }
            });
            Ok(())
        }
        Err(e) if e == Errno::EINVAL || e == Errno::EBUSY => Err(Reason::Foreign(e)),
        Err(e) => Err(Reason::Refused(e)),
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
            OWN_AREA_LEN,
            RSEQ_FLAG_UNREGISTER,
            RSEQ_SIG,
        )
    } {
        Err(e) if e == Errno::ENOSYS || e == Errno::EPERM => Some(e),
        _ => None,
    }
}
