//! The kernel selftests' `rseq(2)` error cases, against the real kernel through
//! [`rseq_abi::sys::rseq`]. They run in a child process without glibc's registration, on a
//! fresh thread where nothing is registered.

use rseq_abi::abi::{Rseq, RSEQ_FLAG_UNREGISTER, RSEQ_SIG};
use rseq_abi::{sys, Errno};
use rseq_testkit::child::{in_child, Env};

#[repr(C, align(64))]
struct Areas([Rseq; 2]);

#[test]
fn selftest_error_cases() {
    in_child("selftest_error_cases", Env::NoGlibcRseq, || {
        std::thread::spawn(|| {
            let mut areas = Box::new(Areas([Rseq::new(), Rseq::new()]));
            let area: *mut Rseq = &mut areas.0[0];
            let other: *mut Rseq = &mut areas.0[1];
            let misaligned = area.cast::<u8>().wrapping_add(8).cast::<Rseq>();
            // A kernel address: fails `access_ok`.
            let bad = 0xffff_8000_0000_0000_usize as *mut Rseq;
            // SAFETY: for every call below, `area` and `other` are heap memory that
            // outlives their registrations (unregistered before the box is dropped); the
            // other pointers are rejected by the kernel before it uses them.
            unsafe {
                assert_eq!(
                    sys::rseq(area, 32, 1 << 5, RSEQ_SIG),
                    Err(Errno::EINVAL),
                    "bad flags"
                );
                assert_eq!(
                    sys::rseq(misaligned, 32, 0, RSEQ_SIG),
                    Err(Errno::EINVAL),
                    "misaligned"
                );
                assert_eq!(
                    sys::rseq(area, 31, 0, RSEQ_SIG),
                    Err(Errno::EINVAL),
                    "length 31"
                );
                assert_eq!(
                    sys::rseq(bad, 32, 0, RSEQ_SIG),
                    Err(Errno::EFAULT),
                    "bad address"
                );
                assert_eq!(sys::rseq(area, 32, 0, RSEQ_SIG), Ok(()), "register");
                assert_eq!(
                    sys::rseq(area, 32, 0, RSEQ_SIG),
                    Err(Errno::EBUSY),
                    "identical"
                );
                assert_eq!(
                    sys::rseq(other, 32, 0, RSEQ_SIG),
                    Err(Errno::EINVAL),
                    "another area"
                );
                assert_eq!(
                    sys::rseq(area, 32, 0, RSEQ_SIG ^ 1),
                    Err(Errno::EPERM),
                    "other signature"
                );
                assert_eq!(
                    sys::rseq(area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG ^ 1),
                    Err(Errno::EPERM),
                    "unregister with a wrong signature"
                );
                assert_eq!(
                    sys::rseq(area, 32, RSEQ_FLAG_UNREGISTER | (1 << 5), RSEQ_SIG),
                    Err(Errno::EINVAL),
                    "unregister with extra flags"
                );
                assert_eq!(
                    sys::rseq(area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG),
                    Ok(()),
                    "unregister"
                );
                assert_eq!(
                    sys::rseq(area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG),
                    Err(Errno::EINVAL),
                    "double unregister"
                );
                // After unregistering, another area can be registered.
                assert_eq!(sys::rseq(other, 32, 0, RSEQ_SIG), Ok(()));
                assert_eq!(sys::rseq(other, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG), Ok(()));
            }
        })
        .join()
        .unwrap();
    });
}

#[test]
fn errno_display_names_the_error() {
    assert_eq!(Errno::EINVAL.to_string(), "EINVAL (Invalid argument)");
    assert_eq!(format!("{:?}", Errno::EBUSY), "EBUSY");
    assert_eq!(
        std::io::Error::from(Errno::EPERM).raw_os_error(),
        Some(libc::EPERM)
    );
}
