//! Faults of the process environment during a run of the per-CPU building blocks. Every
//! case runs in a child process (this binary re-run on one test, see `rseq_tests::child`)
//! and must keep the data exact (nothing lost, nothing duplicated):
//!
//! - rseq refused by a seccomp filter installed in the middle of the program's life: the
//!   threads created after it fall back to the shared slots while the older ones keep
//!   their per-CPU sections;
//! - glibc's registration disabled (`glibc.pthread.rseq=0`): the crate registers itself;
//! - a foreign library registered its own area first: every thread falls back;
//! - `fork` during a run: the child (one thread, registration inherited) keeps counting
//!   exactly from the state it inherited;
//! - threads exiting during a run, including operations from TLS destructors that run
//!   after the thread's area was unregistered;
//! - a module with a critical section (`unload_module.S`, built with gcc) loaded with
//!   `dlopen`, used, and unloaded with `dlclose` after `rseq_abi::thread::prepare_unload`;
//!   its twin without `prepare_unload` is killed by `SIGSEGV` (the kernel reads the
//!   unmapped descriptor at the next preemption).
#![allow(unsafe_code)]

use std::os::unix::process::ExitStatusExt;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rseq_abi::abi::{Rseq, RSEQ_SIG};
use rseq_abi::thread::{self, Reason, Registrar, Unavailable};
use rseq_percpu::{PerCpuCounter, PerCpuRing, Slot};
use rseq_tests::child::{run_test_in_child, ChildEnv};
use rseq_tests::stress::{self, Config, Indexing, Kind};

const SCENARIO: &str = "RSEQ_RELIABILITY_FAULT";
const NO_GLIBC_RSEQ: (&str, &str) = ("GLIBC_TUNABLES", "glibc.pthread.rseq=0");

fn is_child(name: &str) -> bool {
    std::env::var(SCENARIO).as_deref() == Ok(name)
}

fn child(name: &str, env: ChildEnv) -> Output {
    run_test_in_child(name, SCENARIO, name, &env)
}

fn no_glibc_rseq() -> ChildEnv {
    ChildEnv {
        vars: vec![(NO_GLIBC_RSEQ.0.into(), NO_GLIBC_RSEQ.1.into())],
        ..ChildEnv::default()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The child must have run exactly this one test and passed.
fn passed(out: &Output) -> String {
    let t = text(out);
    assert!(out.status.success(), "child failed ({}):\n{t}", out.status);
    assert!(t.contains("1 passed"), "child did not run the test:\n{t}");
    t
}

/// A short stress case; returns its outcome.
fn short(kind: Kind, indexing: Indexing) -> stress::Outcome {
    let cfg = Config {
        duration: Duration::from_millis(500),
        threads_per_cpu: 3,
        ..Config::default()
    };
    stress::run(kind, indexing, &cfg).unwrap_or_else(|v| panic!("{v}"))
}

/// Counts adds and ring round trips by slot kind, with the ring's items checked at the end.
struct Mixed {
    counter: PerCpuCounter,
    ring: PerCpuRing,
    adds: AtomicU64,
    per_cpu_adds: AtomicU64,
    shared_adds: AtomicU64,
    items: usize,
}

impl Mixed {
    fn new(items: usize) -> Mixed {
        let ring = PerCpuRing::new(items);
        for i in 1..=items {
            ring.push(i).expect("room for every item");
        }
        Mixed {
            counter: PerCpuCounter::new(),
            ring,
            adds: AtomicU64::new(0),
            per_cpu_adds: AtomicU64::new(0),
            shared_adds: AtomicU64::new(0),
            items,
        }
    }

    fn work(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match self.counter.add(1) {
                Slot::PerCpu(_) => self.per_cpu_adds.fetch_add(1, Ordering::Relaxed),
                Slot::Shared => self.shared_adds.fetch_add(1, Ordering::Relaxed),
            };
            self.adds.fetch_add(1, Ordering::Relaxed);
            if let Some((item, _)) = self.ring.pop() {
                std::thread::yield_now();
                self.ring
                    .push(item)
                    .expect("the ring has room for every item");
            }
        }
    }

    fn check(mut self) -> (u64, u64) {
        let adds = self.adds.load(Ordering::Relaxed);
        assert_eq!(self.counter.sum(), adds, "counter lost or doubled adds");
        let mut seen = vec![0u32; self.items];
        let mut slots: Vec<Slot> = (0..self.ring.slots()).map(Slot::PerCpu).collect();
        slots.push(Slot::Shared);
        for slot in slots {
            while let Some(item) = self.ring.pop_from(slot) {
                seen[item - 1] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "ring items: {seen:?}");
        (
            self.per_cpu_adds.load(Ordering::Relaxed),
            self.shared_adds.load(Ordering::Relaxed),
        )
    }
}

/// rseq refused for the threads created after a seccomp filter, in the middle of a run:
/// the old threads keep their per-CPU sections, the new ones fall back, both at once.
#[test]
fn seccomp_refuses_rseq_to_new_threads_mid_run() {
    const NAME: &str = "seccomp_refuses_rseq_to_new_threads_mid_run";
    if is_child(NAME) {
        let mixed = Mixed::new(64);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    assert_eq!(thread::prepare_current_thread(), Ok(()));
                    mixed.work(&stop);
                });
            }
            std::thread::sleep(Duration::from_millis(200));
            // From here on, this thread and the threads it creates cannot register.
            rseq_testkit::refuse_rseq(libc::EPERM).expect("install the seccomp filter");
            for _ in 0..4 {
                s.spawn(|| {
                    let r = thread::prepare_current_thread();
                    assert!(matches!(r, Err(Unavailable(Reason::Refused(_)))), "{r:?}");
                    mixed.work(&stop);
                });
            }
            std::thread::sleep(Duration::from_millis(400));
            stop.store(true, Ordering::Relaxed);
        });
        let (per_cpu, shared) = mixed.check();
        println!("per-CPU adds {per_cpu}, shared adds {shared}");
        assert!(per_cpu > 0 && shared > 0);
        return;
    }
    let t = passed(&child(NAME, no_glibc_rseq()));
    assert!(t.contains("per-CPU adds"), "{t}");
}

/// glibc's registration turned off: the crate registers every thread itself, and the
/// param_test cases stay exact with no fallback.
#[test]
fn glibc_registration_disabled() {
    const NAME: &str = "glibc_registration_disabled";
    if is_child(NAME) {
        assert_eq!(thread::registrar(), Registrar::Crate);
        for kind in [Kind::Counter, Kind::List, Kind::Buffer, Kind::SpinLock] {
            for indexing in Indexing::ALL {
                let out = short(kind, indexing);
                println!("{} / {}: {out}", kind.name(), indexing.name());
                assert!(out.ops > 0);
                assert_eq!(out.fallbacks, 0);
            }
        }
        return;
    }
    passed(&child(NAME, no_glibc_rseq()));
}

#[repr(C, align(32))]
struct ForeignArea(Rseq);

/// A library registered an area of its own before the crate was first used: every thread
/// takes the fallback path, and the cases stay exact.
#[test]
fn foreign_area_registered_first() {
    const NAME: &str = "foreign_area_registered_first";
    if is_child(NAME) {
        let area: &'static mut ForeignArea = Box::leak(Box::new(ForeignArea(Rseq::new())));
        // SAFETY: the leaked area lives for the rest of the process.
        unsafe { rseq_abi::sys::rseq(&mut area.0, 32, 0, RSEQ_SIG) }
            .expect("register the foreign area");
        assert!(matches!(thread::registrar(), Registrar::Foreign(_)));
        for kind in [Kind::Counter, Kind::List, Kind::Buffer, Kind::SpinLock] {
            let out = short(kind, Indexing::CpuId);
            println!("{}: {out}", kind.name());
            assert!(out.ops > 0);
            assert_eq!(out.fallbacks, out.ops, "every operation falls back");
        }
        return;
    }
    passed(&child(NAME, no_glibc_rseq()));
}

/// `fork` while threads count: each child continues exactly from the counter it
/// inherited, on its inherited registration; the parent's count stays exact.
#[test]
fn fork_during_a_run() {
    const NAME: &str = "fork_during_a_run";
    if is_child(NAME) {
        let counter = PerCpuCounter::new();
        let adds = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let mut forks = 0;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        counter.add(1);
                        adds.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            let result = (|| -> Result<(), String> {
                for _ in 0..20 {
                    std::thread::sleep(Duration::from_millis(10));
                    // SAFETY: the child only reads its rseq area, runs critical sections
                    // on memory it owns (its copy of `counter`) and calls `_exit`: no
                    // locks, no allocation.
                    let pid = unsafe { libc::fork() };
                    if pid < 0 {
                        return Err(format!("fork: {}", std::io::Error::last_os_error()));
                    }
                    if pid == 0 {
                        // The forking thread may not have registered yet (own
                        // registration is lazy): the first add registers it if needed.
                        let start = counter.sum();
                        let mut ok = true;
                        for _ in 0..10_000 {
                            ok &= matches!(counter.add(1), Slot::PerCpu(_));
                        }
                        let code = if !ok {
                            11
                        } else if rseq_abi::cpu::cpu_id() < 0 {
                            10
                        } else if counter.sum() != start + 10_000 {
                            12
                        } else {
                            0
                        };
                        // SAFETY: leaving the forked child without running anything else.
                        unsafe { libc::_exit(code) };
                    }
                    let mut status = 0;
                    // SAFETY: waiting for our own child with a valid status pointer.
                    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
                        return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
                    }
                    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                        return Err(format!("forked child: wait status {status:#x}"));
                    }
                    forks += 1;
                }
                Ok(())
            })();
            stop.store(true, Ordering::Relaxed);
            result
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(counter.sum(), adds.load(Ordering::Relaxed));
        println!("{forks} forks, {} adds", adds.load(Ordering::Relaxed));
        return;
    }
    passed(&child(NAME, ChildEnv::default()));
    passed(&child(NAME, no_glibc_rseq()));
}

static EXIT_COUNTER: std::sync::LazyLock<PerCpuCounter> =
    std::sync::LazyLock::new(PerCpuCounter::new);
static EXIT_ADDS: AtomicU64 = AtomicU64::new(0);

/// Adds to the counter from the thread's TLS destructors, after its area may have been
/// unregistered.
struct AddAtExit;

impl Drop for AddAtExit {
    fn drop(&mut self) {
        EXIT_COUNTER.add(1);
        EXIT_ADDS.fetch_add(1, Ordering::Relaxed);
    }
}

thread_local! {
    static ADD_AT_EXIT: AddAtExit = const { AddAtExit };
}

/// Threads come and go during a run, and count from their TLS destructors too.
#[test]
fn thread_exit_during_a_run() {
    const NAME: &str = "thread_exit_during_a_run";
    if is_child(NAME) {
        let stop = AtomicBool::new(false);
        let mut short_lived = 0;
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        EXIT_COUNTER.add(1);
                        EXIT_ADDS.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            for _ in 0..300 {
                std::thread::spawn(|| {
                    ADD_AT_EXIT.with(|_| {});
                    for _ in 0..100 {
                        EXIT_COUNTER.add(1);
                        EXIT_ADDS.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .join()
                .unwrap();
                short_lived += 1;
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(EXIT_COUNTER.sum(), EXIT_ADDS.load(Ordering::Relaxed));
        println!(
            "{short_lived} short-lived threads, {} adds",
            EXIT_ADDS.load(Ordering::Relaxed)
        );
        return;
    }
    passed(&child(NAME, ChildEnv::default()));
    passed(&child(NAME, no_glibc_rseq()));
}

/// Builds the module with gcc into a temporary directory.
fn build_module(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/reliability/unload_module.S");
    let so = dir.join("libunload_module.so");
    rseq_tests::command::run_ok(
        std::process::Command::new("gcc")
            .arg("-shared")
            .arg(&src)
            .arg("-o")
            .arg(&so),
        "the build step",
    );
    so
}

/// Load/use/unload cycles per run.
const CYCLES: u64 = 200;

type ModuleInc = unsafe extern "C" fn(*mut Rseq, *mut u64) -> i32;

/// Loads the module, runs its section until it commits, and unloads it (after
/// `prepare_unload` when `prepare`); then gives the kernel many preemptions.
fn load_use_unload(prepare: bool) {
    let so = std::env::var("RSEQ_UNLOAD_MODULE").expect("module path");
    let path = std::ffi::CString::new(so.clone()).unwrap();
    assert_eq!(thread::prepare_current_thread(), Ok(()));
    let mut counters = vec![0u64; 16 * rseq_abi::cpu::possible_cpus()];
    for _ in 0..CYCLES {
        // SAFETY: dlopen of a module with no constructors.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        assert!(!handle.is_null(), "dlopen {so}");
        // SAFETY: dlsym on a live handle, with a NUL-terminated name.
        let sym = unsafe { libc::dlsym(handle, c"module_inc".as_ptr()) };
        assert!(!sym.is_null());
        // SAFETY: `module_inc` has this signature (see unload_module.S).
        let inc: ModuleInc = unsafe { std::mem::transmute::<*mut libc::c_void, ModuleInc>(sym) };
        // SAFETY: this thread's live area; `counters` has a line for every possible CPU.
        while unsafe { inc(thread::area(), counters.as_mut_ptr()) } != 0 {}
        let rseq_cs = thread::area()
            .cast::<u8>()
            .wrapping_add(rseq_abi::abi::offsets::RSEQ_RSEQ_CS)
            .cast::<u64>();
        if prepare {
            thread::prepare_unload();
            // SAFETY: reading this thread's rseq_cs field.
            assert_eq!(unsafe { rseq_cs.read_volatile() }, 0);
        }
        // SAFETY: no pointer into the module is used after this.
        assert_eq!(unsafe { libc::dlclose(handle) }, 0);
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(!maps.contains(&so), "dlclose left the module mapped");
        // SAFETY: reading this thread's rseq_cs field.
        let stale = unsafe { rseq_cs.read_volatile() } != 0;
        if !prepare && stale {
            println!("rseq_cs points into the unloaded module");
        }
        for _ in 0..50 {
            // SAFETY: no arguments.
            unsafe { libc::sched_yield() };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(counters.iter().sum::<u64>(), CYCLES);
    println!("{CYCLES} load/use/unload cycles survived");
}

/// With `prepare_unload` before `dlclose`, load/use/unload cycles survive preemptions.
#[test]
fn unload_module_after_prepare_unload() {
    const NAME: &str = "unload_module_after_prepare_unload";
    if is_child(NAME) {
        load_use_unload(true);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let so = build_module(dir.path());
    for env in [ChildEnv::default(), no_glibc_rseq()] {
        let mut env = env;
        env.vars
            .push(("RSEQ_UNLOAD_MODULE".into(), so.display().to_string()));
        let t = passed(&child(NAME, env));
        assert!(t.contains("cycles survived"), "{t}");
    }
}

/// The twin without `prepare_unload`: the thread's `rseq_cs` still points at the unloaded
/// module's descriptor, and the kernel kills the process with SIGSEGV when it next
/// handles a preemption.
#[test]
fn unload_module_without_prepare_unload_is_killed() {
    const NAME: &str = "unload_module_without_prepare_unload_is_killed";
    if is_child(NAME) {
        load_use_unload(false);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let so = build_module(dir.path());
    let env = ChildEnv {
        vars: vec![("RSEQ_UNLOAD_MODULE".into(), so.display().to_string())],
        ..ChildEnv::default()
    };
    let out = child(NAME, env);
    let t = text(&out);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "{}:\n{t}",
        out.status
    );
    assert!(!t.contains("cycles survived"), "{t}");
}
