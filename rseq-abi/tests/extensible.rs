//! The extensible rseq area against the real kernel (Linux 6.18 here:
//! `AT_RSEQ_FEATURE_SIZE` 28, `AT_RSEQ_ALIGN` 32) and C library (glibc 2.36): registration
//! lengths the kernel accepts, the `features()` answer of every registrar that can be
//! produced here, and the time-slice extension reporting "unsupported" cleanly. Each
//! scenario runs in a child process with its own environment.

use rseq_abi::abi::{
    offsets, Rseq, RSEQ_FLAG_SLICE_EXT_DEFAULT_ON, RSEQ_FLAG_UNREGISTER, RSEQ_SIG,
};
use rseq_abi::slice::{self, Unsupported};
use rseq_abi::thread::{self, Features, Reason};
use rseq_abi::{sys, Errno};
use rseq_testkit::child::{in_child, in_child_with, Child, Env};

/// Room for a long registration, 64-byte aligned.
#[repr(C, align(64))]
struct Big([u8; 256]);

impl Big {
    /// A leaked, unregistered area (`cpu_id` = -1), alive for the rest of the process.
    fn leak() -> *mut u8 {
        let big: &'static mut Big = Box::leak(Box::new(Big([0; 256])));
        let p = big.0.as_mut_ptr();
        // SAFETY: writing an unregistered `struct rseq` at the start of the leaked buffer.
        unsafe { p.cast::<Rseq>().write(Rseq::new()) };
        p
    }
}

fn cpu_id_of(area: *mut u8) -> i32 {
    // SAFETY: `area` is a live area of this thread (or an unregistered one).
    unsafe { area.add(offsets::RSEQ_CPU_ID).cast::<u32>().read_volatile() as i32 }
}

/// The values this machine's kernel publishes.
#[test]
fn auxv_of_this_kernel() {
    assert_eq!(rseq_abi::auxv::rseq_feature_size(), Some(28));
    assert_eq!(rseq_abi::auxv::rseq_align(), Some(32));
}

/// Registrations of 64 and 128 bytes of the own area (64-byte aligned) are accepted by
/// this kernel, which fills its fields; the kernel then insists on that length. (The
/// legacy `__rseq_abi` is 32 bytes: not with that feature.)
#[cfg(not(feature = "legacy-rseq-abi"))]
#[test]
fn own_area_takes_64_and_128_bytes() {
    in_child("own_area_takes_64_and_128_bytes", Env::NoGlibcRseq, || {
        let area = thread::own_area();
        assert_eq!(area as usize % 64, 0);
        for len in [64, 128] {
            // SAFETY: the own area is 256 bytes of this thread's static TLS, 64-aligned,
            // alive until the thread exits; it is unregistered below.
            unsafe { sys::rseq(area, len, 0, RSEQ_SIG) }.expect("register a long area");
            assert_eq!(cpu_id_of(area.cast()), rseq_testkit::sched_getcpu());
            // One registration per thread, with one length.
            // SAFETY: the calls fail; the area stays registered with `len`.
            let again = unsafe { sys::rseq(area, len, 0, RSEQ_SIG) };
            assert_eq!(again, Err(Errno::EBUSY));
            // SAFETY: as above.
            let shorter = unsafe { sys::rseq(area, 32, 0, RSEQ_SIG) };
            assert_eq!(shorter, Err(Errno::EINVAL));
            // SAFETY: as above.
            let wrong_len = unsafe { sys::rseq(area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) };
            assert_eq!(wrong_len, Err(Errno::EINVAL));
            // SAFETY: unregistering with the registered length.
            unsafe { sys::rseq(area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) }.expect("unregister");
        }
        // The crate's own registration then uses the length planned for this kernel.
        assert_eq!(thread::prepare_current_thread(), Ok(()));
        // SAFETY: the call fails: the area is registered with 32 bytes.
        let again = unsafe { sys::rseq(area, 32, 0, RSEQ_SIG) };
        assert_eq!(again, Err(Errno::EBUSY));
    });
}

/// A registration longer than 32 bytes needs the alignment `AT_RSEQ_ALIGN` gives (32 on
/// this kernel) and a length covering the feature size; shorter than 32 is refused.
#[test]
fn long_registration_rules() {
    in_child("long_registration_rules", Env::NoGlibcRseq, || {
        let base = Big::leak();
        // 32-aligned but not 64-aligned: enough for this kernel's AT_RSEQ_ALIGN of 32.
        let at32 = base.wrapping_add(32);
        // SAFETY: an unregistered area inside the leaked buffer, 32-aligned, with 224
        // bytes after it.
        unsafe { at32.cast::<Rseq>().write(Rseq::new()) };
        // SAFETY: as above; unregistered right after.
        unsafe { sys::rseq(at32.cast(), 64, 0, RSEQ_SIG) }.expect("register 64 at 32");
        assert_eq!(cpu_id_of(at32), rseq_testkit::sched_getcpu());
        // SAFETY: unregistering with the registered length.
        unsafe { sys::rseq(at32.cast(), 64, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) }.unwrap();
        // 16-aligned: refused whatever the length.
        let at16 = base.wrapping_add(16);
        for len in [32, 64] {
            // SAFETY: the kernel refuses the misaligned area before writing to it.
            let r = unsafe { sys::rseq(at16.cast(), len, 0, RSEQ_SIG) };
            assert_eq!(r, Err(Errno::EINVAL));
        }
        // Shorter than the original 32 bytes: refused.
        // SAFETY: as above.
        let short = unsafe { sys::rseq(base.cast(), 28, 0, RSEQ_SIG) };
        assert_eq!(short, Err(Errno::EINVAL));
    });
}

const FILLED_HERE: Features = Features::CPU_ID
    .union(Features::NODE_ID)
    .union(Features::MM_CID);

/// glibc registers: its `__rseq_size` of 20 (Debian's 2.36) with the kernel's 28.
#[test]
fn features_glibc() {
    in_child("features_glibc", Env::GlibcDefault, || {
        assert_eq!(rseq_abi::glibc::rseq_symbols().unwrap().size, 20);
        assert_eq!(thread::features(), FILLED_HERE);
        std::thread::spawn(|| assert_eq!(thread::features(), FILLED_HERE))
            .join()
            .unwrap();
    });
}

/// This crate registers: 32 bytes on this kernel, of which 28 are filled.
#[test]
fn features_own() {
    in_child("features_own", Env::NoGlibcRseq, || {
        assert_eq!(thread::features(), FILLED_HERE);
        assert_eq!(thread::feature_size(), 28);
        // SAFETY: the call fails: the own area is registered with 32 bytes.
        let again = unsafe { sys::rseq(thread::own_area(), 32, 0, RSEQ_SIG) };
        assert_eq!(again, Err(Errno::EBUSY));
        std::thread::spawn(|| assert_eq!(thread::features(), FILLED_HERE))
            .join()
            .unwrap();
    });
}

/// Another area was registered first: this crate's area is never live.
#[test]
fn features_foreign() {
    in_child("features_foreign", Env::NoGlibcRseq, || {
        let foreign = Big::leak();
        // SAFETY: the leaked area lives for the rest of the process.
        unsafe { sys::rseq(foreign.cast(), 32, 0, RSEQ_SIG) }.unwrap();
        assert_eq!(thread::features(), Features::empty());
        assert_eq!(
            slice::support(),
            Err(Unsupported::NoRseq(Reason::Foreign(Errno::EINVAL)))
        );
    });
}

/// Nobody can register: a seccomp filter refuses `rseq(2)`.
#[test]
fn features_nobody() {
    in_child("features_nobody", Env::NoGlibcRseq, || {
        rseq_testkit::refuse_rseq(libc::ENOSYS).expect("install the seccomp filter");
        assert_eq!(thread::features(), Features::empty());
        assert_eq!(
            slice::support(),
            Err(Unsupported::NoRseq(Reason::Refused(Errno::ENOSYS)))
        );
        assert_eq!(slice::with_extension(|| 9), 9);
    });
}

/// glibc's start-up registration was refused before `exec`.
#[test]
fn features_glibc_refused_before_exec() {
    let child = Child {
        refuse_before_exec: Some(libc::EPERM),
        ..Child::new(Env::GlibcDefault)
    };
    in_child_with("features_glibc_refused_before_exec", child, || {
        assert_eq!(thread::features(), Features::empty());
    });
}

/// The slice_ctrl bytes of the calling thread's area.
fn slice_ctrl() -> u32 {
    // SAFETY: `area()` is the calling thread's readable 32-byte area; slice_ctrl is its
    // aligned u32 at offset 28.
    unsafe {
        thread::area()
            .cast::<u8>()
            .add(offsets::RSEQ_SLICE_CTRL)
            .cast::<u32>()
            .read_volatile()
    }
}

/// Every time-slice extension call reports "unsupported" on this kernel, and
/// `with_extension` leaves the area alone.
fn slice_unsupported() {
    assert_eq!(slice::support(), Err(Unsupported::Kernel));
    assert_eq!(slice::enable(), Err(Unsupported::Kernel));
    assert!(!thread::features().contains(Features::SLICE_CTRL));
    assert_eq!(sys::rseq_slice_extension_get(), Err(Errno::EINVAL));
    assert_eq!(sys::rseq_slice_extension_set(true), Err(Errno::EINVAL));
    assert_eq!(sys::rseq_slice_yield(), Err(Errno::ENOSYS));
    let before = slice_ctrl();
    assert_eq!(
        slice::with_extension(|| {
            assert_eq!(slice_ctrl(), before, "no request on this kernel");
            11
        }),
        11
    );
    assert_eq!(slice_ctrl(), before);
}

#[test]
fn slice_unsupported_under_glibc() {
    in_child(
        "slice_unsupported_under_glibc",
        Env::GlibcDefault,
        slice_unsupported,
    );
}

#[test]
fn slice_unsupported_own_registration() {
    in_child(
        "slice_unsupported_own_registration",
        Env::NoGlibcRseq,
        || {
            // Registering with the extension on by default is refused by this kernel (on a
            // thread with nothing registered yet).
            let area = Big::leak();
            // SAFETY: the kernel refuses the flag before looking at the area.
            let r = unsafe { sys::rseq(area.cast(), 32, RSEQ_FLAG_SLICE_EXT_DEFAULT_ON, RSEQ_SIG) };
            assert_eq!(r, Err(Errno::EINVAL));
            assert_eq!(cpu_id_of(area), -1);
            slice_unsupported();
            assert_eq!(thread::features(), FILLED_HERE);
        },
    );
}
