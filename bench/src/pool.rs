//! Worker threads started once per benchmark and released together by a barrier.
//!
//! Multi-threaded benchmarks use criterion's `iter_custom`: for each sample criterion asks
//! for `iters` iterations; [`Pool::run`] lets every thread do `iters` operations at once
//! (released by one barrier, joined by another) and returns the elapsed wall time divided
//! by the number of threads, so criterion's figure is the *total time divided by the total
//! number of operations*: the system's cost per operation. Starting the threads once keeps
//! thread creation out of the measurement.

use crate::affinity;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many threads a benchmark runs and where they may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// One thread, pinned to the first allowed CPU.
    One,
    /// Two threads, each pinned to its own CPU (the first two allowed CPUs).
    TwoOnTwo,
    /// Eight threads on the first two allowed CPUs, free to migrate between them:
    /// oversubscribed, so the scheduler preempts threads in the middle of operations.
    EightOnTwo,
}

impl Placement {
    /// Every placement, in the order the tables list them.
    pub const ALL: [Placement; 3] = [Placement::One, Placement::TwoOnTwo, Placement::EightOnTwo];

    /// Number of threads.
    pub fn threads(self) -> usize {
        match self {
            Placement::One => 1,
            Placement::TwoOnTwo => 2,
            Placement::EightOnTwo => 8,
        }
    }

    /// The short name used in benchmark ids and tables.
    pub fn label(self) -> &'static str {
        match self {
            Placement::One => "1t",
            Placement::TwoOnTwo => "2t-2cpu",
            Placement::EightOnTwo => "8t-2cpu",
        }
    }

    /// The CPUs thread `k` may run on, chosen from `allowed` (the process's CPUs).
    fn cpus_for(self, k: usize, allowed: &[usize]) -> Vec<usize> {
        let two: Vec<usize> = allowed.iter().copied().take(2).collect();
        match self {
            Placement::One => two.into_iter().take(1).collect(),
            Placement::TwoOnTwo => two.get(k % two.len().max(1)).copied().into_iter().collect(),
            Placement::EightOnTwo => two,
        }
    }
}

/// What one benchmark thread does: `run(iters)` performs `iters` operations; `finish`
/// hands back what the benchmark checks at the end (for example the nodes it holds).
pub trait Worker: Send + 'static {
    /// Returned by [`Worker::finish`] when the pool stops.
    type Output: Send + 'static;
    /// Performs `iters` operations.
    fn run(&mut self, iters: u64);
    /// Ends the worker.
    fn finish(self) -> Self::Output;
}

/// A [`Worker`] made of a closure, with nothing to hand back.
pub struct FnWorker<F>(pub F);

impl<F: FnMut(u64) + Send + 'static> Worker for FnWorker<F> {
    type Output = ();
    fn run(&mut self, iters: u64) {
        (self.0)(iters)
    }
    fn finish(self) {}
}

struct Control {
    start: Barrier,
    done: Barrier,
    iters: AtomicU64,
    stop: AtomicBool,
}

/// Threads running a [`Worker`] each, waiting for [`Pool::run`].
pub struct Pool<O> {
    control: Arc<Control>,
    handles: Vec<JoinHandle<O>>,
    total_ops: u64,
}

impl<O: Send + 'static> Pool<O> {
    /// Starts `placement.threads()` threads; thread `k` runs `make(k)`, placed as
    /// `placement` says.
    ///
    /// # Panics
    ///
    /// When a thread cannot be created or placed.
    pub fn start<W: Worker<Output = O>>(
        placement: Placement,
        mut make: impl FnMut(usize) -> W,
    ) -> Self {
        let threads = placement.threads();
        let allowed = affinity::allowed_cpus();
        let control = Arc::new(Control {
            start: Barrier::new(threads + 1),
            done: Barrier::new(threads + 1),
            iters: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let handles = (0..threads)
            .map(|k| {
                let mut worker = make(k);
                let cpus = placement.cpus_for(k, &allowed);
                let control = Arc::clone(&control);
                std::thread::Builder::new()
                    .name(format!("bench-{k}"))
                    .spawn(move || {
                        affinity::pin_current_thread(&cpus);
                        loop {
                            control.start.wait();
                            if control.stop.load(Ordering::Acquire) {
                                return worker.finish();
                            }
                            worker.run(control.iters.load(Ordering::Acquire));
                            control.done.wait();
                        }
                    })
                    .expect("spawn benchmark thread")
            })
            .collect();
        Pool {
            control,
            handles,
            total_ops: 0,
        }
    }

    /// Lets every thread do `iters` operations and returns the wall time divided by the
    /// number of threads (so that time / `iters` is the time per operation).
    pub fn run(&mut self, iters: u64) -> Duration {
        let threads = self.handles.len() as u64;
        self.control.iters.store(iters, Ordering::Release);
        self.control.start.wait();
        let t0 = Instant::now();
        self.control.done.wait();
        let elapsed = t0.elapsed();
        self.total_ops += iters * threads;
        elapsed.div_f64(threads as f64)
    }

    /// Operations done so far by all threads together.
    pub fn total_ops(&self) -> u64 {
        self.total_ops
    }

    /// Stops the threads and returns what each worker handed back, with the total number
    /// of operations done.
    ///
    /// # Panics
    ///
    /// When a worker panicked (a failed check inside a worker).
    pub fn finish(self) -> (Vec<O>, u64) {
        self.control.stop.store(true, Ordering::Release);
        self.control.start.wait();
        let outputs = self
            .handles
            .into_iter()
            .map(|h| h.join().expect("benchmark worker panicked"))
            .collect();
        (outputs, self.total_ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker counting what it was asked to do, on the CPU it was placed on.
    struct Counting {
        done: u64,
        cpus: Vec<usize>,
    }

    impl Worker for Counting {
        type Output = (u64, Vec<usize>);
        fn run(&mut self, iters: u64) {
            self.done += iters;
            self.cpus.push(affinity::current_cpu());
        }
        fn finish(self) -> (u64, Vec<usize>) {
            (self.done, self.cpus)
        }
    }

    #[test]
    fn every_thread_runs_every_round_and_totals_add_up() {
        for placement in Placement::ALL {
            let mut pool = Pool::start(placement, |_| Counting {
                done: 0,
                cpus: Vec::new(),
            });
            pool.run(5);
            pool.run(7);
            let (outputs, total) = pool.finish();
            assert_eq!(outputs.len(), placement.threads());
            assert!(
                outputs.iter().all(|(done, _)| *done == 12),
                "{placement:?}: {outputs:?}"
            );
            assert_eq!(total, 12 * placement.threads() as u64);
        }
    }

    #[test]
    fn two_on_two_pins_one_thread_per_cpu() {
        let allowed = affinity::allowed_cpus();
        if allowed.len() < 2 {
            return; // nothing to show on one CPU
        }
        let mut pool = Pool::start(Placement::TwoOnTwo, |_| Counting {
            done: 0,
            cpus: Vec::new(),
        });
        pool.run(1);
        let (outputs, _) = pool.finish();
        assert_eq!(outputs[0].1, [allowed[0]]);
        assert_eq!(outputs[1].1, [allowed[1]]);
    }
}
