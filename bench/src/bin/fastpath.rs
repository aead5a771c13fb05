//! `fastpath CASE N`: performs N operations of one benchmarked case on one thread, for
//! instruction counting (`valgrind --tool=callgrind`, or the disassembly of `op_CASE`).
//!
//! Each case's single operation is its own `#[inline(never)]` function `op_CASE`, so the
//! `instructions` benchmark finds it by symbol in this binary. The last line printed says
//! which path the per-CPU cases took (`path: percpu` or `path: fallback`): under valgrind
//! the rseq system call is refused and the per-CPU structures take their fallback path.
//!
//! # Unsafe
//!
//! Pushing on the intrusive per-CPU stack is `unsafe`; the one node outlives the stack's use.

use crossbeam_queue::{ArrayQueue, SegQueue};
use rseq_bench::fastpath::CASES;
use rseq_percpu::{
    PerCpu, PerCpuCopyRing, PerCpuCounter, PerCpuRing, PerCpuSpinLock, PerCpuStack, Slot,
    StackLink, StackNode,
};
use std::hint::black_box;
use std::process::ExitCode;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[inline(never)]
fn op_percpu_counter(c: &PerCpuCounter) -> Slot {
    c.add(1)
}

#[inline(never)]
fn op_atomic_shared(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[inline(never)]
fn op_atomic_getcpu(c: &PerCpu<AtomicU64>) {
    let cpu = rseq_bench::affinity::current_cpu();
    if let Some(w) = c.get(cpu) {
        w.fetch_add(1, Ordering::Relaxed);
    }
}

#[inline(never)]
fn op_mutex_counter(c: &Mutex<u64>) {
    if let Ok(mut g) = c.lock() {
        *g += 1;
    }
}

#[inline(never)]
fn op_percpu_spinlock(l: &PerCpuSpinLock<u64>) -> Slot {
    let mut g = l.lock();
    *g += 1;
    g.slot()
}

#[inline(never)]
fn op_parking_lot_mutex(l: &parking_lot::Mutex<u64>) {
    *l.lock() += 1;
}

/// A node of the per-CPU stack.
struct Node {
    link: StackLink,
}

// SAFETY: `link` is a `StackLink` field of `Node`, used by one stack only.
unsafe impl StackNode for Node {
    const LINK_OFFSET: usize = core::mem::offset_of!(Node, link);
}

#[inline(never)]
fn op_percpu_stack(s: &PerCpuStack<Node>, node: NonNull<Node>) -> Option<(NonNull<Node>, Slot)> {
    // SAFETY: the caller's node is valid, in no stack, and outlives the stack's use.
    unsafe { s.push(node) };
    s.pop()
}

#[inline(never)]
fn op_mutex_vec(s: &Mutex<Vec<usize>>, v: usize) -> Option<usize> {
    let mut g = s.lock().ok()?;
    g.push(v);
    drop(g);
    s.lock().ok()?.pop()
}

#[inline(never)]
fn op_segqueue(q: &SegQueue<usize>, v: usize) -> Option<usize> {
    q.push(v);
    q.pop()
}

#[inline(never)]
fn op_percpu_ring(r: &PerCpuRing, v: usize) -> Option<Slot> {
    r.push(v).ok()?;
    r.pop().map(|(_, s)| s)
}

#[inline(never)]
fn op_arrayqueue_ring(r: &ArrayQueue<usize>, v: usize) -> Option<usize> {
    r.push(v).ok()?;
    r.pop()
}

#[inline(never)]
fn op_percpu_memcpy_ring(r: &PerCpuCopyRing<[u64; 8]>, v: u64) -> Option<Slot> {
    r.push([v; 8]).ok()?;
    r.pop().map(|(_, s)| s)
}

#[inline(never)]
fn op_arrayqueue_memcpy(r: &ArrayQueue<[u64; 8]>, v: u64) -> Option<[u64; 8]> {
    r.push([v; 8]).ok()?;
    r.pop()
}

fn path(slot: Option<Slot>) -> &'static str {
    match slot {
        Some(Slot::PerCpu(_)) => "percpu",
        Some(Slot::Shared) => "fallback",
        None => "n/a",
    }
}

/// Runs `n` operations of `case`; returns the path the last one took (`None`: no such case).
fn run(case: &str, n: u64) -> Option<&'static str> {
    let mut last = None;
    match case {
        "percpu_counter" => {
            let c = PerCpuCounter::new();
            for _ in 0..n {
                last = Some(op_percpu_counter(black_box(&c)));
            }
            assert_eq!(c.sum(), n, "lost updates");
        }
        "atomic_shared" => {
            let c = AtomicU64::new(0);
            (0..n).for_each(|_| op_atomic_shared(black_box(&c)));
            assert_eq!(c.load(Ordering::Relaxed), n, "lost updates");
        }
        "atomic_getcpu" => {
            let c = PerCpu::new_with(|_| AtomicU64::new(0));
            (0..n).for_each(|_| op_atomic_getcpu(black_box(&c)));
        }
        "mutex_counter" => {
            let c = Mutex::new(0);
            (0..n).for_each(|_| op_mutex_counter(black_box(&c)));
        }
        "percpu_spinlock" => {
            let l = PerCpuSpinLock::new_with(|_| 0u64);
            for _ in 0..n {
                last = Some(op_percpu_spinlock(black_box(&l)));
            }
        }
        "parking_lot_mutex" => {
            let l = parking_lot::Mutex::new(0);
            (0..n).for_each(|_| op_parking_lot_mutex(black_box(&l)));
        }
        "percpu_stack" => {
            let stack = PerCpuStack::new();
            let node = Node {
                link: StackLink::new(),
            };
            let mut held = NonNull::from(&node);
            for _ in 0..n {
                let (popped, slot) =
                    op_percpu_stack(black_box(&stack), held).expect("the node just pushed");
                held = popped;
                last = Some(slot);
            }
        }
        "mutex_vec" => {
            let s = Mutex::new(Vec::with_capacity(4));
            (0..n).for_each(|i| {
                black_box(op_mutex_vec(black_box(&s), i as usize));
            });
        }
        "segqueue" => {
            let q = SegQueue::new();
            (0..n).for_each(|i| {
                black_box(op_segqueue(black_box(&q), i as usize));
            });
        }
        "percpu_ring" => {
            let r = PerCpuRing::new(64);
            for i in 0..n {
                last = op_percpu_ring(black_box(&r), i as usize);
            }
        }
        "arrayqueue_ring" => {
            let r = ArrayQueue::new(64);
            (0..n).for_each(|i| {
                black_box(op_arrayqueue_ring(black_box(&r), i as usize));
            });
        }
        "percpu_memcpy_ring" => {
            let r = PerCpuCopyRing::new(64);
            for i in 0..n {
                last = op_percpu_memcpy_ring(black_box(&r), i);
            }
        }
        "arrayqueue_memcpy" => {
            let r = ArrayQueue::new(64);
            (0..n).for_each(|i| {
                black_box(op_arrayqueue_memcpy(black_box(&r), i));
            });
        }
        _ => return None,
    }
    Some(path(last))
}

fn main() -> ExitCode {
    let names: Vec<&str> = CASES.iter().map(|(c, _)| *c).collect();
    let args: Vec<String> = std::env::args().collect();
    let (Some(case), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: fastpath CASE N   (CASE: {})", names.join(", "));
        return ExitCode::from(2);
    };
    // One CPU: a migration between a push and its pop would leave the node on the other
    // CPU's list.
    if let Some(&cpu) = rseq_bench::affinity::allowed_cpus().first() {
        rseq_bench::affinity::pin_current_thread(&[cpu]);
    }
    match run(case, n) {
        Some(p) => {
            println!("path: {p}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "fastpath: unknown case {case:?} (one of: {})",
                names.join(", ")
            );
            ExitCode::from(2)
        }
    }
}
