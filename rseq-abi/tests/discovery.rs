//! Every discovery path, each in a child process with its own environment, against the
//! real kernel and C library.

mod common;

use rseq_abi::abi::{Rseq, RSEQ_CPU_ID_REGISTRATION_FAILED, RSEQ_CPU_ID_UNINITIALIZED, RSEQ_SIG};
use rseq_abi::thread::{self, Reason, Registrar, Unavailable};
use rseq_abi::{sys, Errno};
use rseq_testkit::child::{in_child, in_child_with, Child, Env};

/// Pins the calling thread to one allowed CPU and checks that `current_cpu()` reports it.
fn assert_current_cpu_right() {
    let cpu = *rseq_testkit::allowed_cpus().last().expect("an allowed CPU");
    rseq_testkit::pin_current_thread(&[cpu]);
    assert_eq!(rseq_testkit::sched_getcpu(), cpu as i32);
    assert_eq!(rseq_abi::cpu::current_cpu(), cpu as u32);
}

/// The calling thread's area is this crate's own, never-registered area.
fn assert_own_area_unregistered() {
    assert_eq!(thread::area(), thread::own_area());
    assert_eq!(rseq_abi::cpu::cpu_id(), RSEQ_CPU_ID_UNINITIALIZED);
    assert_eq!(rseq_abi::cpu::cpu_id_start(), 0);
    assert_eq!(rseq_abi::cpu::node_id(), None);
    assert_eq!(rseq_abi::cpu::mm_cid(), None);
}

#[test]
fn glibc_owned() {
    in_child("glibc_owned", Env::GlibcDefault, || {
        let glibc = rseq_abi::glibc::rseq_symbols().expect("glibc >= 2.35 exports __rseq_offset");
        assert_eq!(glibc.size, 20, "Debian 12's glibc 2.36 reports 20");
        assert_eq!(thread::registrar(), Registrar::Glibc(glibc));
        assert_eq!(thread::area_offset(), glibc.offset);
        assert_ne!(thread::area(), thread::own_area());
        assert_eq!(thread::feature_size(), 28);
        assert_eq!(thread::prepare_current_thread(), Ok(()));
        // glibc's area is registered: registering it again is EBUSY, another one EINVAL.
        // SAFETY: the area is glibc's registered area of this thread.
        let again = unsafe { sys::rseq(thread::area(), 32, 0, RSEQ_SIG) };
        assert_eq!(again, Err(Errno::EBUSY));
        // SAFETY: this crate's own area is valid TLS of this thread; the call fails.
        let other = unsafe { sys::rseq(thread::own_area(), 32, 0, RSEQ_SIG) };
        assert_eq!(other, Err(Errno::EINVAL));
        assert!(rseq_abi::cpu::mm_cid().is_some());
        assert_eq!(rseq_abi::cpu::node_id(), Some(0));
        assert_current_cpu_right();
        assert_eq!(rseq_abi::cpu::cpu_id(), rseq_testkit::sched_getcpu());
        std::thread::spawn(move || {
            assert_eq!(thread::area_offset(), glibc.offset);
            assert_eq!(thread::prepare_current_thread(), Ok(()));
            assert_current_cpu_right();
            assert_eq!(rseq_abi::cpu::cpu_id(), rseq_testkit::sched_getcpu());
        })
        .join()
        .unwrap();
    });
}

#[test]
fn own_registration() {
    in_child("own_registration", Env::NoGlibcRseq, || {
        let glibc = rseq_abi::glibc::rseq_symbols().expect("glibc exports __rseq_size");
        assert_eq!(glibc.size, 0, "the tunable turns glibc's registration off");
        assert_eq!(thread::area(), thread::own_area());
        assert_eq!(
            rseq_abi::cpu::cpu_id(),
            RSEQ_CPU_ID_UNINITIALIZED,
            "not registered before asked"
        );
        assert_eq!(rseq_abi::cpu::mm_cid(), None);
        assert_eq!(thread::prepare_current_thread(), Ok(()));
        assert_eq!(thread::registrar(), Registrar::Crate);
        assert_eq!(thread::feature_size(), 28);
        // The kernel has exactly our area: registering it again is EBUSY.
        // SAFETY: the own area is this thread's registered area.
        let again = unsafe { sys::rseq(thread::own_area(), 32, 0, RSEQ_SIG) };
        assert_eq!(again, Err(Errno::EBUSY));
        assert_current_cpu_right();
        assert_eq!(rseq_abi::cpu::cpu_id(), rseq_testkit::sched_getcpu());
        assert!(rseq_abi::cpu::mm_cid().is_some());
        let offset = thread::area_offset();
        std::thread::spawn(move || {
            assert_eq!(thread::area_offset(), offset);
            assert_eq!(rseq_abi::cpu::cpu_id(), RSEQ_CPU_ID_UNINITIALIZED);
            assert_eq!(thread::prepare_current_thread(), Ok(()));
            assert_eq!(thread::prepare_current_thread(), Ok(()), "idempotent");
            assert_current_cpu_right();
            assert_eq!(rseq_abi::cpu::cpu_id(), rseq_testkit::sched_getcpu());
        })
        .join()
        .unwrap();
    });
}

fn refused(name: &str, errno: Errno) {
    in_child(name, Env::NoGlibcRseq, || {
        rseq_testkit::refuse_rseq(errno.raw()).expect("install the seccomp filter");
        let expected = Unavailable(Reason::Refused(errno));
        assert_eq!(thread::prepare_current_thread(), Err(expected));
        assert_eq!(
            thread::registrar(),
            Registrar::Nobody(Reason::Refused(errno))
        );
        assert_own_area_unregistered();
        assert_current_cpu_right();
        std::thread::spawn(move || {
            assert_eq!(thread::prepare_current_thread(), Err(expected));
            assert_own_area_unregistered();
            assert_current_cpu_right();
        })
        .join()
        .unwrap();
    });
}

#[test]
fn seccomp_enosys() {
    refused("seccomp_enosys", Errno::ENOSYS);
}

#[test]
fn seccomp_eperm() {
    refused("seccomp_eperm", Errno::EPERM);
}

/// A container-style seccomp filter, installed before `exec`: glibc's start-up
/// registration fails, glibc sets `__rseq_size` to 0 and marks its area
/// `RSEQ_CPU_ID_REGISTRATION_FAILED`; the crate's own registration is refused too.
fn refused_before_exec(name: &str, errno: Errno) {
    let child = Child {
        refuse_before_exec: Some(errno.raw()),
        ..Child::new(Env::GlibcDefault)
    };
    in_child_with(name, child, || {
        let glibc = rseq_abi::glibc::rseq_symbols().unwrap();
        assert_eq!(glibc.size, 0, "glibc's registration failed at start-up");
        let glibc_area = common::thread_pointer().wrapping_offset(glibc.offset) as *const Rseq;
        // SAFETY: glibc's area of this thread, at `__rseq_offset` from the thread pointer.
        let glibc_cpu = unsafe { core::ptr::addr_of!((*glibc_area).cpu_id).read_volatile() };
        assert_eq!(glibc_cpu as i32, RSEQ_CPU_ID_REGISTRATION_FAILED);
        let expected = Unavailable(Reason::Refused(errno));
        assert_eq!(thread::prepare_current_thread(), Err(expected));
        assert_eq!(
            thread::registrar(),
            Registrar::Nobody(Reason::Refused(errno))
        );
        assert_own_area_unregistered();
        assert_current_cpu_right();
        std::thread::spawn(move || {
            assert_eq!(thread::prepare_current_thread(), Err(expected));
            assert_own_area_unregistered();
            assert_current_cpu_right();
        })
        .join()
        .unwrap();
    });
}

#[test]
fn seccomp_before_exec_enosys() {
    refused_before_exec("seccomp_before_exec_enosys", Errno::ENOSYS);
}

#[test]
fn seccomp_before_exec_eperm() {
    refused_before_exec("seccomp_before_exec_eperm", Errno::EPERM);
}

/// glibc registered the main thread at start-up; a filter refusing `rseq(2)` installed
/// afterwards makes glibc itself abort the process when the next thread starts (glibc
/// 2.35+ requires a thread created by a registered thread to register). This is the C
/// library's behaviour, outside any crate's control; the test records it.
#[test]
fn seccomp_after_glibc_registered_aborts_in_glibc() {
    let name = "seccomp_after_glibc_registered_aborts_in_glibc";
    let child = Child {
        aborts_with: Some("Fatal glibc error: rseq registration failed"),
        ..Child::new(Env::GlibcDefault)
    };
    in_child_with(name, child, || {
        let glibc = rseq_abi::glibc::rseq_symbols().unwrap();
        assert_eq!(thread::registrar(), Registrar::Glibc(glibc));
        rseq_testkit::refuse_rseq(libc::ENOSYS).expect("install the seccomp filter");
        assert_eq!(
            thread::prepare_current_thread(),
            Ok(()),
            "still registered here"
        );
        let _ = std::thread::spawn(|| {}).join();
        unreachable!("glibc aborts the process when the thread starts");
    });
}

#[repr(C, align(32))]
struct Foreign(Rseq);

/// Someone registered an area unknown to this crate before the crate was used.
#[test]
fn foreign_area_first() {
    in_child("foreign_area_first", Env::NoGlibcRseq, || {
        let foreign: &'static mut Foreign = Box::leak(Box::new(Foreign(Rseq::new())));
        let foreign_ptr: *mut Rseq = &mut foreign.0;
        // SAFETY: the leaked area lives for the rest of the process.
        unsafe { sys::rseq(foreign_ptr, 32, 0, RSEQ_SIG) }.expect("register the foreign area");
        let expected = Unavailable(Reason::Foreign(Errno::EINVAL));
        assert_eq!(thread::prepare_current_thread(), Err(expected));
        assert_eq!(thread::registrar(), Registrar::Foreign(Errno::EINVAL));
        assert_own_area_unregistered();
        assert_current_cpu_right();
        // The foreign area is live and untouched by the crate.
        // SAFETY: reading the leaked area.
        let foreign_cpu = unsafe { core::ptr::addr_of!((*foreign_ptr).cpu_id).read_volatile() };
        assert_eq!(foreign_cpu as i32, rseq_testkit::sched_getcpu());
        // The verdict holds for other threads too.
        std::thread::spawn(move || {
            assert_eq!(thread::prepare_current_thread(), Err(expected));
            assert_own_area_unregistered();
        })
        .join()
        .unwrap();
    });
}

/// Someone registered this crate's own area by address first (the legacy sharing of
/// `__rseq_abi`): the area is live, so the thread uses it, and leaves it registered.
#[test]
fn own_area_registered_by_someone_else() {
    in_child(
        "own_area_registered_by_someone_else",
        Env::NoGlibcRseq,
        || {
            // SAFETY: the own area is this thread's static TLS, alive until the thread exits.
            unsafe { sys::rseq(thread::own_area(), 32, 0, RSEQ_SIG) }.unwrap();
            assert_eq!(thread::prepare_current_thread(), Ok(()));
            assert_eq!(thread::registrar(), Registrar::Crate);
            assert_current_cpu_right();
            assert_eq!(rseq_abi::cpu::cpu_id(), rseq_testkit::sched_getcpu());
        },
    );
}

/// Registering one's own area, as code copied from blogs does, fails under glibc >= 2.35:
/// the twin that shows why discovery is needed.
#[test]
fn naive_own_registration_fails_under_glibc() {
    in_child(
        "naive_own_registration_fails_under_glibc",
        Env::GlibcDefault,
        || {
            let area: &'static mut Foreign = Box::leak(Box::new(Foreign(Rseq::new())));
            // SAFETY: the leaked area lives for the rest of the process; the call fails.
            let r = unsafe { sys::rseq(&mut area.0, 32, 0, RSEQ_SIG) };
            assert_eq!(r, Err(Errno::EINVAL));
        },
    );
}

/// The process registers its own areas, but one thread had a foreign area registered
/// first: that thread alone falls back, and keeps its answer without further system calls.
#[test]
fn foreign_area_on_one_thread() {
    in_child("foreign_area_on_one_thread", Env::NoGlibcRseq, || {
        assert_eq!(thread::prepare_current_thread(), Ok(()));
        assert_eq!(thread::registrar(), Registrar::Crate);
        std::thread::spawn(|| {
            let foreign: &'static mut Foreign = Box::leak(Box::new(Foreign(Rseq::new())));
            // SAFETY: the leaked area lives for the rest of the process.
            unsafe { sys::rseq(&mut foreign.0, 32, 0, RSEQ_SIG) }.unwrap();
            let expected = Err(Unavailable(Reason::Foreign(Errno::EINVAL)));
            assert_eq!(thread::prepare_current_thread(), expected);
            assert_eq!(thread::prepare_current_thread(), expected);
            assert_own_area_unregistered();
            assert_current_cpu_right();
        })
        .join()
        .unwrap();
        std::thread::spawn(|| assert_eq!(thread::prepare_current_thread(), Ok(())))
            .join()
            .unwrap();
        assert_eq!(thread::registrar(), Registrar::Crate);
    });
}
