//! Critical sections where their first registration cannot take a lock or allocate: in a
//! signal handler that interrupts its own thread's first registration, and in the child of
//! a `fork` taken while other threads were registering. Each scenario runs in child
//! processes (a fresh process each time, so the process's first registration is exercised
//! again) under both registrars: glibc's, and this crate's own
//! (`GLIBC_TUNABLES=glibc.pthread.rseq=0`). A deadlock ends the child with `SIGALRM`.

use rseq_percpu::PerCpuCounter;
use rseq_testkit::child::{in_child, Env};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Fresh child processes per scenario and registrar.
const PROCESSES: usize = 6;
/// Forks per child process.
const FORKS: usize = 20;

/// How many child processes the test starts: one body run in the child itself.
fn runs(name: &str) -> usize {
    if rseq_testkit::child::is_child(name) {
        1
    } else {
        PROCESSES
    }
}

static COUNTER: OnceLock<PerCpuCounter> = OnceLock::new();
static HANDLED: AtomicU64 = AtomicU64::new(0);

/// The `SIGUSR1` handler: one section (its first, on a thread that may be registering).
extern "C" fn on_signal(_: libc::c_int) {
    if let Some(counter) = COUNTER.get() {
        counter.add(1);
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Ends this process with `SIGALRM` after `seconds`: a deadlock fails the scenario.
fn deadline(seconds: u32) {
    // SAFETY: `alarm` has no preconditions.
    unsafe { libc::alarm(seconds) };
}

fn install_handler() {
    // SAFETY: a zeroed `sigaction` is valid; the handler is an `extern "C" fn(c_int)`
    // that only runs a section and atomic adds.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
}

/// Threads that each run a few sections while another thread signals them without pause,
/// so handlers run sections in the middle of the thread's first registration.
fn signals_during_first_registration() {
    deadline(60);
    let counter = COUNTER.get_or_init(PerCpuCounter::new);
    install_handler();
    let mut added = 0u64;
    for _ in 0..40 {
        let done = AtomicBool::new(false);
        let stopped = AtomicBool::new(false);
        let worker = AtomicU64::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: `pthread_self` has no preconditions.
                worker.store(unsafe { libc::pthread_self() } as u64, Ordering::Release);
                for _ in 0..3 {
                    counter.add(1);
                }
                done.store(true, Ordering::Release);
                // Stay alive until no more signals are on their way.
                while !stopped.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            });
            let target = loop {
                match worker.load(Ordering::Acquire) {
                    0 => std::hint::spin_loop(),
                    id => break id as libc::pthread_t,
                }
            };
            while !done.load(Ordering::Acquire) {
                // SAFETY: `target` is alive until `stopped` is set below.
                unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
            }
            stopped.store(true, Ordering::Release);
        });
        added += 3;
    }
    let handled = HANDLED.load(Ordering::Relaxed);
    assert_eq!(counter.sum(), added + handled);
    println!("{added} adds, {handled} in signal handlers");
}

#[test]
fn sections_in_handlers_during_first_registration_own_registrar() {
    const NAME: &str = "sections_in_handlers_during_first_registration_own_registrar";
    for _ in 0..runs(NAME) {
        in_child(NAME, Env::NoGlibcRseq, signals_during_first_registration);
    }
}

#[test]
fn sections_in_handlers_during_first_registration_glibc_registrar() {
    const NAME: &str = "sections_in_handlers_during_first_registration_glibc_registrar";
    for _ in 0..runs(NAME) {
        in_child(NAME, Env::GlibcDefault, signals_during_first_registration);
    }
}

/// Forks while other threads start and run their first sections; each forked child runs
/// its first section (the forking thread never ran one before) and must finish.
fn fork_during_first_registrations() {
    deadline(60);
    let counter = PerCpuCounter::new();
    let go = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !go.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                while !stop.load(Ordering::Relaxed) {
                    std::thread::scope(|s| {
                        s.spawn(|| counter.add(1));
                    });
                }
            });
        }
        // The threads' first sections decide and register while the first forks happen.
        go.store(true, Ordering::Release);
        for _ in 0..FORKS {
            // SAFETY: the child calls only the section's code (which allocates nothing
            // and takes no lock), `alarm` and `_exit`.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                deadline(5);
                let before = counter.sum();
                counter.add(1);
                let ok = counter.sum() == before.wrapping_add(1);
                // SAFETY: leaving the forked child without the parent's exit handlers.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: waiting for the child just forked.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "forked child: status {status:#x} (SIGALRM = {}: deadlocked)",
                libc::SIGALRM
            );
        }
        stop.store(true, Ordering::Relaxed);
    });
    println!("{FORKS} forked children ran their first section");
}

#[test]
fn fork_while_threads_register_own_registrar() {
    const NAME: &str = "fork_while_threads_register_own_registrar";
    for _ in 0..runs(NAME) {
        in_child(NAME, Env::NoGlibcRseq, fork_during_first_registrations);
    }
}

#[test]
fn fork_while_threads_register_glibc_registrar() {
    const NAME: &str = "fork_while_threads_register_glibc_registrar";
    for _ in 0..runs(NAME) {
        in_child(NAME, Env::GlibcDefault, fork_during_first_registrations);
    }
}
