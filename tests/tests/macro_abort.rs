//! The kernel's abort path of a generated section, made deterministic: the section loads
//! from a page that is not readable, the fault's signal is delivered while the thread is
//! inside the section, so the kernel moves it to the descriptor's abort_ip (checking the
//! signature before it). The handler makes the page readable and returns: a correct
//! section resumes in its abort handler and reports the abort, without committing; a
//! section whose descriptor the kernel did not honour would re-run the load and commit;
//! a wrong signature gets the process killed.
//!
//! # Safety
//!
//! Uses `unsafe` for `mmap`/`mprotect`/`sigaction` and to call the sections.
#![allow(unsafe_code)]

use rseq_abi::thread::{Registrar, Unavailable};
use rseq_macros::rseq_critical;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const STRIDE: usize = 16;

#[derive(Debug, PartialEq, Eq)]
enum Probe {
    Aborted,
    Unavailable(Unavailable),
}

impl From<Unavailable> for Probe {
    fn from(u: Unavailable) -> Self {
        Probe::Unavailable(u)
    }
}

#[rseq_critical(on_abort = return Err(Probe::Aborted))]
unsafe fn probe_cpu(words: *mut usize, page: *mut usize) -> Result<(), Probe> {
    let cpu = cpu_id();
    let v = words.wrapping_add(cpu * STRIDE);
    let x = load(page);
    commit(v, x);
    Ok(())
}

#[rseq_critical(on_abort = return Err(Probe::Aborted))]
unsafe fn probe_cid(words: *mut usize, page: *mut usize) -> Result<(), Probe> {
    let cid = mm_cid();
    let v = words.wrapping_add(cid * STRIDE);
    let x = load(page);
    commit(v, x);
    Ok(())
}

/// Aborts of `probe_counted`, counted on its abort path only.
static PROBE_ABORTS: AtomicU64 = AtomicU64::new(0);

#[rseq_critical(on_abort = return Err(Probe::Aborted), abort_counter = PROBE_ABORTS)]
unsafe fn probe_counted(words: *mut usize, page: *mut usize) -> Result<(), Probe> {
    let cpu = cpu_id();
    let v = words.wrapping_add(cpu * STRIDE);
    let x = load(page);
    commit(v, x);
    Ok(())
}

/// The page the sections fault on, and how many faults the handler saw.
static PAGE: AtomicUsize = AtomicUsize::new(0);
static FAULTS: AtomicUsize = AtomicUsize::new(0);
const PAGE_SIZE: usize = 4096;

extern "C" fn on_segv(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let page = PAGE.load(Ordering::Relaxed);
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if addr < page || addr >= page + PAGE_SIZE {
        // Not ours: restore the default action and let the fault kill the process.
        // SAFETY: signal() is async-signal-safe.
        unsafe { libc::signal(libc::SIGSEGV, libc::SIG_DFL) };
        return;
    }
    FAULTS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `page` is our mapping; mprotect is async-signal-safe.
    unsafe {
        libc::mprotect(
            page as *mut libc::c_void,
            PAGE_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    };
}

/// The broken twin: the same load and store with no descriptor armed, as a section the
/// kernel does not know about would behave.
unsafe fn unarmed(words: *mut usize, page: *mut usize) -> Result<(), Probe> {
    let v = words.wrapping_add(rseq_abi::cpu::current_cpu() as usize * STRIDE);
    // SAFETY: `page` is mapped (the fault is handled), `v` is a slot of `words`.
    unsafe {
        std::arch::asm!(
            "movq ({p}), {t}",
            "movq {t}, ({v})",
            p = in(reg) page,
            v = in(reg) v,
            t = out(reg) _,
            options(att_syntax, nostack)
        )
    };
    Ok(())
}

type ProbeFn = unsafe fn(*mut usize, *mut usize) -> Result<(), Probe>;

/// Maps the unreadable page and calls `probe` once: its result, and whether it committed.
fn first_attempt(probe: ProbeFn) -> (Result<(), Probe>, bool, *mut libc::c_void) {
    // SAFETY: an anonymous private mapping with no access, owned by this test.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PAGE_SIZE,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    PAGE.store(page as usize, Ordering::Relaxed);
    FAULTS.store(0, Ordering::Relaxed);
    // The page reads 0 once readable: any other initial value shows a commit.
    let mut words = vec![usize::MAX; rseq_abi::cpu::possible_cpus() * STRIDE];
    // Make sure the area is live first (the first section of a thread may abort on
    // registration, which is not what this test is about).
    rseq_abi::thread::prepare_current_thread().expect("rseq is available on this machine");
    // SAFETY: `words` has a slot per index; `page` is mapped (unreadable for now).
    let r = unsafe { probe(words.as_mut_ptr(), page.cast()) };
    assert_eq!(FAULTS.load(Ordering::Relaxed), 1);
    (r, words.iter().any(|&w| w != usize::MAX), page)
}

/// The generated section aborts on the fault, commits nothing, then commits once the page
/// is readable.
fn run(probe: ProbeFn) {
    let (r, committed, page) = first_attempt(probe);
    assert_eq!(
        r,
        Err(Probe::Aborted),
        "the fault inside the section aborts it"
    );
    assert!(!committed, "nothing committed");
    let mut words = vec![0usize; rseq_abi::cpu::possible_cpus() * STRIDE];
    // SAFETY: `page` is readable and writable now.
    unsafe { page.cast::<usize>().write(7) };
    let mut committed = false;
    for _ in 0..1000 {
        // SAFETY: as above.
        match unsafe { probe(words.as_mut_ptr(), page.cast()) } {
            Ok(()) => {
                committed = true;
                break;
            }
            Err(Probe::Aborted) => continue, // preempted: try again
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(committed);
    assert_eq!(words.iter().filter(|&&w| w == 7).count(), 1);
    assert_eq!(FAULTS.load(Ordering::Relaxed), 1);
    // SAFETY: the mapping is ours and no longer used.
    unsafe { libc::munmap(page, PAGE_SIZE) };
}

#[test]
fn a_fault_inside_a_section_resumes_at_its_abort_handler() {
    assert!(matches!(
        rseq_abi::thread::registrar(),
        Registrar::Glibc(_) | Registrar::Crate
    ));
    // SAFETY: a zeroed sigaction is valid; the handler only calls async-signal-safe
    // functions.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_segv as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()), 0);
    }
    run(probe_cpu);
    run(probe_cid);
    // `abort_counter`: the fault's abort is counted once; committing calls count nothing
    // but the rare preemption.
    let before = PROBE_ABORTS.load(Ordering::Relaxed);
    let (r, committed, page) = first_attempt(probe_counted);
    assert_eq!(r, Err(Probe::Aborted));
    assert!(!committed);
    assert_eq!(
        PROBE_ABORTS.load(Ordering::Relaxed) - before,
        1,
        "one abort, counted once"
    );
    // SAFETY: the mapping is ours and no longer used.
    unsafe { libc::munmap(page, PAGE_SIZE) };
    run(probe_counted);
    assert!(
        PROBE_ABORTS.load(Ordering::Relaxed) - before >= 2,
        "run's first attempt aborts too"
    );
    // The twin resumes at the faulting load and commits: the check above would fail.
    let (r, committed, page) = first_attempt(unarmed);
    assert!(r.is_ok() && committed, "the twin is caught");
    // SAFETY: the mapping is ours and no longer used.
    unsafe { libc::munmap(page, PAGE_SIZE) };
}
