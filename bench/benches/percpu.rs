//! Per-CPU operations of `rseq_percpu` against what a Rust user would pick instead,
//! at 1 thread, 2 threads on 2 CPUs and 8 threads on 2 CPUs.
//!
//! Every case runs in threads started once ([`Pool`]); criterion's figure is the total
//! time divided by the total number of operations. After each case the benchmark checks
//! that no operation was lost or duplicated (final sums, node and item conservation) and
//! panics if one was. The per-CPU cases also record aborted critical sections per million
//! operations and whether any operation took the fallback (shared-slot) path.
//!
//! # Unsafe
//!
//! The per-CPU stack is intrusive: pushing a node is `unsafe` (the node must outlive its
//! stay in the stack); the nodes live in an arena that outlives the stack.
#![allow(unsafe_code)]

use criterion::{BenchmarkId, Criterion};
use crossbeam_queue::{ArrayQueue, SegQueue};
use rseq_bench::affinity::current_cpu;
use rseq_bench::pool::{FnWorker, Placement, Pool, Worker};
use rseq_bench::results::{markdown_table, save, Measured};
use rseq_percpu::{
    aborted_sections, CachePadded, PerCpu, PerCpuCopyRing, PerCpuCounter, PerCpuRing,
    PerCpuSpinLock, PerCpuStack, Slot, StackLink, StackNode,
};
use std::cell::Cell;
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs one case: starts the pool, lets criterion measure it, stops it. Returns the
/// workers' outputs, the operations done and the aborted sections counted meanwhile
/// (`None` when criterion skipped the case: nothing ran).
fn case<W: Worker>(
    c: &mut Criterion,
    group: &str,
    variant: &str,
    placement: Placement,
    make: impl FnMut(usize) -> W,
) -> Option<(Vec<W::Output>, u64, u64)> {
    let mut pool = Pool::start(placement, make);
    let aborts_before = aborted_sections();
    c.benchmark_group(group)
        .bench_function(BenchmarkId::new(variant, placement.label()), |b| {
            b.iter_custom(|iters| pool.run(iters))
        });
    let aborts = aborted_sections() - aborts_before;
    let (outputs, ops) = pool.finish();
    (ops > 0).then_some((outputs, ops, aborts))
}

fn per_million(aborts: u64, ops: u64) -> f64 {
    aborts as f64 * 1e6 / ops as f64
}

/// Records one case's figures (and its abort rate for per-CPU variants).
fn record(
    rows: &mut Vec<Measured>,
    group: &str,
    variant: &str,
    placement: Placement,
    aborts: Option<(u64, u64)>,
    note: String,
) {
    let mut m = Measured::new(group, variant, placement.label());
    m.aborts_per_million = aborts.map(|(a, ops)| per_million(a, ops));
    m.note = note;
    rows.push(m);
}

fn fallback_note(shared_ops: u64) -> String {
    if shared_ops == 0 {
        String::new()
    } else {
        format!("{shared_ops} operations took the fallback (shared slot) path")
    }
}

// ---------------------------------------------------------------- counter

thread_local! {
    static LOCAL: Cell<u64> = const { Cell::new(0) };
}

fn counter(c: &mut Criterion, rows: &mut Vec<Measured>) {
    const G: &str = "counter";
    for p in Placement::ALL {
        // The macro-generated per-CPU counter.
        let counter = Arc::new(PerCpuCounter::new());
        let ctr = Arc::clone(&counter);
        if let Some((_, ops, aborts)) = case(c, G, "percpu", p, |_| {
            let counter = Arc::clone(&ctr);
            FnWorker(move |n| {
                for _ in 0..n {
                    counter.add(1);
                }
            })
        }) {
            assert_eq!(
                counter.sum(),
                ops,
                "per-CPU counter lost updates ({})",
                p.label()
            );
            let shared = counter.get(Slot::Shared).unwrap_or(0);
            record(
                rows,
                G,
                "percpu",
                p,
                Some((aborts, ops)),
                fallback_note(shared),
            );
        }

        // One shared atomic.
        let shared = Arc::new(CachePadded::new(AtomicU64::new(0)));
        let s = Arc::clone(&shared);
        if let Some((_, ops, _)) = case(c, G, "atomic-shared", p, |_| {
            let s = Arc::clone(&s);
            FnWorker(move |n| {
                for _ in 0..n {
                    s.fetch_add(1, Ordering::Relaxed);
                }
            })
        }) {
            assert_eq!(
                shared.load(Ordering::Relaxed),
                ops,
                "shared atomic lost updates"
            );
            record(rows, G, "atomic-shared", p, None, String::new());
        }

        // Per-CPU atomics indexed by sched_getcpu().
        let words = Arc::new(PerCpu::new_with(|_| AtomicU64::new(0)));
        let w = Arc::clone(&words);
        if let Some((_, ops, _)) = case(c, G, "atomic-getcpu", p, |_| {
            let w = Arc::clone(&w);
            FnWorker(move |n| {
                for _ in 0..n {
                    let cpu = current_cpu();
                    w.get(cpu)
                        .expect("sched_getcpu below the possible CPUs")
                        .fetch_add(1, Ordering::Relaxed);
                }
            })
        }) {
            let sum: u64 = words.iter().map(|w| w.load(Ordering::Relaxed)).sum();
            assert_eq!(sum, ops, "per-CPU atomics lost updates");
            record(rows, G, "atomic-getcpu", p, None, String::new());
        }

        // A Mutex<u64>.
        let mutex = Arc::new(Mutex::new(0u64));
        let m = Arc::clone(&mutex);
        if let Some((_, ops, _)) = case(c, G, "mutex", p, |_| {
            let m = Arc::clone(&m);
            FnWorker(move |n| {
                for _ in 0..n {
                    *m.lock().expect("not poisoned") += 1;
                }
            })
        }) {
            assert_eq!(
                *mutex.lock().expect("not poisoned"),
                ops,
                "Mutex<u64> lost updates"
            );
            record(rows, G, "mutex", p, None, String::new());
        }

        // A thread-local plain increment: the floor. Volatile accesses keep the compiler from
        // folding the loop into one addition.
        if let Some((locals, ops, _)) = case(c, G, "thread-local", p, |_| LocalWorker) {
            assert_eq!(locals.iter().sum::<u64>(), ops, "thread-local counts lost");
            record(rows, G, "thread-local", p, None, String::new());
        }
    }
}

struct LocalWorker;

impl Worker for LocalWorker {
    type Output = u64;
    fn run(&mut self, n: u64) {
        LOCAL.with(|cell| {
            let p = cell.as_ptr();
            for _ in 0..n {
                // SAFETY: `p` points to this thread's live thread-local cell, accessed only here.
                unsafe { p.write_volatile(p.read_volatile() + 1) };
            }
        });
    }
    fn finish(self) -> u64 {
        LOCAL.with(Cell::get)
    }
}

// ---------------------------------------------------------------- stack

/// A node of the per-CPU stack: an id (to check conservation) and the link.
struct Node {
    id: usize,
    link: StackLink,
}

// SAFETY: `link` is a `StackLink` field of `Node`, used by one stack only.
unsafe impl StackNode for Node {
    const LINK_OFFSET: usize = core::mem::offset_of!(Node, link);
}

/// Nodes each thread starts with.
const HELD: usize = 4;

/// Checks that every node id in `0..total` is held or left in the structure exactly once.
fn check_conservation(what: &str, total: usize, ids: impl IntoIterator<Item = usize>) {
    let mut seen = vec![false; total];
    let mut count = 0;
    for id in ids {
        assert!(!seen[id], "{what}: node {id} seen twice (duplicated)");
        seen[id] = true;
        count += 1;
    }
    assert_eq!(count, total, "{what}: nodes lost");
}

struct StackWorker<S> {
    stack: Arc<S>,
    held: Vec<usize>,
    shared_ops: u64,
}

struct PerCpuStackArena {
    nodes: Box<[Node]>,
    stack: PerCpuStack<Node>,
}

impl Worker for StackWorker<PerCpuStackArena> {
    type Output = (Vec<usize>, u64);
    fn run(&mut self, n: u64) {
        let a = &*self.stack;
        for _ in 0..n {
            if let Some(id) = self.held.pop() {
                // SAFETY: the arena outlives the stack's use (both in one `Arc`, alive while
                // any worker runs) and the node is in no stack: this worker held it.
                if unsafe { a.stack.push(NonNull::from(&a.nodes[id])) } == Slot::Shared {
                    self.shared_ops += 1;
                }
            }
            if let Some((node, slot)) = a.stack.pop() {
                self.shared_ops += u64::from(slot == Slot::Shared);
                // SAFETY: every node in the stack is an element of the arena.
                self.held.push(unsafe { node.as_ref() }.id);
            }
        }
    }
    fn finish(self) -> (Vec<usize>, u64) {
        (self.held, self.shared_ops)
    }
}

impl Worker for StackWorker<Mutex<Vec<usize>>> {
    type Output = (Vec<usize>, u64);
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            if let Some(id) = self.held.pop() {
                self.stack.lock().expect("not poisoned").push(id);
            }
            if let Some(id) = self.stack.lock().expect("not poisoned").pop() {
                self.held.push(id);
            }
        }
    }
    fn finish(self) -> (Vec<usize>, u64) {
        (self.held, 0)
    }
}

impl Worker for StackWorker<SegQueue<usize>> {
    type Output = (Vec<usize>, u64);
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            if let Some(id) = self.held.pop() {
                self.stack.push(id);
            }
            if let Some(id) = self.stack.pop() {
                self.held.push(id);
            }
        }
    }
    fn finish(self) -> (Vec<usize>, u64) {
        (self.held, 0)
    }
}

fn held_ids(k: usize) -> Vec<usize> {
    (k * HELD..(k + 1) * HELD).collect()
}

fn stack(c: &mut Criterion, rows: &mut Vec<Measured>) {
    const G: &str = "stack";
    for p in Placement::ALL {
        let total = p.threads() * HELD;

        let arena = Arc::new(PerCpuStackArena {
            nodes: (0..total)
                .map(|id| Node {
                    id,
                    link: StackLink::new(),
                })
                .collect(),
            stack: PerCpuStack::new(),
        });
        let a = Arc::clone(&arena);
        if let Some((outs, ops, aborts)) = case(c, G, "percpu", p, |k| StackWorker {
            stack: Arc::clone(&a),
            held: held_ids(k),
            shared_ops: 0,
        }) {
            drop(a);
            let mut arena = Arc::into_inner(arena).expect("workers are done");
            let mut ids: Vec<usize> = outs.iter().flat_map(|(h, _)| h.iter().copied()).collect();
            let slots = (0..arena.stack.slots())
                .map(Slot::PerCpu)
                .chain([Slot::Shared]);
            for slot in slots {
                while let Some(node) = arena.stack.pop_from(slot) {
                    // SAFETY: every node in the stack is an element of the arena.
                    ids.push(unsafe { node.as_ref() }.id);
                }
            }
            check_conservation("per-CPU stack", total, ids);
            let shared: u64 = outs.iter().map(|(_, s)| s).sum();
            record(
                rows,
                G,
                "percpu",
                p,
                Some((aborts, ops)),
                fallback_note(shared),
            );
        }

        let vec = Arc::new(Mutex::new(Vec::with_capacity(total)));
        let v = Arc::clone(&vec);
        if let Some((outs, _, _)) = case(c, G, "mutex-vec", p, |k| StackWorker {
            stack: Arc::clone(&v),
            held: held_ids(k),
            shared_ops: 0,
        }) {
            let left = std::mem::take(&mut *vec.lock().expect("not poisoned"));
            check_conservation(
                "Mutex<Vec>",
                total,
                outs.into_iter().flat_map(|(h, _)| h).chain(left),
            );
            record(rows, G, "mutex-vec", p, None, String::new());
        }

        let queue = Arc::new(SegQueue::new());
        let q = Arc::clone(&queue);
        if let Some((outs, _, _)) = case(c, G, "crossbeam-segqueue", p, |k| StackWorker {
            stack: Arc::clone(&q),
            held: held_ids(k),
            shared_ops: 0,
        }) {
            let left: Vec<usize> = std::iter::from_fn(|| queue.pop()).collect();
            check_conservation(
                "SegQueue",
                total,
                outs.into_iter().flat_map(|(h, _)| h).chain(left),
            );
            record(rows, G, "crossbeam-segqueue", p, None, String::new());
        }
    }
}

// ---------------------------------------------------------------- spin lock

fn spinlock(c: &mut Criterion, rows: &mut Vec<Measured>) {
    const G: &str = "spinlock";
    for p in Placement::ALL {
        let lock = Arc::new(PerCpuSpinLock::new_with(|_| 0u64));
        let l = Arc::clone(&lock);
        let run = case(c, G, "percpu", p, |_| {
            let l = Arc::clone(&l);
            let mut shared_ops = 0u64;
            OutWorker(
                move |n| {
                    for _ in 0..n {
                        let mut guard = l.lock();
                        shared_ops += u64::from(guard.slot() == Slot::Shared);
                        *guard += 1;
                    }
                    shared_ops
                },
                0,
            )
        });
        drop(l);
        if let Some((outs, ops, aborts)) = run {
            let mut lock = Arc::into_inner(lock).expect("workers are done");
            let sum: u64 = lock.iter_mut().map(|(_, v)| *v).sum();
            assert_eq!(sum, ops, "per-CPU spin lock lost updates");
            record(
                rows,
                G,
                "percpu",
                p,
                Some((aborts, ops)),
                fallback_note(outs.iter().sum()),
            );
        }

        let mutex = Arc::new(Mutex::new(0u64));
        let m = Arc::clone(&mutex);
        if let Some((_, ops, _)) = case(c, G, "std-mutex", p, |_| {
            let m = Arc::clone(&m);
            FnWorker(move |n| {
                for _ in 0..n {
                    *m.lock().expect("not poisoned") += 1;
                }
            })
        }) {
            assert_eq!(
                *mutex.lock().expect("not poisoned"),
                ops,
                "std Mutex lost updates"
            );
            record(rows, G, "std-mutex", p, None, String::new());
        }

        let pl = Arc::new(parking_lot::Mutex::new(0u64));
        let m = Arc::clone(&pl);
        if let Some((_, ops, _)) = case(c, G, "parking-lot-mutex", p, |_| {
            let m = Arc::clone(&m);
            FnWorker(move |n| {
                for _ in 0..n {
                    *m.lock() += 1;
                }
            })
        }) {
            assert_eq!(*pl.lock(), ops, "parking_lot Mutex lost updates");
            record(rows, G, "parking-lot-mutex", p, None, String::new());
        }
    }
}

/// A worker made of a closure returning a running figure that `finish` hands back.
struct OutWorker<F>(F, u64);

impl<F: FnMut(u64) -> u64 + Send + 'static> Worker for OutWorker<F> {
    type Output = u64;
    fn run(&mut self, n: u64) {
        self.1 = (self.0)(n);
    }
    fn finish(self) -> u64 {
        self.1
    }
}

// ---------------------------------------------------------------- rings

/// Capacity of each ring (per CPU for the per-CPU rings, per thread for the shared ones).
const RING: usize = 64;

/// What a ring worker hands back: items pushed (count, sum of values), items popped
/// (count, sum), operations on the shared slot.
#[derive(Default, Debug, Clone, Copy)]
struct Flow {
    pushed: u64,
    pushed_sum: u64,
    popped: u64,
    popped_sum: u64,
    shared_ops: u64,
}

impl Flow {
    fn total(flows: &[Flow]) -> Flow {
        flows.iter().fold(Flow::default(), |a, f| Flow {
            pushed: a.pushed + f.pushed,
            pushed_sum: a.pushed_sum.wrapping_add(f.pushed_sum),
            popped: a.popped + f.popped,
            popped_sum: a.popped_sum.wrapping_add(f.popped_sum),
            shared_ops: a.shared_ops + f.shared_ops,
        })
    }

    /// Checks that what went in came out or is still inside (`left`: count and sum).
    fn check(self, what: &str, left: (u64, u64)) {
        assert_eq!(
            self.pushed,
            self.popped + left.0,
            "{what}: items lost or duplicated"
        );
        assert_eq!(
            self.pushed_sum,
            self.popped_sum.wrapping_add(left.1),
            "{what}: item values changed"
        );
    }
}

/// The operations a ring benchmark needs, over items of type `T` made from a `u64`.
trait RingOps: Send + Sync + 'static {
    type Item: Copy;
    fn make(v: u64) -> Self::Item;
    /// The value of an item; panics on a torn item (copies of different pushes mixed).
    fn value(item: &Self::Item) -> u64;
    /// Push; `Some(shared)` when it went in (on the shared slot or not).
    fn push(&self, item: Self::Item) -> Option<bool>;
    fn pop(&self) -> Option<(Self::Item, bool)>;
}

/// A 64-byte item: eight copies of one value (a torn copy shows as unequal words).
type Item64 = [u64; 8];

fn value64(item: &Item64) -> u64 {
    assert!(item.iter().all(|w| *w == item[0]), "torn item {item:?}");
    item[0]
}

impl RingOps for PerCpuRing {
    type Item = usize;
    fn make(v: u64) -> usize {
        v as usize
    }
    fn value(item: &usize) -> u64 {
        *item as u64
    }
    fn push(&self, item: usize) -> Option<bool> {
        PerCpuRing::push(self, item).ok().map(|s| s == Slot::Shared)
    }
    fn pop(&self) -> Option<(usize, bool)> {
        PerCpuRing::pop(self).map(|(v, s)| (v, s == Slot::Shared))
    }
}

impl RingOps for PerCpuCopyRing<Item64> {
    type Item = Item64;
    fn make(v: u64) -> Item64 {
        [v; 8]
    }
    fn value(item: &Item64) -> u64 {
        value64(item)
    }
    fn push(&self, item: Item64) -> Option<bool> {
        PerCpuCopyRing::push(self, item)
            .ok()
            .map(|s| s == Slot::Shared)
    }
    fn pop(&self) -> Option<(Item64, bool)> {
        PerCpuCopyRing::pop(self).map(|(v, s)| (v, s == Slot::Shared))
    }
}

/// A bounded `VecDeque` behind a `Mutex`.
struct MutexRing<T>(Mutex<VecDeque<T>>, usize);

macro_rules! mutex_ring {
    ($t:ty, $make:expr, $value:expr) => {
        impl RingOps for MutexRing<$t> {
            type Item = $t;
            fn make(v: u64) -> $t {
                $make(v)
            }
            fn value(item: &$t) -> u64 {
                $value(item)
            }
            fn push(&self, item: $t) -> Option<bool> {
                let mut q = self.0.lock().expect("not poisoned");
                (q.len() < self.1)
                    .then(|| q.push_back(item))
                    .map(|()| false)
            }
            fn pop(&self) -> Option<($t, bool)> {
                self.0
                    .lock()
                    .expect("not poisoned")
                    .pop_front()
                    .map(|v| (v, false))
            }
        }
        impl RingOps for ArrayQueue<$t> {
            type Item = $t;
            fn make(v: u64) -> $t {
                $make(v)
            }
            fn value(item: &$t) -> u64 {
                $value(item)
            }
            fn push(&self, item: $t) -> Option<bool> {
                ArrayQueue::push(self, item).ok().map(|()| false)
            }
            fn pop(&self) -> Option<($t, bool)> {
                ArrayQueue::pop(self).map(|v| (v, false))
            }
        }
    };
}
mutex_ring!(usize, |v: u64| v as usize, |i: &usize| *i as u64);
mutex_ring!(Item64, |v: u64| [v; 8], value64);

struct RingWorker<R> {
    ring: Arc<R>,
    next: u64,
    flow: Flow,
}

impl<R: RingOps> Worker for RingWorker<R> {
    type Output = Flow;
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let v = self.next;
            if let Some(shared) = self.ring.push(R::make(v)) {
                self.next += 1;
                self.flow.pushed += 1;
                self.flow.pushed_sum = self.flow.pushed_sum.wrapping_add(v);
                self.flow.shared_ops += u64::from(shared);
            }
            if let Some((item, shared)) = self.ring.pop() {
                self.flow.popped += 1;
                self.flow.popped_sum = self.flow.popped_sum.wrapping_add(R::value(&item));
                self.flow.shared_ops += u64::from(shared);
            }
        }
    }
    fn finish(self) -> Flow {
        self.flow
    }
}

/// One ring case; `drain` empties the ring afterwards and returns (count, sum) left inside.
fn ring_case<R: RingOps>(
    c: &mut Criterion,
    rows: &mut Vec<Measured>,
    group: &str,
    variant: &str,
    p: Placement,
    ring: R,
    drain: impl FnOnce(R) -> (u64, u64),
) {
    let per_cpu = variant == "percpu";
    let ring = Arc::new(ring);
    let r = Arc::clone(&ring);
    let run = case(c, group, variant, p, |k| RingWorker {
        ring: Arc::clone(&r),
        // Distinct values per thread.
        next: (k as u64) << 48,
        flow: Flow::default(),
    });
    drop(r);
    if let Some((flows, ops, aborts)) = run {
        let flow = Flow::total(&flows);
        let ring = Arc::into_inner(ring).expect("workers are done");
        flow.check(&format!("{group} {variant} {}", p.label()), drain(ring));
        let aborts = per_cpu.then_some((aborts, ops));
        record(
            rows,
            group,
            variant,
            p,
            aborts,
            fallback_note(flow.shared_ops),
        );
    }
}

fn drain_items<T>(items: impl Iterator<Item = T>, value: impl Fn(&T) -> u64) -> (u64, u64) {
    items.fold((0, 0), |(n, s), item| (n + 1, s.wrapping_add(value(&item))))
}

fn rings(c: &mut Criterion, rows: &mut Vec<Measured>) {
    const G: &str = "ring";
    for p in Placement::ALL {
        let cap = RING * p.threads();
        ring_case(c, rows, G, "percpu", p, PerCpuRing::new(RING), |mut r| {
            let mut left = Vec::new();
            for s in (0..r.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
                left.extend(std::iter::from_fn(|| r.pop_from(s)));
            }
            drain_items(left.into_iter(), |v| *v as u64)
        });
        ring_case(
            c,
            rows,
            G,
            "mutex-vecdeque",
            p,
            MutexRing::<usize>(Mutex::new(VecDeque::with_capacity(cap)), cap),
            |r| {
                drain_items(r.0.into_inner().expect("not poisoned").into_iter(), |v| {
                    *v as u64
                })
            },
        );
        ring_case(
            c,
            rows,
            G,
            "crossbeam-arrayqueue",
            p,
            ArrayQueue::<usize>::new(cap),
            |r| drain_items(std::iter::from_fn(|| r.pop()), |v| *v as u64),
        );
    }

    const M: &str = "memcpy-ring";
    for p in Placement::ALL {
        let cap = RING * p.threads();
        ring_case(
            c,
            rows,
            M,
            "percpu",
            p,
            PerCpuCopyRing::<Item64>::new(RING),
            |mut r| {
                let mut left = Vec::new();
                for s in (0..r.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
                    left.extend(std::iter::from_fn(|| r.pop_from(s)));
                }
                drain_items(left.into_iter(), value64)
            },
        );
        ring_case(
            c,
            rows,
            M,
            "mutex-vecdeque",
            p,
            MutexRing::<Item64>(Mutex::new(VecDeque::with_capacity(cap)), cap),
            |r| drain_items(r.0.into_inner().expect("not poisoned").into_iter(), value64),
        );
        ring_case(
            c,
            rows,
            M,
            "crossbeam-arrayqueue",
            p,
            ArrayQueue::<Item64>::new(cap),
            |r| drain_items(std::iter::from_fn(|| r.pop()), value64),
        );
    }
}

// ---------------------------------------------------------------- main

fn main() {
    let mut c = Criterion::default()
        .output_directory(&rseq_bench::paths::criterion_dir())
        .warm_up_time(Duration::from_millis(250))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(12)
        .configure_from_args();
    let mut rows = Vec::new();
    counter(&mut c, &mut rows);
    stack(&mut c, &mut rows);
    spinlock(&mut c, &mut rows);
    rings(&mut c, &mut rows);
    c.final_summary();

    let configs: Vec<&str> = Placement::ALL.iter().map(|p| p.label()).collect();
    let tables = [
        ("counter", "Counter increment"),
        ("stack", "Stack push + pop"),
        (
            "spinlock",
            "Spin lock: lock + increment the protected u64 + unlock",
        ),
        ("ring", "Ring of words: push + pop"),
        ("memcpy-ring", "Ring of 64-byte items (memcpy): push + pop"),
    ];
    let mut md = String::new();
    for (group, title) in tables {
        let group_rows: Vec<Measured> = rows.iter().filter(|r| r.group == group).cloned().collect();
        if !group_rows.is_empty() {
            md.push_str(&markdown_table(title, "percpu", &configs, &group_rows));
            md.push('\n');
        }
    }
    // `cargo test --benches` runs each case once, without `--bench` and without estimates:
    // keep the saved table of the last real run.
    let measured = std::env::args().any(|a| a == "--bench");
    if !md.is_empty() && measured {
        println!("\n{md}");
        save("percpu.md", &md);
    }
}
