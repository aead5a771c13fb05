//! A stress harness for the per-CPU building blocks, mirroring the kernel's rseq selftest
//! `tools/testing/selftests/rseq/param_test.c`: per-CPU spin lock, list push/pop, buffer
//! push/pop, memcpy buffer, counter increment, and the membarrier test (a manager thread
//! swaps the active list and fences with `MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ`, then checks
//! that the inactive list no longer changes).
//!
//! Every case runs with [`CpuId`] or [`MmCid`] indexing, six worker threads per allowed CPU,
//! for a given time. While they run:
//! - each worker injects, at random, busy-wait delays, `sched_yield` and short sleeps inside
//!   its operation (between the pop and the push that gives an element back, while holding a
//!   lock, between the read and the write of a locked value);
//! - a signaller thread sends `SIGUSR1` to random workers (a signal delivered inside a
//!   section aborts it);
//! - a migrator thread moves random workers between CPUs with `sched_setaffinity`.
//!
//! At the end every case checks an exact invariant: the counter's sum is the number of
//! increments, the locked values sum to the number of critical regions, every list node and
//! buffer item is present exactly once (and each copied item is intact), and the two
//! membarrier lists together hold exactly the number of increments. [`Outcome`] reports
//! operations, aborted sections, observed migrations, affinity changes and signals.
//!
//! [`Kind::UnprotectedCounter`] is the deliberately broken twin: a per-CPU counter
//! incremented with a plain read-modify-write outside any critical section. The same checks
//! must report lost updates for it.
//!
//! # Safety
//!
//! Uses `unsafe` for the signal handler installation, `tgkill`/`gettid`/`sched_setaffinity`
//! calls, the intrusive list's raw nodes and the membarrier test's critical section; each
//! block says why it holds.
#![allow(unsafe_code)]

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rseq_abi::thread::Unavailable;
use rseq_percpu::rseq_critical;
use rseq_percpu::{
    aborted_sections, CpuId, IndexKind, MmCid, PerCpuCopyRing, PerCpuCounter, PerCpuRing,
    PerCpuSpinLock, PerCpuStack, Slot, StackLink, StackNode,
};

use rseq_testkit::allowed_cpus;

/// The operation family a case exercises (param_test's `-T` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-T s`: per-CPU spin lock protecting a plain counter.
    SpinLock,
    /// `-T l`: per-CPU list, pop a node and push it back.
    List,
    /// `-T b`: per-CPU buffer of words, pop and push back.
    Buffer,
    /// `-T m`: per-CPU buffer of copied structures, pop and push back.
    MemcpyBuffer,
    /// `-T i`: per-CPU counter increment.
    Counter,
    /// `-T r`: membarrier-expedited-rseq test with a manager swapping the active list.
    Membarrier,
    /// The broken twin: a per-CPU counter without a critical section.
    UnprotectedCounter,
}

impl Kind {
    /// The param_test types, in the order of its usage text.
    pub const PARAM_TEST: [Kind; 6] = [
        Kind::SpinLock,
        Kind::List,
        Kind::Buffer,
        Kind::MemcpyBuffer,
        Kind::Counter,
        Kind::Membarrier,
    ];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::SpinLock => "spinlock",
            Kind::List => "list",
            Kind::Buffer => "buffer",
            Kind::MemcpyBuffer => "memcpy-buffer",
            Kind::Counter => "counter",
            Kind::Membarrier => "membarrier",
            Kind::UnprotectedCounter => "unprotected-counter",
        }
    }
}

/// What the per-CPU slots are indexed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// The CPU number (`cpu_id`).
    CpuId,
    /// The memory-map concurrency id (`mm_cid`).
    MmCid,
}

impl Indexing {
    /// Both.
    pub const ALL: [Indexing; 2] = [Indexing::CpuId, Indexing::MmCid];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Indexing::CpuId => "cpu_id",
            Indexing::MmCid => "mm_cid",
        }
    }
}

/// How a case runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long the workers run.
    pub duration: Duration,
    /// Worker threads per allowed CPU (param_test runs many more threads than CPUs).
    pub threads_per_cpu: usize,
    /// Inject delays, `sched_yield` and sleeps inside operations.
    pub delays: bool,
    /// Send `SIGUSR1` to random workers.
    pub signals: bool,
    /// Move random workers between CPUs.
    pub migrations: bool,
    /// Seed of the workers' and disturbers' random choices.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            duration: Duration::from_secs(2),
            threads_per_cpu: 6,
            delays: true,
            signals: true,
            migrations: true,
            seed: 0x5eed_0001,
        }
    }
}

/// What a case did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Operations completed by the workers.
    pub ops: u64,
    /// Critical sections the kernel aborted (and that were retried).
    pub aborts: u64,
    /// Times a worker found itself on another CPU than at its previous operation.
    pub migrations: u64,
    /// `sched_setaffinity` calls of the migrator.
    pub affinity_changes: u64,
    /// Signals the workers handled.
    pub signals: u64,
    /// Membarrier fences issued by the manager.
    pub fences: u64,
    /// Operations that took the fallback (shared-slot) path.
    pub fallbacks: u64,
}

impl Outcome {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Outcome) {
        self.ops += other.ops;
        self.aborts += other.aborts;
        self.migrations += other.migrations;
        self.affinity_changes += other.affinity_changes;
        self.signals += other.signals;
        self.fences += other.fences;
        self.fallbacks += other.fallbacks;
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ops, {} aborts, {} migrations, {} affinity changes, {} signals, {} fences, {} fallbacks",
            self.ops,
            self.aborts,
            self.migrations,
            self.affinity_changes,
            self.signals,
            self.fences,
            self.fallbacks
        )
    }
}

/// A broken invariant, with the case that broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// Runs one case and checks its invariant.
pub fn run(kind: Kind, indexing: Indexing, cfg: &Config) -> Result<Outcome, Violation> {
    // Cases share the signal disposition and the process-wide abort counter: one at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    install_signal_handler();
    let aborts_before = aborted_sections();
    let signals_before = SIGNALS.load(Ordering::Relaxed);
    let mut outcome = match indexing {
        Indexing::CpuId => run_kind::<CpuId>(kind, cfg),
        Indexing::MmCid => run_kind::<MmCid>(kind, cfg),
    }
    .map_err(|e| Violation(format!("{} / {}: {}", kind.name(), indexing.name(), e.0)))?;
    outcome.aborts += aborted_sections() - aborts_before;
    outcome.signals = SIGNALS.load(Ordering::Relaxed) - signals_before;
    Ok(outcome)
}

fn run_kind<I: IndexKind + Default>(kind: Kind, cfg: &Config) -> Result<Outcome, Violation> {
    match kind {
        Kind::SpinLock => spinlock::<I>(cfg),
        Kind::List => list::<I>(cfg),
        Kind::Buffer => buffer::<I>(cfg),
        Kind::MemcpyBuffer => memcpy_buffer::<I>(cfg),
        Kind::Counter => counter::<I>(cfg),
        Kind::Membarrier => membarrier::<I>(cfg),
        Kind::UnprotectedCounter => unprotected_counter::<I>(cfg),
    }
}

// ---------------------------------------------------------------------------------------
// Workers and disturbers.

static SIGNALS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_sigusr1(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

fn install_signal_handler() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // SAFETY: a zeroed sigaction is valid; the handler only does an atomic add, which
        // is async-signal-safe; SA_RESTART keeps the workers' system calls going.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigusr1 as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
    });
}

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// xorshift64*: cheap, seeded, good enough for choosing injections.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// One worker's state, passed to its operation.
pub struct Worker {
    /// Random choices of this worker.
    pub rng: Rng,
    /// Operations done.
    pub ops: u64,
    /// Fallback operations done.
    pub fallbacks: u64,
    migrations: u64,
    last_cpu: u32,
    delays: bool,
}

impl Worker {
    /// Maybe waits a little inside an operation: a busy-wait loop (1 in 64), `sched_yield`
    /// (1 in 512), or a 20 µs sleep (1 in 4096).
    #[inline]
    pub fn inject(&mut self) {
        if !self.delays {
            return;
        }
        let r = self.rng.next_u64();
        match r % 4096 {
            0..=63 => {
                for k in 0..(r >> 20) % 2000 {
                    std::hint::black_box(k);
                }
            }
            64..=71 => {
                // SAFETY: sched_yield has no arguments.
                unsafe { libc::sched_yield() };
            }
            72 => std::thread::sleep(Duration::from_micros(20)),
            _ => {}
        }
    }

    fn done(&mut self, slot: Slot) {
        self.ops += 1;
        if slot == Slot::Shared {
            self.fallbacks += 1;
        }
        let cpu = rseq_abi::cpu::current_cpu();
        if cpu != self.last_cpu {
            self.migrations += 1;
            self.last_cpu = cpu;
        }
    }
}

/// One operation of a worker.
type Op<'a> = dyn Fn(&mut Worker) -> Result<(), String> + Sync + 'a;
/// A manager thread's loop: runs until the flag is raised, returns its fence count.
type Manager<'a> = dyn Fn(&AtomicBool) -> Result<u64, String> + Sync + 'a;

/// Runs `op` on `threads_per_cpu` × CPUs workers for `cfg.duration`, with the signaller and
/// the migrator; `manager`, if any, runs on the calling thread meanwhile, until the stop
/// flag is raised, and returns its fence count or a violation.
fn drive(cfg: &Config, op: &Op<'_>, manager: Option<&Manager<'_>>) -> Result<Outcome, Violation> {
    let cpus = allowed_cpus();
    let n = cpus.len() * cfg.threads_per_cpu;
    let tids: Vec<AtomicI32> = (0..n).map(|_| AtomicI32::new(0)).collect();
    let started = AtomicUsize::new(0);
    let stop_disturbers = AtomicBool::new(false);
    let stop_workers = AtomicBool::new(false);
    let affinity_changes = AtomicU64::new(0);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let fail = |e: String| {
        let mut f = failure.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert(e);
    };
    let mut total = Outcome::default();

    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for w in 0..n {
            let (tids, started, stop, fail) = (&tids, &started, &stop_workers, &fail);
            workers.push(s.spawn(move || {
                tids[w].store(gettid(), Ordering::Release);
                let mut me = Worker {
                    rng: Rng::new(cfg.seed ^ (w as u64 + 1).wrapping_mul(0x1234_5678_9abc)),
                    ops: 0,
                    fallbacks: 0,
                    migrations: 0,
                    last_cpu: rseq_abi::cpu::current_cpu(),
                    delays: cfg.delays,
                };
                started.fetch_add(1, Ordering::AcqRel);
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = op(&mut me) {
                        fail(e);
                        break;
                    }
                }
                (me.ops, me.fallbacks, me.migrations)
            }));
        }
        while started.load(Ordering::Acquire) < n {
            std::thread::yield_now();
        }
        let signaller = cfg.signals.then(|| {
            let (tids, stop) = (&tids, &stop_disturbers);
            s.spawn(move || {
                let mut rng = Rng::new(cfg.seed ^ 0x51);
                // SAFETY: getpid has no arguments.
                let pid = unsafe { libc::getpid() };
                while !stop.load(Ordering::Relaxed) {
                    let tid = tids[rng.below(tids.len() as u64) as usize].load(Ordering::Acquire);
                    // SAFETY: tgkill with this process's id and a live worker's id (the
                    // workers outlive this thread); SIGUSR1 has a handler.
                    unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
                    std::thread::sleep(Duration::from_micros(100));
                }
            })
        });
        let migrator = cfg.migrations.then(|| {
            let (tids, stop, cpus, changes) = (&tids, &stop_disturbers, &cpus, &affinity_changes);
            s.spawn(move || {
                let mut rng = Rng::new(cfg.seed ^ 0x3a);
                while !stop.load(Ordering::Relaxed) {
                    let tid = tids[rng.below(tids.len() as u64) as usize].load(Ordering::Acquire);
                    let to: Vec<usize> = if rng.below(2) == 0 {
                        vec![cpus[rng.below(cpus.len() as u64) as usize]]
                    } else {
                        cpus.clone()
                    };
                    if set_affinity(tid, &to) {
                        changes.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_micros(300));
                }
                for t in tids {
                    set_affinity(t.load(Ordering::Acquire), cpus);
                }
            })
        });
        let deadline = Instant::now() + cfg.duration;
        let stop_all = AtomicBool::new(false);
        std::thread::scope(|inner| {
            let timer = inner.spawn(|| {
                while Instant::now() < deadline && failure.lock().map_or(true, |f| f.is_none()) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                stop_all.store(true, Ordering::Release);
            });
            if let Some(manager) = manager {
                match manager(&stop_all) {
                    Ok(fences) => total.fences = fences,
                    Err(e) => fail(e),
                }
            }
            timer.join().expect("timer thread");
        });
        stop_disturbers.store(true, Ordering::Release);
        if let Some(h) = signaller {
            h.join().expect("signaller thread");
        }
        if let Some(h) = migrator {
            h.join().expect("migrator thread");
        }
        stop_workers.store(true, Ordering::Release);
        for h in workers {
            let (ops, fallbacks, migrations) = h.join().expect("worker thread");
            total.ops += ops;
            total.fallbacks += fallbacks;
            total.migrations += migrations;
        }
    });
    total.affinity_changes = affinity_changes.load(Ordering::Relaxed);
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(Violation(e)),
        None => Ok(total),
    }
}

/// `sched_setaffinity(tid, cpus)`; false when the thread is gone or the call failed.
fn set_affinity(tid: i32, cpus: &[usize]) -> bool {
    if tid == 0 {
        return false;
    }
    // SAFETY: a zeroed cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: `c` comes from `allowed_cpus`, below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) == 0 }
}

/// Runs `f` on the calling thread pinned to each allowed CPU in turn (to spread initial
/// elements over the CPUs' slots), then restores its affinity.
fn on_each_cpu(mut f: impl FnMut(usize)) {
    let cpus = allowed_cpus();
    for (k, &c) in cpus.iter().enumerate() {
        rseq_testkit::pin_current_thread(&[c]);
        f(k);
    }
    rseq_testkit::pin_current_thread(&cpus);
}

// ---------------------------------------------------------------------------------------
// The cases.

fn spinlock<I: IndexKind + Default>(cfg: &Config) -> Result<Outcome, Violation> {
    let mut lock = PerCpuSpinLock::<u64, I>::with_index(I::default(), |_| 0);
    let out = drive(
        cfg,
        &|w| {
            let mut guard = lock.lock();
            let slot = guard.slot();
            // Read, wait, write: two holders of one lock would lose an increment.
            let v = *guard;
            w.inject();
            *guard = v + 1;
            drop(guard);
            w.done(slot);
            Ok(())
        },
        None,
    )?;
    let sum: u64 = lock.iter_mut().map(|(_, v)| *v).sum();
    if sum != out.ops {
        return Err(Violation(format!(
            "locked counters sum to {sum}, {} critical regions ran",
            out.ops
        )));
    }
    Ok(out)
}

/// A list node (param_test's `percpu_list_node`).
#[repr(C)]
struct Node {
    data: u64,
    link: StackLink,
}

// SAFETY: `link` is the `StackLink` field of `Node`, used by one stack at a time.
unsafe impl StackNode for Node {
    const LINK_OFFSET: usize = std::mem::offset_of!(Node, link);
}

/// Elements per CPU in the list and buffer cases (param_test uses 100).
const PER_CPU: usize = 100;

fn list<I: IndexKind + Default>(cfg: &Config) -> Result<Outcome, Violation> {
    let ncpus = allowed_cpus().len();
    let nodes: Box<[Node]> = (0..PER_CPU * ncpus)
        .map(|i| Node {
            data: i as u64 + 1,
            link: StackLink::new(),
        })
        .collect();
    let mut stack = PerCpuStack::<Node, I>::with_index(I::default());
    on_each_cpu(|k| {
        for node in &nodes[k * PER_CPU..(k + 1) * PER_CPU] {
            // SAFETY: each node is pushed once, and `nodes` outlives the stack's use
            // (drained below) without moving.
            unsafe { stack.push(NonNull::from(node)) };
        }
    });
    let out = drive(
        cfg,
        &|w| {
            if let Some((node, from)) = stack.pop() {
                w.inject();
                // SAFETY: the node was just popped: it is in no stack, and `nodes` lives on.
                unsafe { stack.push(node) };
                w.done(from);
            }
            Ok(())
        },
        None,
    )?;
    let mut seen = vec![0u32; nodes.len()];
    let mut slots: Vec<Slot> = (0..stack.slots()).map(Slot::PerCpu).collect();
    slots.push(Slot::Shared);
    for slot in slots {
        let mut bound = nodes.len() + 1;
        while let Some(node) = stack.pop_from(slot) {
            // SAFETY: every node in the stack is an element of `nodes`.
            let data = unsafe { node.as_ref() }.data;
            let Some(count) = seen.get_mut((data as usize).wrapping_sub(1)) else {
                return Err(Violation(format!("list holds a node with data {data}")));
            };
            *count += 1;
            bound -= 1;
            if bound == 0 {
                return Err(Violation("a per-CPU list is cyclic".into()));
            }
        }
    }
    check_each_once("list node", &seen)?;
    Ok(out)
}

fn check_each_once(what: &str, seen: &[u32]) -> Result<(), Violation> {
    let lost = seen.iter().filter(|&&c| c == 0).count();
    let duplicated = seen.iter().filter(|&&c| c > 1).count();
    if lost > 0 || duplicated > 0 {
        return Err(Violation(format!(
            "{lost} {what}s lost, {duplicated} duplicated (of {})",
            seen.len()
        )));
    }
    Ok(())
}

fn buffer<I: IndexKind + Default>(cfg: &Config) -> Result<Outcome, Violation> {
    let total = PER_CPU * allowed_cpus().len();
    // Every ring can hold every item, as in param_test: a push back never finds it full.
    let mut ring = PerCpuRing::<I>::with_index(I::default(), total);
    let mut next = 1usize;
    on_each_cpu(|_| {
        for _ in 0..PER_CPU {
            ring.push(next).expect("an empty ring has room");
            next += 1;
        }
    });
    let out = drive(
        cfg,
        &|w| {
            if let Some((item, from)) = ring.pop() {
                w.inject();
                ring.push(item)
                    .map_err(|item| format!("ring full when pushing {item} back"))?;
                w.done(from);
            }
            Ok(())
        },
        None,
    )?;
    let mut seen = vec![0u32; total];
    let mut slots: Vec<Slot> = (0..ring.slots()).map(Slot::PerCpu).collect();
    slots.push(Slot::Shared);
    for slot in slots {
        while let Some(item) = ring.pop_from(slot) {
            let Some(count) = seen.get_mut(item.wrapping_sub(1)) else {
                return Err(Violation(format!("buffer holds item {item}")));
            };
            *count += 1;
        }
    }
    check_each_once("buffer item", &seen)?;
    Ok(out)
}

/// An item of the memcpy buffer (param_test's `percpu_memcpy_buffer_node`, plus a check
/// word so that a torn copy is seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
struct Item {
    data1: u64,
    data2: u64,
    check: u64,
}

impl Item {
    fn new(n: u64) -> Item {
        Item {
            data1: n,
            data2: !n,
            check: n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }
    }

    fn is_intact(&self) -> bool {
        *self == Item::new(self.data1)
    }
}

fn memcpy_buffer<I: IndexKind + Default>(cfg: &Config) -> Result<Outcome, Violation> {
    let total = PER_CPU * allowed_cpus().len();
    let mut ring = PerCpuCopyRing::<Item, I>::with_index(I::default(), total);
    let mut next = 1u64;
    on_each_cpu(|_| {
        for _ in 0..PER_CPU {
            ring.push(Item::new(next)).expect("an empty ring has room");
            next += 1;
        }
    });
    let out = drive(
        cfg,
        &|w| {
            if let Some((item, from)) = ring.pop() {
                if !item.is_intact() {
                    return Err(format!("popped a torn item {item:?}"));
                }
                w.inject();
                ring.push(item)
                    .map_err(|item| format!("ring full when pushing {item:?} back"))?;
                w.done(from);
            }
            Ok(())
        },
        None,
    )?;
    let mut seen = vec![0u32; total];
    let mut slots: Vec<Slot> = (0..ring.slots()).map(Slot::PerCpu).collect();
    slots.push(Slot::Shared);
    for slot in slots {
        while let Some(item) = ring.pop_from(slot) {
            if !item.is_intact() {
                return Err(Violation(format!("buffer holds a torn item {item:?}")));
            }
            let Some(count) = seen.get_mut((item.data1 as usize).wrapping_sub(1)) else {
                return Err(Violation(format!("buffer holds item {item:?}")));
            };
            *count += 1;
        }
    }
    check_each_once("copied item", &seen)?;
    Ok(out)
}

fn counter<I: IndexKind + Default>(cfg: &Config) -> Result<Outcome, Violation> {
    let counter = PerCpuCounter::<I>::with_index(I::default());
    let out = drive(
        cfg,
        &|w| {
            let slot = counter.add(1);
            w.done(slot);
            w.inject();
            Ok(())
        },
        None,
    )?;
    let sum = counter.sum();
    if sum != out.ops {
        return Err(Violation(format!(
            "counter reads {sum} after {} increments",
            out.ops
        )));
    }
    Ok(out)
}

/// The broken twin of [`counter`]: `word[index] += 1` as a plain load and store, outside
/// any critical section, with the usual injections between them.
fn unprotected_counter<I: IndexKind + Default>(cfg: &Config) -> Result<Outcome, Violation> {
    let words: Vec<AtomicU64> = (0..rseq_abi::cpu::possible_cpus())
        .map(|_| AtomicU64::new(0))
        .collect();
    let out = drive(
        cfg,
        &|w| {
            let i = if I::MM_CID {
                rseq_abi::cpu::mm_cid().unwrap_or(0)
            } else {
                rseq_abi::cpu::current_cpu()
            } as usize;
            let word = &words[i % words.len()];
            let v = word.load(Ordering::Relaxed);
            w.inject();
            word.store(v + 1, Ordering::Relaxed);
            w.done(Slot::PerCpu(i));
            Ok(())
        },
        None,
    )?;
    let sum: u64 = words.iter().map(|w| w.load(Ordering::Relaxed)).sum();
    if sum != out.ops {
        return Err(Violation(format!(
            "counter reads {sum} after {} increments",
            out.ops
        )));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The membarrier test.

/// One entry of a membarrier list: a counter on its own cache line.
#[repr(C, align(128))]
struct Entry {
    count: AtomicUsize,
}

/// Bytes between two entries.
const ENTRY_STRIDE: usize = std::mem::size_of::<Entry>();

/// Why [`inc_active_cpu_id`] / [`inc_active_mm_cid`] did not commit.
#[derive(Debug)]
enum IncError {
    Aborted,
    Unavailable(Unavailable),
}

impl From<Unavailable> for IncError {
    fn from(u: Unavailable) -> Self {
        IncError::Unavailable(u)
    }
}

macro_rules! inc_active_section {
    ($(#[$doc:meta])* $name:ident, $index:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// `active` holds the address of a live list with an entry for every index.
        #[rseq_critical(on_abort = return Err(IncError::Aborted))]
        unsafe fn $name(active: *mut usize) -> Result<(), IncError> {
            let idx = $index();
            let offset = idx * ENTRY_STRIDE;
            let list = load(active);
            commit_add(list.byte_add(offset), 1usize);
            Ok(())
        }
    };
}

inc_active_section!(
    /// `(*active)[cpu].count += 1`: param_test's `rseq_load_add_load_load_add_store__ptr`.
    inc_active_cpu_id,
    cpu_id
);
inc_active_section!(
    /// `(*active)[mm_cid].count += 1`.
    inc_active_mm_cid,
    mm_cid
);

fn membarrier<I: IndexKind + Default>(cfg: &Config) -> Result<Outcome, Violation> {
    rseq_abi::membarrier::register_rseq_fence()
        .map_err(|e| Violation(format!("membarrier registration: {e}")))?;
    let slots = rseq_abi::cpu::possible_cpus();
    let make = || -> Box<[Entry]> {
        (0..slots)
            .map(|_| Entry {
                count: AtomicUsize::new(0),
            })
            .collect()
    };
    let (list_a, list_b) = (make(), make());
    let addr = |l: &[Entry]| l.as_ptr() as usize;
    let active = AtomicUsize::new(addr(&list_a));
    let own_aborts = AtomicU64::new(0);
    let cpus = allowed_cpus();

    let op = |w: &mut Worker| -> Result<(), String> {
        loop {
            if rseq_abi::cpu::cpu_id() < 0 {
                return Err("worker thread without a live rseq area".into());
            }
            // SAFETY: `active` always holds the address of `list_a` or `list_b`, which
            // have an entry for every possible index and outlive the workers.
            let r = unsafe {
                if I::MM_CID {
                    inc_active_mm_cid(active.as_ptr())
                } else {
                    inc_active_cpu_id(active.as_ptr())
                }
            };
            match r {
                Ok(()) => break,
                Err(IncError::Aborted) => {
                    own_aborts.fetch_add(1, Ordering::Relaxed);
                }
                Err(IncError::Unavailable(u)) => return Err(u.to_string()),
            }
        }
        w.done(Slot::PerCpu(0));
        w.inject();
        Ok(())
    };

    // param_test's `test_membarrier_manager_thread`, for one entry (cpu_id: the CPU the
    // fence targets) or every entry (mm_cid: a concurrency id is not a CPU, so the fence
    // covers all CPUs).
    let manager = |stop: &AtomicBool| -> Result<u64, String> {
        let mut rng = Rng::new(cfg.seed ^ 0xfe);
        let mut fences = 0u64;
        let snapshot = |l: &[Entry]| -> Vec<usize> {
            l.iter().map(|e| e.count.load(Ordering::Relaxed)).collect()
        };
        let fence = |cpu: usize| -> Result<(), String> {
            let r = if I::MM_CID {
                rseq_abi::membarrier::rseq_fence()
            } else {
                rseq_abi::membarrier::rseq_fence_cpu(cpu as u32)
            };
            r.map_err(|e| format!("membarrier: {e}"))
        };
        let watched = |cpu: usize, snap: &[usize]| -> Vec<usize> {
            if I::MM_CID {
                snap.to_vec()
            } else {
                vec![snap[cpu]]
            }
        };
        let mut cpu_b = cpus[0];
        let mut expect_b = watched(cpu_b, &snapshot(&list_b));
        // list_b starts inactive: nothing may have touched it.
        while !stop.load(Ordering::Acquire) {
            let cpu_a = cpus[rng.below(cpus.len() as u64) as usize];
            if expect_b != watched(cpu_b, &snapshot(&list_b)) {
                return Err(format!("inactive list B changed (index {cpu_b})"));
            }
            active.store(addr(&list_b), Ordering::Release);
            fence(cpu_a)?;
            fences += 1;
            let expect_a = watched(cpu_a, &snapshot(&list_a));
            std::thread::yield_now();
            cpu_b = cpus[rng.below(cpus.len() as u64) as usize];
            if expect_a != watched(cpu_a, &snapshot(&list_a)) {
                return Err(format!("inactive list A changed (index {cpu_a})"));
            }
            active.store(addr(&list_a), Ordering::Release);
            fence(cpu_b)?;
            fences += 1;
            expect_b = watched(cpu_b, &snapshot(&list_b));
            std::thread::yield_now();
        }
        Ok(fences)
    };

    let mut out = drive(cfg, &op, Some(&manager))?;
    out.aborts += own_aborts.load(Ordering::Relaxed);
    let sum: usize = list_a
        .iter()
        .chain(list_b.iter())
        .map(|e| e.count.load(Ordering::Relaxed))
        .sum();
    if sum as u64 != out.ops {
        return Err(Violation(format!(
            "lists sum to {sum} after {} increments",
            out.ops
        )));
    }
    Ok(out)
}
