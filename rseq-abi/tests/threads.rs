//! Thread life cycle under own registration: thousands of short-lived threads leave no
//! stale registration and no memory behind; the exit destructor unregisters before later
//! TLS destructors run; a forked child keeps a correct `cpu_id`.

use rseq_abi::abi::{RSEQ_FLAG_UNREGISTER, RSEQ_SIG};
use rseq_abi::sys;
use rseq_abi::thread::{self, Reason, Unavailable};
use rseq_testkit::child::{in_child, Env};

/// `VmRSS` and `VmSize` from `/proc/self/status`, in kB.
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmSize:"))
}

fn short_lived_thread() {
    std::thread::spawn(|| {
        assert_eq!(
            rseq_abi::cpu::cpu_id(),
            -1,
            "a new thread starts unregistered"
        );
        assert_eq!(thread::prepare_current_thread(), Ok(()));
        assert!(rseq_abi::cpu::cpu_id() >= 0);
    })
    .join()
    .unwrap();
}

#[test]
fn ten_thousand_threads() {
    let out = in_child("ten_thousand_threads", Env::NoGlibcRseq, || {
        // Warm up: thread stacks cached by the C library, allocator arenas.
        for _ in 0..200 {
            short_lived_thread();
        }
        let (rss0, size0) = memory_kb();
        for _ in 0..10_000 {
            short_lived_thread();
        }
        let (rss1, size1) = memory_kb();
        println!("VmRSS {rss0} -> {rss1} kB, VmSize {size0} -> {size1} kB");
        assert!(rss1 <= rss0 + 4096, "VmRSS grew from {rss0} to {rss1} kB");
        assert!(
            size1 <= size0 + 16384,
            "VmSize grew from {size0} to {size1} kB"
        );
        // A new thread still registers cleanly, with exactly this crate's area.
        std::thread::spawn(|| {
            assert_eq!(thread::prepare_current_thread(), Ok(()));
            // SAFETY: the own area is this thread's registered area; the call fails.
            let again = unsafe { sys::rseq(thread::own_area(), 32, 0, RSEQ_SIG) };
            assert_eq!(again, Err(rseq_abi::Errno::EBUSY));
        })
        .join()
        .unwrap();
    });
    if let Some(line) = out.lines().find_map(|l| l.find("VmRSS").map(|i| &l[i..])) {
        println!("{line}");
    }
}

/// A Rust `thread_local!` destructor: runs before the crate's exit hook (a pthread key
/// destructor, which glibc calls after every `thread_local` destructor), so critical
/// sections in `thread_local` destructors still find the area registered.
struct LaterDestructor;

impl Drop for LaterDestructor {
    fn drop(&mut self) {
        let p = thread::prepare_current_thread();
        // SAFETY: the own area is this thread's registered area: the call fails.
        let again = unsafe { sys::rseq(thread::own_area(), 32, 0, RSEQ_SIG) };
        if p != Ok(()) || again != Err(rseq_abi::Errno::EBUSY) {
            eprintln!("in a thread_local destructor: prepare {p:?}, register again {again:?}");
            std::process::abort();
        }
        println!("thread_local destructor still registered");
    }
}

thread_local! {
    static LATER: LaterDestructor = const { LaterDestructor };
}

/// A pthread key destructor for a key created after the crate's (at load time): glibc
/// runs key destructors in key order, so this runs after the crate's exit hook.
unsafe extern "C" fn after_exit_hook(_value: *mut libc::c_void) {
    // The crate's hook unregistered the area: registering it again succeeds.
    // SAFETY: the own area is this thread's static TLS, still allocated while key
    // destructors run; it is unregistered again right below.
    let r = unsafe { sys::rseq(thread::own_area(), 32, 0, RSEQ_SIG) };
    // SAFETY: unregistering what was just registered.
    let u = unsafe { sys::rseq(thread::own_area(), 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) };
    // And the crate refuses to register again from a later destructor.
    let p = thread::prepare_current_thread();
    let ok = r == Ok(()) && u == Ok(()) && p == Err(Unavailable(Reason::ThreadExited));
    if !ok {
        eprintln!("after exit: register {r:?}, unregister {u:?}, prepare {p:?}");
        std::process::abort();
    }
    println!("exit destructor verified");
}

#[test]
fn unregisters_at_thread_exit() {
    let out = in_child("unregisters_at_thread_exit", Env::NoGlibcRseq, || {
        assert!(thread::decided_at_load());
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is writable and the destructor is a valid `extern "C"` function.
        let created = unsafe { libc::pthread_key_create(&mut key, Some(after_exit_hook)) };
        assert_eq!(created, 0);
        std::thread::spawn(move || {
            LATER.with(|_| ());
            assert_eq!(thread::prepare_current_thread(), Ok(()));
            let marker = std::ptr::NonNull::<libc::c_void>::dangling().as_ptr();
            // SAFETY: a live key; the value is a non-null marker, never dereferenced.
            let set = unsafe { libc::pthread_setspecific(key, marker) };
            assert_eq!(set, 0);
        })
        .join()
        .unwrap();
    });
    if !rseq_testkit::child::is_child("unregisters_at_thread_exit") {
        assert!(
            out.contains("thread_local destructor still registered"),
            "{out}"
        );
        assert!(out.contains("exit destructor verified"), "{out}");
    }
}

fn forked_child_reads_cpu_id() {
    assert_eq!(thread::prepare_current_thread(), Ok(()));
    let cpu = *rseq_testkit::allowed_cpus().first().unwrap();
    // SAFETY: fork in a test process; the child only calls async-signal-safe functions
    // (sched_setaffinity, sched_getcpu, reads of its own memory) and `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        rseq_testkit::pin_current_thread(&[cpu]);
        let ok = thread::prepare_current_thread().is_ok()
            && rseq_abi::cpu::cpu_id() == cpu as i32
            && rseq_testkit::sched_getcpu() == cpu as i32;
        // SAFETY: leaving the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status:#x}"
    );
}

#[test]
fn fork_own_registration() {
    in_child(
        "fork_own_registration",
        Env::NoGlibcRseq,
        forked_child_reads_cpu_id,
    );
}

#[test]
fn fork_glibc_owned() {
    in_child(
        "fork_glibc_owned",
        Env::GlibcDefault,
        forked_child_reads_cpu_id,
    );
}
