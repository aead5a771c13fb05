//! The load-time constructor: decides the process-wide facts (`process`), caches the
//! area offset and creates the thread-exit key of own registration before any critical
//! section can run.
//!
//! Its address is in `.init_array`, which the dynamic loader runs when it loads the
//! module: before `main` for an executable and its libraries, and inside `dlopen` for a
//! module loaded later (the static linker's start-up code runs it in a static
//! executable). Deciding here, in normal context, means that a critical section's abort
//! path, which may run in a signal handler, finds everything decided: it does not call
//! `dlopen`/`dlvsym`, does not allocate and takes no lock. When the constructor did not
//! run (a loader that skips `.init_array`), the first use decides instead, lazily, as
//! before; that first use must then happen outside signal handlers.
//!
//! # Safety
//!
//! Placing a function pointer in `.init_array` is `unsafe` in spirit: the loader calls it
//! with `(argc, argv, envp)`, which an `extern "C" fn()` ignores (the C calling
//! convention leaves extra arguments to the caller).
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicBool, Ordering};

use super::{exit_key, registration};

static RAN: AtomicBool = AtomicBool::new(false);

/// The `.init_array` entry.
#[used]
#[link_section = ".init_array"]
static AT_LOAD: extern "C" fn() = at_load;

extern "C" fn at_load() {
    let _ = super::area_offset();
    let _ = exit_key::create(registration::unregister_at_exit);
    RAN.store(true, Ordering::Relaxed);
}

/// Whether the load-time constructor ran in this process. Reading it also keeps the
/// `.init_array` entry's object file in every link that uses the thread area.
pub(crate) fn ran() -> bool {
    // The volatile read makes the constructor's static a dependency of its callers, so
    // the linker cannot leave its object out of a link that needs the thread area.
    // SAFETY: `AT_LOAD` is an initialised, aligned static; reading it has no effect.
    let _ = unsafe { core::ptr::read_volatile(&AT_LOAD) };
    RAN.load(Ordering::Relaxed)
}
