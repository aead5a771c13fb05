//! The thread-exit hook of own registration: one `pthread_key_create(3)` key, created at
//! load time, whose destructor unregisters a thread's own area.
//!
//! A thread that registers sets its value of the key (`pthread_setspecific(3)`); glibc
//! then calls the destructor when the thread exits, after the C++ and Rust `thread_local`
//! destructors (`__call_tls_dtors`, which may still run sections) and before the thread's
//! static TLS, which holds the area, is released. Arming the hook allocates nothing and
//! takes no lock: glibc keeps the values of the first 32 keys in the thread descriptor
//! (`specific_1stblock`), and the key is created early, at load time, so it is one of
//! them in practice (a later key would make the first `pthread_setspecific` of each
//! thread allocate its second-level block). This replaces a `thread_local!` guard with a
//! destructor, whose first use on a thread registers it with
//! `__cxa_thread_atexit_impl`, which allocates: not something a signal handler may do.
//!
//! # Safety
//!
//! Calls `pthread_key_create`, `pthread_key_delete` and `pthread_setspecific`, whose
//! contracts are stated at each call.
#![allow(unsafe_code)]

use core::ffi::c_void;

use super::once::PublishOnce;

/// The destructor's type: called with the thread's (non-null) value of the key.
pub(crate) type Destructor = unsafe extern "C" fn(*mut c_void);

static KEY: PublishOnce<libc::pthread_key_t> = PublishOnce::new();

/// Creates the key with `destructor`, once (later calls return the same key); `None` when
/// the C library has no key left. Lock-free in glibc; meant for normal context (the load
/// constructor), and safe as a lazy fallback.
pub(crate) fn create(destructor: Destructor) -> Option<libc::pthread_key_t> {
    if let Some(key) = KEY.get() {
        return Some(key);
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is writable; `destructor` is a valid `extern "C"` function for the
    // life of the module (this crate is never unloaded while threads may exit with a value
    // set: see `prepare_unload` and the crate docs).
    if unsafe { libc::pthread_key_create(&mut key, Some(destructor)) } != 0 {
        return None;
    }
    let published = KEY.publish(key);
    if published != key {
        // Another thread created and published its key first: use that one.
        // SAFETY: `key` was created above and no thread has a value for it.
        unsafe { libc::pthread_key_delete(key) };
    }
    Some(published)
}

/// Arms the hook on the calling thread: its destructor will run at thread exit. `false`
/// when there is no key.
pub(crate) fn arm(destructor: Destructor) -> bool {
    let Some(key) = create(destructor) else {
        return false;
    };
    // A non-null value, so that the destructor runs; it is not a pointer to anything.
    let armed = core::ptr::NonNull::<c_void>::dangling().as_ptr();
    // SAFETY: `key` is a live key created by `create`; the value is never dereferenced.
    unsafe { libc::pthread_setspecific(key, armed) == 0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_is_created_at_load_among_the_first_32() {
        // The load constructor created it; glibc keeps keys below 32 in the thread
        // descriptor, so arming never allocates.
        let key = super::KEY.get().expect("created by the load constructor");
        assert!(key < 32, "key {key}");
    }
}
