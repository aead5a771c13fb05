//! Helpers for this module's unit tests.
#![allow(unsafe_code)]

/// Pins the calling thread to the CPU it runs on, so that every later operation uses one
/// slot.
pub(crate) fn pin_here() {
    let cpu = crate::thread::current_cpu() as usize;
    // SAFETY: cpu_set_t is plain bits; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (a CPU number the kernel reported).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_setaffinity(0, core::mem::size_of_val(&set), &set) };
    assert_eq!(
        r,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}
