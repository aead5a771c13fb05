//! Every per-CPU building block under load: 4 threads on 2 CPUs, exact final state
//! (nothing lost, nothing duplicated), each structure indexed by CPU number and by
//! concurrency id, in a child process per registration mode:
//!
//! - `glibc`: glibc registered every thread's area (the machine's default);
//! - `own`: `GLIBC_TUNABLES=glibc.pthread.rseq=0`, this crate registers its own area;
//! - `refused`: under the same tunable, a seccomp filter installed before the threads start
//!   makes `rseq(2)` fail with `EPERM`, so every operation takes its fallback path;
//! - `mixed`: under the tunable, the calling thread registers its own area, then the filter
//!   refuses the registration of the three worker threads: one thread runs critical
//!   sections on the per-CPU slots while three fall back to the shared slot, at the same
//!   time. (With glibc's registration this cannot be arranged: glibc 2.36 aborts the
//!   process when it cannot register a new thread while the first one is registered.)
//! - `container`: the filter is installed before `exec`, as container runtimes do: glibc's
//!   start-up registration fails (`__rseq_size` 0) and so does the crate's own; every
//!   operation falls back.
//!
//! While the workers run, a fifth thread sends each of them a signal (with a no-op handler)
//! every few microseconds: the kernel aborts every section a signal lands in, so the
//! abort-and-retry path also runs on signals, not only on the rare preemption (how often
//! is chance; each scenario prints its count of aborted sections, and in own-registration
//! mode the first section of every new worker aborts for certain, which is asserted).
//!
//! Each scenario also checks which path every operation took (the [`Slot`] it reports).
//! `counter_checker_catches_a_non_restartable_twin` shows the exact-count check failing on
//! a per-CPU add that is not a critical section.

use rseq_abi::thread::{self, Registrar};
use rseq_percpu::{
    aborted_sections, CpuId, IndexKind, MmCid, PerCpuCopyRing, PerCpuCounter, PerCpuRing,
    PerCpuSpinLock, PerCpuStack, Slot, StackLink, StackNode,
};
use rseq_testkit::child::{in_child_with, Child, Env};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Threads per scenario: the calling thread and three spawned ones.
const THREADS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Glibc,
    Own,
    Refused,
    Mixed,
    Container,
}

impl Mode {
    fn env(self) -> Env {
        match self {
            Mode::Glibc => Env::GlibcDefault,
            Mode::Own | Mode::Refused | Mode::Mixed => Env::NoGlibcRseq,
            Mode::Container => Env::GlibcDefault,
        }
    }

    /// How the child process is started.
    fn child(self) -> Child {
        Child {
            refuse_before_exec: (self == Mode::Container).then_some(libc::EPERM),
            ..Child::new(self.env())
        }
    }

    /// Run in the child before any worker starts: install the filter, check the registrar.
    fn set_up(self) {
        match self {
            Mode::Glibc => assert!(matches!(thread::registrar(), Registrar::Glibc(_))),
            Mode::Own => assert_eq!(thread::registrar(), Registrar::Crate),
            Mode::Refused => {
                rseq_testkit::refuse_rseq(libc::EPERM).expect("install the seccomp filter");
                assert!(matches!(thread::registrar(), Registrar::Nobody(_)));
            }
            Mode::Mixed => {
                // Registers the calling thread's own area, then refuses every later one.
                assert_eq!(thread::registrar(), Registrar::Crate);
                assert_eq!(thread::prepare_current_thread(), Ok(()));
                rseq_testkit::refuse_rseq(libc::EPERM).expect("install the seccomp filter");
            }
            Mode::Container => {
                let glibc = rseq_abi::glibc::rseq_symbols().expect("glibc exports __rseq_size");
                assert_eq!(glibc.size, 0, "glibc's start-up registration failed");
                assert!(matches!(thread::registrar(), Registrar::Nobody(_)));
            }
        }
        pin_process_to_two_cpus();
    }

    /// Whether worker `k` (0 is the calling thread) runs critical sections.
    fn uses_rseq(self, k: usize) -> bool {
        match self {
            Mode::Glibc | Mode::Own => true,
            Mode::Refused | Mode::Container => false,
            Mode::Mixed => k == 0,
        }
    }
}

/// Restricts the calling thread (and so every thread it creates later) to two CPUs.
fn pin_process_to_two_cpus() {
    let cpus = rseq_testkit::allowed_cpus();
    rseq_testkit::pin_current_thread(&cpus[..cpus.len().min(2)]);
}

/// Runs `work(k)` on the calling thread (k = 0) and three new threads; returns their results.
///
/// Meanwhile a fifth thread signals the workers every [`NOISE_PERIOD`] (see the module docs).
fn on_four_threads<R: Send>(work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    install_noop_handler();
    let tids = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let worker = |k: usize| {
        // SAFETY: gettid has no arguments and cannot fail.
        tids.lock().unwrap().push(unsafe { libc::gettid() });
        work(k)
    };
    std::thread::scope(|s| {
        let worker = &worker;
        let noise = s.spawn(|| signal_noise(&tids, &done));
        let spawned: Vec<_> = (1..THREADS).map(|k| s.spawn(move || worker(k))).collect();
        let mut results = vec![worker(0)];
        results.extend(
            spawned
                .into_iter()
                .map(|h| h.join().expect("worker panicked")),
        );
        done.store(true, Ordering::Relaxed);
        noise.join().expect("noise thread panicked");
        results
    })
}

/// How often the noise thread signals each worker.
const NOISE_PERIOD: Duration = Duration::from_micros(20);
/// The signal it sends.
const NOISE_SIGNAL: i32 = libc::SIGUSR2;

extern "C" fn noop_handler(_: libc::c_int) {}

/// A handler that does nothing: the signal is delivered (which aborts an rseq section)
/// and the thread goes on.
fn install_noop_handler() {
    // SAFETY: sigaction is plain data; zeroed is an empty mask and no flags.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = noop_handler as extern "C" fn(libc::c_int) as usize;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action` is a valid sigaction with an async-signal-safe handler.
    let r = unsafe { libc::sigaction(NOISE_SIGNAL, &action, std::ptr::null_mut()) };
    assert_eq!(r, 0, "sigaction: {}", std::io::Error::last_os_error());
}

/// Signals every registered worker every `NOISE_PERIOD` until `done`.
fn signal_noise(tids: &Mutex<Vec<libc::pid_t>>, done: &AtomicBool) {
    // SAFETY: getpid has no arguments and cannot fail.
    let pid = unsafe { libc::getpid() };
    // Sleep as briefly as asked (the default slack is 50 µs). SAFETY: integer arguments.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) };
    while !done.load(Ordering::Relaxed) {
        for &tid in tids.lock().unwrap().iter() {
            // SAFETY: tgkill with integer arguments; a worker that already exited makes it
            // fail with ESRCH, which is fine.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, NOISE_SIGNAL) };
        }
        std::thread::sleep(NOISE_PERIOD);
    }
}

/// How many operations of one worker used a per-CPU slot and how many the shared slot.
#[derive(Clone, Copy, Debug, Default)]
struct Paths {
    per_cpu: u64,
    shared: u64,
}

impl Paths {
    fn record(&mut self, slot: Slot, slots: usize) {
        match slot {
            Slot::PerCpu(i) => {
                assert!(i < slots, "slot {i} out of {slots}");
                self.per_cpu += 1;
            }
            Slot::Shared => self.shared += 1,
        }
    }
}

/// Checks that worker `k` took the path its mode requires for operations that write.
fn check_paths(mode: Mode, what: &str, paths: &[Paths]) {
    for (k, p) in paths.iter().enumerate() {
        if mode.uses_rseq(k) {
            assert_eq!(
                p.shared, 0,
                "{what}: worker {k} fell back in mode {mode:?}: {p:?}"
            );
            assert!(p.per_cpu > 0, "{what}: worker {k} did nothing");
        } else {
            assert_eq!(
                p.per_cpu, 0,
                "{what}: worker {k} ran sections in mode {mode:?}: {p:?}"
            );
            assert!(p.shared > 0, "{what}: worker {k} did nothing");
        }
    }
}

fn index_name<I: IndexKind>() -> &'static str {
    if I::MM_CID {
        "mm_cid"
    } else {
        "cpu_id"
    }
}

/// Runs `body(mode)` in a child process (see `rseq_testkit::child::in_child_with`) and shows the
/// summary lines it printed; every run must print at least one.
fn scenario(name: &str, mode: Mode, body: fn(Mode)) {
    let stdout = in_child_with(name, mode.child(), || body(mode));
    if rseq_testkit::child::is_child(name) {
        return;
    }
    let summary: Vec<&str> = stdout.lines().filter(|l| l.contains(" threads")).collect();
    assert!(!summary.is_empty(), "{name}: no summary in\n{stdout}");
    for line in summary {
        println!("{line}");
    }
}

/// Prints the lines of a child's `stdout` that contain `marker` (in the parent).
fn show_lines(stdout: &str, marker: &str) {
    for line in stdout.lines().filter(|l| l.contains(marker)) {
        println!("{line}");
    }
}

/// Aborted sections a scenario in which sections run aims for (see [`Budget`]).
const TARGET_ABORTS: u64 = 100;

/// How many operations a worker does: at least `min`; where critical sections run, more
/// (up to `max`) until the process has seen [`TARGET_ABORTS`] aborted sections since
/// `aborts_before`, so that the abort-and-retry path runs often, not only the fast path.
///
/// How many aborts signals and preemptions cause is chance (and a debug build spends
/// little of its time inside sections), so only the own-registration mode asserts that
/// sections were aborted: there each new worker's first section always aborts (its area is
/// not registered yet) and must be retried once the area is registered.
#[derive(Clone, Copy)]
struct Budget {
    min: u64,
    max: u64,
    aborts_before: u64,
    want_aborts: bool,
    must_abort: bool,
}

impl Budget {
    fn new(mode: Mode, min: u64) -> Self {
        Budget {
            min,
            max: min * 2,
            aborts_before: aborted_sections(),
            want_aborts: mode.uses_rseq(0),
            must_abort: mode == Mode::Own,
        }
    }

    fn go_on(&self, done: u64) -> bool {
        done < self.min
            || (self.want_aborts
                && done < self.max
                && aborted_sections() - self.aborts_before < TARGET_ABORTS)
    }

    /// Aborted sections since the start; in own-registration mode, at least one per new
    /// worker.
    fn aborts(&self, what: &str) -> u64 {
        let aborts = aborted_sections() - self.aborts_before;
        if self.must_abort {
            assert!(
                aborts >= (THREADS - 1) as u64,
                "{what}: {aborts} aborted sections, but each new worker's first one must abort"
            );
        }
        aborts
    }
}

// ---------------------------------------------------------------------------------------
// Counter

const COUNTER_ADDS: u64 = 100_000;

fn counter_run<I: IndexKind>(mode: Mode, index: I) {
    let counter = PerCpuCounter::with_index(index);
    let budget = Budget::new(mode, COUNTER_ADDS);
    let paths = on_four_threads(|k| {
        let mut paths = Paths::default();
        let mut done = 0;
        while budget.go_on(done) {
            paths.record(counter.add(k as u64 + 1), counter.slots());
            done += 1;
        }
        paths
    });
    let adds: Vec<u64> = paths.iter().map(|p| p.per_cpu + p.shared).collect();
    // Thread k adds k + 1 each time.
    let expected: u64 = (0..THREADS).map(|k| (k as u64 + 1) * adds[k]).sum();
    assert_eq!(counter.sum(), expected, "{counter:?}");
    let expected_shared: u64 = (0..THREADS)
        .filter(|&k| !mode.uses_rseq(k))
        .map(|k| (k as u64 + 1) * adds[k])
        .sum();
    assert_eq!(counter.get(Slot::Shared), Some(expected_shared));
    let per_cpu: u64 = (0..counter.slots())
        .map(|i| counter.get(Slot::PerCpu(i)).unwrap())
        .sum();
    assert_eq!(per_cpu, expected - expected_shared);
    check_paths(mode, "counter", &paths);
    println!(
        "counter[{}] {mode:?}: {THREADS} threads, {} adds, sum {expected} exact \
         (per-CPU {per_cpu}, shared {expected_shared}), {} aborted sections",
        index_name::<I>(),
        adds.iter().sum::<u64>(),
        budget.aborts("counter")
    );
}

fn counter(mode: Mode) {
    mode.set_up();
    counter_run(mode, CpuId);
    counter_run(mode, MmCid);
}

#[test]
fn counter_glibc() {
    scenario("counter_glibc", Mode::Glibc, counter);
}

#[test]
fn counter_own() {
    scenario("counter_own", Mode::Own, counter);
}

#[test]
fn counter_refused() {
    scenario("counter_refused", Mode::Refused, counter);
}

#[test]
fn counter_mixed() {
    scenario("counter_mixed", Mode::Mixed, counter);
}

#[test]
fn counter_container() {
    scenario("counter_container", Mode::Container, counter);
}

/// The same exact-count check, on a per-CPU add that is *not* a critical section (read the
/// CPU's word, let another thread run, write it back + 1), must see lost increments.
#[test]
fn counter_checker_catches_a_non_restartable_twin() {
    let stdout = in_child_with(
        "counter_checker_catches_a_non_restartable_twin",
        Child::new(Env::GlibcDefault),
        || {
            pin_process_to_two_cpus();
            let words: Vec<AtomicU64> = (0..rseq_abi::cpu::possible_cpus())
                .map(|_| AtomicU64::new(0))
                .collect();
            const ADDS: u64 = 2_000;
            on_four_threads(|_| {
                for _ in 0..ADDS {
                    let word = &words[rseq_abi::cpu::current_cpu() as usize];
                    let v = word.load(Ordering::Relaxed);
                    std::thread::yield_now();
                    word.store(v + 1, Ordering::Relaxed);
                }
            });
            let sum: u64 = words.iter().map(|w| w.load(Ordering::Relaxed)).sum();
            assert!(
                sum < THREADS as u64 * ADDS,
                "the broken twin lost nothing ({sum}): the check could not catch a broken section"
            );
            println!(
                "broken twin: {sum} of {} increments kept",
                THREADS as u64 * ADDS
            );
        },
    );
    show_lines(&stdout, "broken");
}

// ---------------------------------------------------------------------------------------
// Spin lock

const LOCKS: u64 = 20_000;

/// The value each lock protects: a count incremented non-atomically, and a flag that
/// catches two holders at once.
#[derive(Default)]
struct Guarded {
    count: u64,
    inside: bool,
}

fn spinlock_run<I: IndexKind>(mode: Mode, index: I) {
    let mut lock = PerCpuSpinLock::with_index(index, |_| Guarded::default());
    let budget = Budget::new(mode, LOCKS);
    let paths = on_four_threads(|k| {
        let mut paths = Paths::default();
        let mut done = 0;
        while budget.go_on(done) {
            done += 1;
            let mut guard = lock.lock();
            paths.record(guard.slot(), lock.slots());
            let cpu = match guard.slot() {
                Slot::PerCpu(i) => Some(i),
                Slot::Shared => None,
            };
            assert_eq!(guard.cpu(), cpu);
            assert!(
                !guard.inside,
                "two holders of {:?} (worker {k})",
                guard.slot()
            );
            guard.inside = true;
            // Widen the window between the read and the write of the count.
            let count = std::hint::black_box(guard.count);
            for _ in 0..8 {
                std::hint::spin_loop();
            }
            guard.count = count + 1;
            guard.inside = false;
        }
        paths
    });
    check_paths(mode, "spinlock", &paths);
    let mut total = 0;
    let mut shared = 0;
    for (slot, value) in lock.iter_mut() {
        assert!(!value.inside);
        total += value.count;
        if slot == Slot::Shared {
            shared = value.count;
        }
    }
    let locks: u64 = paths.iter().map(|p| p.per_cpu + p.shared).sum();
    assert_eq!(total, locks);
    let expected_shared = paths.iter().map(|p| p.shared).sum::<u64>();
    assert_eq!(shared, expected_shared);
    println!(
        "spinlock[{}] {mode:?}: {THREADS} threads, {locks} lock/increment/unlock, total \
         {total} exact (shared slot {shared}), {} aborted sections",
        index_name::<I>(),
        budget.aborts("spinlock")
    );
}

fn spinlock(mode: Mode) {
    mode.set_up();
    spinlock_run(mode, CpuId);
    spinlock_run(mode, MmCid);
}

#[test]
fn spinlock_glibc() {
    scenario("spinlock_glibc", Mode::Glibc, spinlock);
}

#[test]
fn spinlock_own() {
    scenario("spinlock_own", Mode::Own, spinlock);
}

#[test]
fn spinlock_refused() {
    scenario("spinlock_refused", Mode::Refused, spinlock);
}

#[test]
fn spinlock_mixed() {
    scenario("spinlock_mixed", Mode::Mixed, spinlock);
}

#[test]
fn spinlock_container() {
    scenario("spinlock_container", Mode::Container, spinlock);
}

// ---------------------------------------------------------------------------------------
// Intrusive stack

const NODES_PER_THREAD: usize = 64;
const STACK_ROUNDS: u64 = 20_000;

struct Node {
    id: usize,
    link: StackLink,
    /// Set while a thread holds the node (popped, not yet pushed back).
    taken: AtomicBool,
    /// The link of the broken twin stack.
    twin_next: AtomicUsize,
}

impl Node {
    fn all(total: usize) -> Vec<Node> {
        (0..total)
            .map(|id| Node {
                id,
                link: StackLink::new(),
                taken: AtomicBool::new(false),
                twin_next: AtomicUsize::new(0),
            })
            .collect()
    }

    /// Marks the node held by the caller; returns false if it already was (popped twice).
    fn take(&self) -> bool {
        !self.taken.swap(true, Ordering::Relaxed)
    }

    fn put_back(&self) {
        self.taken.store(false, Ordering::Relaxed);
    }
}

/// Checks that `ids` holds each of `0..total` exactly once.
fn exactly_once(ids: impl IntoIterator<Item = usize>, total: usize) -> Result<(), String> {
    let mut seen = vec![false; total];
    for id in ids {
        if std::mem::replace(&mut seen[id], true) {
            return Err(format!("{id} is there twice"));
        }
    }
    match seen.iter().filter(|s| !**s).count() {
        0 => Ok(()),
        lost => Err(format!("{lost} of {total} are lost")),
    }
}

// SAFETY: `link` is a `StackLink` field of `Node`, used by one stack at a time.
unsafe impl StackNode for Node {
    const LINK_OFFSET: usize = std::mem::offset_of!(Node, link);
}

fn stack_run<I: IndexKind>(mode: Mode, index: I) {
    let total = THREADS * NODES_PER_THREAD;
    let nodes = Node::all(total);
    let mut stack = PerCpuStack::<Node, I>::with_index(index);
    let budget = Budget::new(mode, STACK_ROUNDS);
    let results = on_four_threads(|k| {
        let mut pushes = Paths::default();
        let mut pops = Paths::default();
        let (mut empty, mut twice) = (0u64, 0u64);
        for node in &nodes[k * NODES_PER_THREAD..(k + 1) * NODES_PER_THREAD] {
            // SAFETY: `nodes` outlives every use of the stack and is not moved; each node
            // is pushed once and then only after it was popped.
            pushes.record(unsafe { stack.push(NonNull::from(node)) }, stack.slots());
        }
        let mut done = 0;
        while budget.go_on(done) {
            done += 1;
            let Some((node, slot)) = stack.pop() else {
                empty += 1;
                continue;
            };
            pops.record(slot, stack.slots());
            // SAFETY: every node in the stack is an element of `nodes`.
            let node = unsafe { node.as_ref() };
            if !node.take() {
                twice += 1;
            }
            node.put_back();
            // SAFETY: as above; `node` was just popped, so it is in no stack.
            pushes.record(unsafe { stack.push(NonNull::from(node)) }, stack.slots());
        }
        (pushes, pops, empty, twice)
    });
    let twice: u64 = results.iter().map(|r| r.3).sum();
    assert_eq!(twice, 0, "nodes popped while another thread held them");
    let pushes: Vec<Paths> = results.iter().map(|r| r.0).collect();
    check_paths(mode, "stack push", &pushes);
    for (k, r) in results.iter().enumerate() {
        if !mode.uses_rseq(k) {
            assert_eq!(
                r.1.per_cpu, 0,
                "worker {k} popped a per-CPU list without rseq"
            );
        }
    }
    // Drain every list (at most `total` pops each, so a corrupted list cannot hang this):
    // each node exactly once.
    let mut ids = Vec::new();
    let slots: Vec<Slot> = (0..stack.slots())
        .map(Slot::PerCpu)
        .chain([Slot::Shared])
        .collect();
    for slot in slots {
        for _ in 0..=total {
            let Some(node) = stack.pop_from(slot) else {
                break;
            };
            // SAFETY: every node in the stack is an element of `nodes`.
            ids.push(unsafe { node.as_ref() }.id);
        }
    }
    exactly_once(ids, total).unwrap();
    assert!(stack.is_empty());
    let popped: u64 = results.iter().map(|r| r.1.per_cpu + r.1.shared).sum();
    let empty: u64 = results.iter().map(|r| r.2).sum();
    println!(
        "stack[{}] {mode:?}: {THREADS} threads, {total} nodes, {popped} pop/push pairs \
         ({empty} empty pops), every node exactly once, {} aborted sections",
        index_name::<I>(),
        budget.aborts("stack")
    );
}

/// The same checks on a per-CPU stack that is *not* made of critical sections (read the
/// top, let another thread run, write the top) must report nodes popped twice or lost.
#[test]
fn stack_checker_catches_a_non_restartable_twin() {
    let stdout = in_child_with(
        "stack_checker_catches_a_non_restartable_twin",
        Child::new(Env::GlibcDefault),
        || {
            pin_process_to_two_cpus();
            let total = THREADS * NODES_PER_THREAD;
            let nodes = Node::all(total);
            let tops: Vec<AtomicUsize> = (0..rseq_abi::cpu::possible_cpus())
                .map(|_| AtomicUsize::new(0))
                .collect();
            let top = || &tops[rseq_abi::cpu::current_cpu() as usize];
            let push = |node: &Node| {
                let top = top();
                node.twin_next
                    .store(top.load(Ordering::Acquire), Ordering::Relaxed);
                std::thread::yield_now();
                top.store(node as *const Node as usize, Ordering::Release);
            };
            let pop = || {
                let top = top();
                let head = top.load(Ordering::Acquire);
                // SAFETY: non-zero tops are addresses of elements of `nodes`.
                let node = unsafe { (head as *const Node).as_ref() }?;
                std::thread::yield_now();
                top.store(node.twin_next.load(Ordering::Relaxed), Ordering::Release);
                Some(node)
            };
            let twice: u64 = on_four_threads(|k| {
                let mut twice = 0;
                for node in &nodes[k * NODES_PER_THREAD..(k + 1) * NODES_PER_THREAD] {
                    push(node);
                }
                for _ in 0..2_000 {
                    if let Some(node) = pop() {
                        if !node.take() {
                            twice += 1;
                        }
                        node.put_back();
                        push(node);
                    }
                }
                twice
            })
            .into_iter()
            .sum();
            // Walk every list, at most `total` steps each (a broken list may have a cycle).
            let mut ids = Vec::new();
            for top in &tops {
                let mut at = top.load(Ordering::Acquire);
                for _ in 0..=total {
                    // SAFETY: non-zero links are addresses of elements of `nodes`.
                    let Some(node) = (unsafe { (at as *const Node).as_ref() }) else {
                        break;
                    };
                    ids.push(node.id);
                    at = node.twin_next.load(Ordering::Relaxed);
                }
            }
            let verdict = exactly_once(ids, total);
            assert!(
                twice > 0 || verdict.is_err(),
                "the broken twin passed: the checks could not catch a broken section"
            );
            println!("broken stack twin: {twice} nodes popped twice; final lists: {verdict:?}");
        },
    );
    show_lines(&stdout, "broken");
}

fn stack(mode: Mode) {
    mode.set_up();
    stack_run(mode, CpuId);
    stack_run(mode, MmCid);
}

#[test]
fn stack_glibc() {
    scenario("stack_glibc", Mode::Glibc, stack);
}

#[test]
fn stack_own() {
    scenario("stack_own", Mode::Own, stack);
}

#[test]
fn stack_refused() {
    scenario("stack_refused", Mode::Refused, stack);
}

#[test]
fn stack_mixed() {
    scenario("stack_mixed", Mode::Mixed, stack);
}

#[test]
fn stack_container() {
    scenario("stack_container", Mode::Container, stack);
}

// ---------------------------------------------------------------------------------------
// Rings

const ITEMS_PER_THREAD: usize = 64;
const RING_ROUNDS: u64 = 20_000;

/// Push every item of `mine`, then pop and push back as long as `budget` says; an item is
/// "taken" while a thread holds it. Returns (push paths, pop paths, empty pops).
#[allow(clippy::too_many_arguments)]
fn ring_worker<T: Copy>(
    budget: Budget,
    k: usize,
    mine: &[T],
    id: impl Fn(&T) -> usize,
    taken: &[AtomicBool],
    push: impl Fn(T) -> Result<Slot, T>,
    pop: impl Fn() -> Option<(T, Slot)>,
    slots: usize,
) -> (Paths, Paths, u64) {
    let mut pushes = Paths::default();
    let mut pops = Paths::default();
    let mut empty = 0;
    let push_all = |item: T, pushes: &mut Paths| {
        let mut item = item;
        loop {
            match push(item) {
                Ok(slot) => return pushes.record(slot, slots),
                Err(back) => {
                    item = back;
                    std::thread::yield_now();
                }
            }
        }
    };
    for &item in mine {
        push_all(item, &mut pushes);
    }
    let mut done = 0;
    while budget.go_on(done) {
        done += 1;
        let Some((item, slot)) = pop() else {
            empty += 1;
            continue;
        };
        pops.record(slot, slots);
        let n = id(&item);
        assert!(
            !taken[n].swap(true, Ordering::Relaxed),
            "item {n} popped twice (worker {k})"
        );
        taken[n].store(false, Ordering::Relaxed);
        push_all(item, &mut pushes);
    }
    (pushes, pops, empty)
}

fn check_ring_paths(mode: Mode, what: &str, results: &[(Paths, Paths, u64)]) {
    let pushes: Vec<Paths> = results.iter().map(|r| r.0).collect();
    check_paths(mode, what, &pushes);
    for (k, (_, pops, _)) in results.iter().enumerate() {
        if !mode.uses_rseq(k) {
            assert_eq!(
                pops.per_cpu, 0,
                "{what}: worker {k} popped a per-CPU ring without rseq"
            );
        }
    }
}

fn ring_run<I: IndexKind>(mode: Mode, index: I) {
    let total = THREADS * ITEMS_PER_THREAD;
    // Room for every item in any one ring: a push never meets a full ring.
    let mut ring = PerCpuRing::with_index(index, total);
    let taken: Vec<AtomicBool> = (0..total).map(|_| AtomicBool::new(false)).collect();
    let items: Vec<usize> = (0..total).collect();
    let budget = Budget::new(mode, RING_ROUNDS);
    let results = on_four_threads(|k| {
        ring_worker(
            budget,
            k,
            &items[k * ITEMS_PER_THREAD..(k + 1) * ITEMS_PER_THREAD],
            |&n| n,
            &taken,
            |item| ring.push(item),
            || ring.pop(),
            ring.slots(),
        )
    });
    check_ring_paths(mode, "ring", &results);
    let mut ids = Vec::new();
    for slot in (0..ring.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
        ids.extend(std::iter::from_fn(|| ring.pop_from(slot)));
    }
    exactly_once(ids, total).unwrap();
    let popped: u64 = results.iter().map(|r| r.1.per_cpu + r.1.shared).sum();
    println!(
        "ring[{}] {mode:?}: {THREADS} threads, {total} items, {popped} pop/push pairs, \
         every item exactly once, {} aborted sections",
        index_name::<I>(),
        budget.aborts("ring")
    );
}

/// A multi-word item whose words depend on each other, so a torn copy is detected.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Record {
    id: u64,
    check: [u64; 5],
}

impl Record {
    fn new(id: usize) -> Self {
        let id = id as u64;
        Record {
            id,
            check: [
                id ^ 0x5555,
                id * 3 + 1,
                !id,
                id.rotate_left(17),
                id.wrapping_mul(0x9e37_79b9),
            ],
        }
    }

    fn id(&self) -> usize {
        assert_eq!(*self, Record::new(self.id as usize), "torn copy");
        self.id as usize
    }
}

fn copy_ring_run<I: IndexKind>(mode: Mode, index: I) {
    let total = THREADS * ITEMS_PER_THREAD;
    let mut ring = PerCpuCopyRing::<Record, I>::with_index(index, total);
    let taken: Vec<AtomicBool> = (0..total).map(|_| AtomicBool::new(false)).collect();
    let items: Vec<Record> = (0..total).map(Record::new).collect();
    let budget = Budget::new(mode, RING_ROUNDS);
    let results = on_four_threads(|k| {
        ring_worker(
            budget,
            k,
            &items[k * ITEMS_PER_THREAD..(k + 1) * ITEMS_PER_THREAD],
            Record::id,
            &taken,
            |item| ring.push(item),
            || ring.pop(),
            ring.slots(),
        )
    });
    check_ring_paths(mode, "copy ring", &results);
    let mut ids = Vec::new();
    for slot in (0..ring.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
        ids.extend(std::iter::from_fn(|| ring.pop_from(slot)).map(|r| r.id()));
    }
    exactly_once(ids, total).unwrap();
    let popped: u64 = results.iter().map(|r| r.1.per_cpu + r.1.shared).sum();
    println!(
        "copy ring[{}] {mode:?}: {THREADS} threads, {total} records of {} bytes, {popped} \
         pop/push pairs, every record exactly once and whole, {} aborted sections",
        index_name::<I>(),
        std::mem::size_of::<Record>(),
        budget.aborts("copy ring")
    );
}

fn rings(mode: Mode) {
    mode.set_up();
    ring_run(mode, CpuId);
    ring_run(mode, MmCid);
    copy_ring_run(mode, CpuId);
    copy_ring_run(mode, MmCid);
}

#[test]
fn rings_glibc() {
    scenario("rings_glibc", Mode::Glibc, rings);
}

#[test]
fn rings_own() {
    scenario("rings_own", Mode::Own, rings);
}

#[test]
fn rings_refused() {
    scenario("rings_refused", Mode::Refused, rings);
}

#[test]
fn rings_mixed() {
    scenario("rings_mixed", Mode::Mixed, rings);
}

#[test]
fn rings_container() {
    scenario("rings_container", Mode::Container, rings);
}
