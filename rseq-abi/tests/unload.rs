//! `prepare_unload` clears the calling thread's `rseq_cs`.

use rseq_abi::abi::RseqCs;
use rseq_abi::thread;
use rseq_testkit::child::{in_child, Env};

/// A descriptor whose range is empty: the kernel accepts it and never restarts anything.
static EMPTY: RseqCs = RseqCs {
    version: 0,
    flags: 0,
    start_ip: 0,
    post_commit_offset: 0,
    abort_ip: 0,
};

fn rseq_cs_field() -> *mut u64 {
    thread::area()
        .cast::<u8>()
        .wrapping_add(rseq_abi::abi::offsets::RSEQ_RSEQ_CS)
        .cast()
}

fn clears() {
    assert_eq!(thread::prepare_current_thread(), Ok(()));
    let field = rseq_cs_field();
    // SAFETY: `rseq_cs` of this thread's live area; the descriptor is valid static data.
    unsafe { field.write_volatile(&EMPTY as *const RseqCs as u64) };
    thread::prepare_unload();
    // SAFETY: reading the same field.
    assert_eq!(unsafe { field.read_volatile() }, 0);
}

#[test]
fn prepare_unload_glibc_owned() {
    in_child("prepare_unload_glibc_owned", Env::GlibcDefault, clears);
}

#[test]
fn prepare_unload_own_registration() {
    in_child("prepare_unload_own_registration", Env::NoGlibcRseq, clears);
}
