//! `rseq_percpu` side by side with librseq in the same process: the same per-CPU
//! operations, each in the same loop, on the same machine at the same time.
//!
//! The C side is librseq's reference implementation of each operation (the per-CPU
//! spin lock and list of `tests/basic_percpu_ops_test.c`, the counter, word buffer and
//! memcpy buffer of `tests/param_test.c`), vendored under `vendor/librseq/` and compiled by
//! this package's `build.rs` (gcc -O2). Each case is a function `lr_{cpu,cid}_CASE_run`
//! doing `n` operations in a C loop; the Rust side is the same loop around the
//! `rseq_percpu` structure, `rs_{cpu,cid}_CASE_run`, out of line too (`#[inline(never)]`).
//!
//! # Method
//!
//! For every case, placement (1 thread pinned, 2 threads pinned to distinct CPUs, 8 threads
//! unpinned) and index (`cpu_id`, and `mm_cid` where librseq has the variant: it has it for
//! every case here), [`ROUNDS`] rounds alternate the two sides (Rust then C on even rounds,
//! C then Rust on odd ones). A round starts fresh threads; each registers with librseq
//! (`rseq_register_current_thread()`, which uses glibc's area when glibc registered one),
//! does a warm-up of N/16 operations, waits at a barrier, reads its CPU clock
//! (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`), does N operations, reads it again and waits
//! at a second barrier; the wall time runs from the first thread's start to the last
//! thread's end (each thread reads the monotonic clock next to its CPU clock). After
//! each round the totals are checked exactly (counter sums, node conservation, items pushed
//! = popped + left, no torn item) and a mismatch panics. The figures are medians over the
//! rounds of *wall time ÷ all operations* and of *CPU time ÷ operations* per thread;
//! every case prints the Rust ÷ C ratio of both.
//!
//! After the measurements the benchmark disassembles its own executable: the hot loop of
//! each side, from the loop head through the critical sections back to the head
//! ([`rseq_bench::disasm::Code::loop_path`]), listed side by side and counted. With
//! `--bench` the report goes to `target/rseq-bench/librseq.md` and to
//! `bench/generated/side-by-side.md` (which `BENCHMARKS.md` points to). Without it
//! (`cargo test --benches`) each case runs once with a small N and nothing is written.
//! Names after `--` select cases (`cargo bench -p rseq-bench --bench librseq -- spinlock`);
//! such a partial run prints its report and writes nothing.
//!
//! # Unsafe
//!
//! The C side is reached through `extern "C"` calls on pointers this file allocates with
//! the C side's own constructors and frees with its destructors; the per-CPU stack is
//! intrusive (pushing a node is `unsafe`; the nodes outlive the stack's use).
#![allow(unsafe_code)]

#[cfg(rseq_bench_librseq)]
mod side {
    use rseq_bench::affinity::{allowed_cpus, pin_current_thread};
    use rseq_bench::disasm::{Code, FastPath};
    use rseq_percpu::{
        CpuId, IndexKind, MmCid, PerCpuCopyRing, PerCpuCounter, PerCpuRing, PerCpuSpinLock,
        PerCpuStack, Slot, StackLink, StackNode,
    };
    use std::fmt::Write as _;
    use std::ptr::NonNull;
    use std::sync::Barrier;
    use std::time::{Duration, Instant};

    /// Rounds per case and side (medians are taken over them).
    pub const ROUNDS: usize = 7;

    /// Capacity of each per-CPU buffer (items), on both sides.
    const CAPACITY: usize = 64;

    /// What a buffer worker counts (the same layout as the C side's `struct lr_flow`).
    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy)]
    pub struct Flow {
        next: u64,
        pushed: u64,
        pushed_sum: u64,
        popped: u64,
        popped_sum: u64,
        torn: u64,
    }

    /// The C side: `vendor/librseq/cases/cases.c`.
    mod ffi {
        use super::Flow;

        /// Declares opaque C types.
        macro_rules! opaque {
            ($($name:ident),*) => {$(
                /// An opaque C structure of `cases.c`.
                #[repr(C)]
                pub struct $name {
                    _private: [u8; 0],
                }
            )*};
        }
        opaque!(Counter, SpinLock, List, Node, Buffer, MemcpyBuffer);

        extern "C" {
            pub fn lr_register() -> i32;
            pub fn lr_unregister() -> i32;
            pub fn lr_cid_available() -> bool;

            pub fn lr_counter_new() -> *mut Counter;
            pub fn lr_counter_sum(c: *const Counter) -> u64;
            pub fn lr_counter_free(c: *mut Counter);
            pub fn lr_cpu_counter_run(c: *mut Counter, n: u64);
            pub fn lr_cid_counter_run(c: *mut Counter, n: u64);

            pub fn lr_spinlock_new() -> *mut SpinLock;
            pub fn lr_spinlock_sum(d: *const SpinLock) -> u64;
            pub fn lr_spinlock_free(d: *mut SpinLock);
            pub fn lr_cpu_spinlock_run(d: *mut SpinLock, n: u64);
            pub fn lr_cid_spinlock_run(d: *mut SpinLock, n: u64);

            pub fn lr_list_new() -> *mut List;
            pub fn lr_list_count(l: *const List, limit: u64) -> u64;
            pub fn lr_list_free(l: *mut List);
            pub fn lr_node_new(data: isize) -> *mut Node;
            pub fn lr_node_data(node: *const Node) -> isize;
            pub fn lr_node_free(node: *mut Node);
            pub fn lr_cpu_list_run(l: *mut List, held: *mut Node, n: u64) -> *mut Node;
            pub fn lr_cid_list_run(l: *mut List, held: *mut Node, n: u64) -> *mut Node;

            pub fn lr_buffer_new(capacity: isize) -> *mut Buffer;
            pub fn lr_buffer_drain(b: *mut Buffer, count: *mut u64, sum: *mut u64);
            pub fn lr_buffer_free(b: *mut Buffer);
            pub fn lr_cpu_buffer_run(b: *mut Buffer, flow: *mut Flow, n: u64);
            pub fn lr_cid_buffer_run(b: *mut Buffer, flow: *mut Flow, n: u64);

            pub fn lr_memcpy_new(capacity: isize) -> *mut MemcpyBuffer;
            pub fn lr_memcpy_drain(
                b: *mut MemcpyBuffer,
                count: *mut u64,
                sum: *mut u64,
                torn: *mut u64,
            );
            pub fn lr_memcpy_free(b: *mut MemcpyBuffer);
            pub fn lr_cpu_memcpy_run(b: *mut MemcpyBuffer, flow: *mut Flow, n: u64);
            pub fn lr_cid_memcpy_run(b: *mut MemcpyBuffer, flow: *mut Flow, n: u64);
        }
    }

    /// A raw pointer handed between the benchmark's threads.
    struct Shared<T>(*mut T);
    // SAFETY: the pointees are the C side's per-CPU structures, made for concurrent use by
    // any thread (and nodes, owned by one thread at a time).
    unsafe impl<T> Send for Shared<T> {}
    // SAFETY: as above.
    unsafe impl<T> Sync for Shared<T> {}

    /// A node of the Rust per-CPU stack, on a cache line of its own (the C side's nodes
    /// come from each thread's own malloc arena: no two threads' nodes share a line).
    #[repr(align(128))]
    pub struct Node {
        id: usize,
        link: StackLink,
    }

    // SAFETY: `link` is a `StackLink` field of `Node`, used by one stack only.
    unsafe impl StackNode for Node {
        const LINK_OFFSET: usize = core::mem::offset_of!(Node, link);
    }

    /// A 64-byte item: eight copies of one value.
    type Item = [u64; 8];

    /// The Rust loops, one out-of-line function per case and index kind (the listings
    /// find them by name).
    macro_rules! rust_loops {
        ($kind:ty, $counter:ident, $spin:ident, $list:ident, $buffer:ident, $memcpy:ident) => {
            #[inline(never)]
            pub fn $counter(c: &PerCpuCounter<$kind>, n: u64) {
                for _ in 0..n {
                    c.add(1);
                }
            }

            #[inline(never)]
            pub fn $spin(l: &PerCpuSpinLock<u64, $kind>, n: u64) {
                for _ in 0..n {
                    *l.lock() += 1;
                }
            }

            /// Pushes the node held (if any), holds the node popped (none when the
            /// calling CPU's stack was empty: after a migration between the push and the
            /// pop, another thread may have taken it).
            #[inline(never)]
            pub fn $list(
                s: &PerCpuStack<Node, $kind>,
                mut held: Option<NonNull<Node>>,
                n: u64,
            ) -> Option<NonNull<Node>> {
                for _ in 0..n {
                    if let Some(node) = held {
                        // SAFETY: the node is held by this thread (in no stack) and lives in
                        // an arena that outlives the stack's use.
                        unsafe { s.push(node) };
                    }
                    held = s.pop().map(|(node, _)| node);
                }
                held
            }

            #[inline(never)]
            pub fn $buffer(r: &PerCpuRing<$kind>, flow: &mut Flow, n: u64) {
                let mut next = flow.next;
                for _ in 0..n {
                    if r.push(next as usize).is_ok() {
                        flow.pushed += 1;
                        flow.pushed_sum = flow.pushed_sum.wrapping_add(next);
                        next += 1;
                    }
                    if let Some((v, _)) = r.pop() {
                        flow.popped += 1;
                        flow.popped_sum = flow.popped_sum.wrapping_add(v as u64);
                    }
                }
                flow.next = next;
            }

            #[inline(never)]
            pub fn $memcpy(r: &PerCpuCopyRing<Item, $kind>, flow: &mut Flow, n: u64) {
                let mut next = flow.next;
                for _ in 0..n {
                    if r.push([next; 8]).is_ok() {
                        flow.pushed += 1;
                        flow.pushed_sum = flow.pushed_sum.wrapping_add(next);
                        next += 1;
                    }
                    if let Some((item, _)) = r.pop() {
                        flow.popped += 1;
                        flow.popped_sum = flow.popped_sum.wrapping_add(item[0]);
                        flow.torn += item.iter().filter(|w| **w != item[0]).count() as u64;
                    }
                }
                flow.next = next;
            }
        };
    }
    rust_loops!(
        CpuId,
        rs_cpu_counter_run,
        rs_cpu_spinlock_run,
        rs_cpu_list_run,
        rs_cpu_buffer_run,
        rs_cpu_memcpy_run
    );
    rust_loops!(
        MmCid,
        rs_cid_counter_run,
        rs_cid_spinlock_run,
        rs_cid_list_run,
        rs_cid_buffer_run,
        rs_cid_memcpy_run
    );

    /// The index a case's slots are chosen by.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Index {
        /// `cpu_id` (librseq `RSEQ_PERCPU_CPU_ID`, `rseq_percpu::CpuId`).
        Cpu,
        /// `mm_cid` (librseq `RSEQ_PERCPU_MM_CID`, `rseq_percpu::MmCid`).
        Cid,
    }

    impl Index {
        fn label(self) -> &'static str {
            match self {
                Index::Cpu => "cpu_id",
                Index::Cid => "mm_cid",
            }
        }
        fn prefix(self) -> &'static str {
            match self {
                Index::Cpu => "cpu",
                Index::Cid => "cid",
            }
        }
    }

    /// Threads and where they run.
    #[derive(Debug, Clone, Copy)]
    pub enum Placement {
        /// One thread pinned to the first allowed CPU.
        One,
        /// Two threads pinned to the first two allowed CPUs, one each.
        TwoOnTwo,
        /// Eight threads, unpinned (every allowed CPU).
        Eight,
    }

    impl Placement {
        const ALL: [Placement; 3] = [Placement::One, Placement::TwoOnTwo, Placement::Eight];
        fn threads(self) -> usize {
            match self {
                Placement::One => 1,
                Placement::TwoOnTwo => 2,
                Placement::Eight => 8,
            }
        }
        fn label(self) -> &'static str {
            match self {
                Placement::One => "1 thread pinned",
                Placement::TwoOnTwo => "2 threads on 2 CPUs",
                Placement::Eight => "8 threads unpinned",
            }
        }
        fn cpus(self, k: usize, allowed: &[usize]) -> Vec<usize> {
            match self {
                Placement::One => allowed.iter().copied().take(1).collect(),
                Placement::TwoOnTwo => allowed
                    .get(k % allowed.len().clamp(1, 2))
                    .copied()
                    .into_iter()
                    .collect(),
                Placement::Eight => allowed.to_vec(),
            }
        }
    }

    /// The operations compared.
    #[derive(Debug, Clone, Copy)]
    pub enum Case {
        /// Counter add(1) / `rseq_load_add_store__ptr`.
        Counter,
        /// Spin lock lock + increment + unlock.
        SpinLock,
        /// List (stack) push + pop.
        List,
        /// Word buffer (ring) push + pop.
        Buffer,
        /// Memcpy buffer push + pop, 64-byte items.
        Memcpy,
    }

    impl Case {
        const ALL: [Case; 5] = [
            Case::Counter,
            Case::SpinLock,
            Case::List,
            Case::Buffer,
            Case::Memcpy,
        ];
        fn name(self) -> &'static str {
            match self {
                Case::Counter => "counter",
                Case::SpinLock => "spinlock",
                Case::List => "list",
                Case::Buffer => "buffer",
                Case::Memcpy => "memcpy",
            }
        }
        fn what(self) -> &'static str {
            match self {
                Case::Counter => "counter add(1) — `PerCpuCounter::add` vs `rseq_load_add_store__ptr`",
                Case::SpinLock => "spin lock: lock + increment + unlock — `PerCpuSpinLock<u64>` vs `rseq_this_cpu_lock` (basic_percpu_ops_test.c)",
                Case::List => "list push + pop — `PerCpuStack` vs `this_cpu_list_push`/`this_cpu_list_pop` (basic_percpu_ops_test.c)",
                Case::Buffer => "word buffer push + pop — `PerCpuRing` vs `this_cpu_buffer_push`/`this_cpu_buffer_pop` (param_test.c)",
                Case::Memcpy => "memcpy buffer push + pop, 64-byte items — `PerCpuCopyRing<[u64; 8]>` vs `this_cpu_memcpy_buffer_push`/`_pop` (param_test.c)",
            }
        }
        /// Operations per thread at one thread (about 50–100 ms).
        fn ops(self) -> u64 {
            match self {
                Case::Counter => 30_000_000,
                Case::SpinLock => 15_000_000,
                Case::List | Case::Buffer => 6_000_000,
                Case::Memcpy => 4_000_000,
            }
        }
    }

    /// Which implementation.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Lang {
        Rust,
        C,
    }

    /// One round's figures: wall ns per operation (all threads), CPU ns per operation per
    /// thread.
    #[derive(Debug, Clone, Copy)]
    struct Sample {
        wall: f64,
        cpu: f64,
    }

    fn thread_cpu_time() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Runs `threads` threads placed by `placement`: each makes its state with `init(k)`,
    /// runs `work(state, warm)`, waits, runs `work(state, n)` timed, and hands its state
    /// back. Returns the states and the sample.
    fn timed<S: Send>(
        placement: Placement,
        n: u64,
        init: impl Fn(usize) -> S + Sync,
        work: impl Fn(&mut S, u64) + Sync,
    ) -> (Vec<S>, Sample) {
        let threads = placement.threads();
        let allowed = allowed_cpus();
        let ready = Barrier::new(threads + 1);
        let done = Barrier::new(threads + 1);
        let (init, work, ready, done, allowed) = (&init, &work, &ready, &done, &allowed);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|k| {
                    s.spawn(move || {
                        pin_current_thread(&placement.cpus(k, allowed));
                        // SAFETY: librseq's registration of the calling thread, undone below.
                        let registered = unsafe { ffi::lr_register() };
                        assert_eq!(registered, 0, "rseq_register_current_thread");
                        let mut state = init(k);
                        work(&mut state, n / 16);
                        ready.wait();
                        let start = Instant::now();
                        let t0 = thread_cpu_time();
                        work(&mut state, n);
                        let cpu = thread_cpu_time() - t0;
                        let end = Instant::now();
                        done.wait();
                        // SAFETY: undoes this thread's registration above.
                        unsafe { ffi::lr_unregister() };
                        (state, cpu, start, end)
                    })
                })
                .collect();
            ready.wait();
            done.wait();
            let mut states = Vec::new();
            let mut cpu = Duration::ZERO;
            let mut first: Option<Instant> = None;
            let mut last: Option<Instant> = None;
            for h in handles {
                let (state, c, start, end) = h.join().expect("benchmark thread panicked");
                states.push(state);
                cpu += c;
                first = Some(first.map_or(start, |f| f.min(start)));
                last = Some(last.map_or(end, |l| l.max(end)));
            }
            // From the first thread's start to the last one's end.
            let wall = match (first, last) {
                (Some(f), Some(l)) => l - f,
                _ => Duration::ZERO,
            };
            let ops = (n * threads as u64) as f64;
            let sample = Sample {
                wall: wall.as_nanos() as f64 / ops,
                cpu: cpu.as_nanos() as f64 / ops,
            };
            (states, sample)
        })
    }

    /// Operations each thread does in one round (warm-up included).
    fn per_thread(n: u64) -> u64 {
        n + n / 16
    }

    fn check_flow(what: &str, flows: &[Flow], left: (u64, u64, u64)) {
        let pushed: u64 = flows.iter().map(|f| f.pushed).sum();
        let popped: u64 = flows.iter().map(|f| f.popped).sum();
        let pushed_sum = flows.iter().fold(0u64, |a, f| a.wrapping_add(f.pushed_sum));
        let popped_sum = flows.iter().fold(0u64, |a, f| a.wrapping_add(f.popped_sum));
        let torn: u64 = flows.iter().map(|f| f.torn).sum::<u64>() + left.2;
        assert_eq!(pushed, popped + left.0, "{what}: items lost or duplicated");
        assert_eq!(
            pushed_sum,
            popped_sum.wrapping_add(left.1),
            "{what}: item values changed"
        );
        assert_eq!(torn, 0, "{what}: torn items");
        assert!(popped > 0, "{what}: nothing popped");
    }

    fn flow_for(k: usize) -> Flow {
        Flow {
            next: (k as u64) << 48,
            ..Flow::default()
        }
    }

    /// One round of one side; panics when a total is wrong.
    fn round(case: Case, index: Index, lang: Lang, p: Placement, n: u64) -> Sample {
        let t = p.threads() as u64;
        let what = format!("{} {} {:?} {}", case.name(), index.label(), lang, p.label());
        match (lang, index) {
            (Lang::Rust, Index::Cpu) => rust_round::<CpuId>(case, p, n, t, &what),
            (Lang::Rust, Index::Cid) => rust_round::<MmCid>(case, p, n, t, &what),
            (Lang::C, _) => c_round(case, index, p, n, t, &what),
        }
    }

    /// The Rust structures of one index kind, with the loops of that kind.
    trait Kind: IndexKind + Default + Copy {
        fn counter(c: &PerCpuCounter<Self>, n: u64);
        fn spin(l: &PerCpuSpinLock<u64, Self>, n: u64);
        fn list(
            s: &PerCpuStack<Node, Self>,
            held: Option<NonNull<Node>>,
            n: u64,
        ) -> Option<NonNull<Node>>;
        fn buffer(r: &PerCpuRing<Self>, flow: &mut Flow, n: u64);
        fn memcpy(r: &PerCpuCopyRing<Item, Self>, flow: &mut Flow, n: u64);
    }

    impl Kind for CpuId {
        fn counter(c: &PerCpuCounter<Self>, n: u64) {
            rs_cpu_counter_run(c, n)
        }
        fn spin(l: &PerCpuSpinLock<u64, Self>, n: u64) {
            rs_cpu_spinlock_run(l, n)
        }
        fn list(
            s: &PerCpuStack<Node, Self>,
            held: Option<NonNull<Node>>,
            n: u64,
        ) -> Option<NonNull<Node>> {
            rs_cpu_list_run(s, held, n)
        }
        fn buffer(r: &PerCpuRing<Self>, flow: &mut Flow, n: u64) {
            rs_cpu_buffer_run(r, flow, n)
        }
        fn memcpy(r: &PerCpuCopyRing<Item, Self>, flow: &mut Flow, n: u64) {
            rs_cpu_memcpy_run(r, flow, n)
        }
    }

    impl Kind for MmCid {
        fn counter(c: &PerCpuCounter<Self>, n: u64) {
            rs_cid_counter_run(c, n)
        }
        fn spin(l: &PerCpuSpinLock<u64, Self>, n: u64) {
            rs_cid_spinlock_run(l, n)
        }
        fn list(
            s: &PerCpuStack<Node, Self>,
            held: Option<NonNull<Node>>,
            n: u64,
        ) -> Option<NonNull<Node>> {
            rs_cid_list_run(s, held, n)
        }
        fn buffer(r: &PerCpuRing<Self>, flow: &mut Flow, n: u64) {
            rs_cid_buffer_run(r, flow, n)
        }
        fn memcpy(r: &PerCpuCopyRing<Item, Self>, flow: &mut Flow, n: u64) {
            rs_cid_memcpy_run(r, flow, n)
        }
    }

    fn rust_round<I: Kind>(case: Case, p: Placement, n: u64, t: u64, what: &str) -> Sample {
        match case {
            Case::Counter => {
                let c = PerCpuCounter::with_index(I::default());
                let (_, s) = timed(p, n, |_| (), |(), n| I::counter(&c, n));
                assert_eq!(c.sum(), t * per_thread(n), "{what}: lost updates");
                assert_eq!(c.get(Slot::Shared), Some(0), "{what}: fallback path taken");
                s
            }
            Case::SpinLock => {
                let mut l = PerCpuSpinLock::with_index(I::default(), |_| 0u64);
                let (_, s) = timed(p, n, |_| (), |(), n| I::spin(&l, n));
                let sum: u64 = l.iter_mut().map(|(_, v)| *v).sum();
                assert_eq!(sum, t * per_thread(n), "{what}: lost updates");
                s
            }
            Case::List => {
                let nodes: Vec<Node> = (0..t as usize)
                    .map(|id| Node {
                        id,
                        link: StackLink::new(),
                    })
                    .collect();
                let mut stack = PerCpuStack::with_index(I::default());
                let (held, s) = timed(
                    p,
                    n,
                    |k| Shared(NonNull::from(&nodes[k]).as_ptr()),
                    |held, n| {
                        held.0 = I::list(&stack, NonNull::new(held.0), n)
                            .map_or(std::ptr::null_mut(), NonNull::as_ptr);
                    },
                );
                let mut ids: Vec<usize> = held
                    .iter()
                    .filter_map(|h| NonNull::new(h.0))
                    // SAFETY: every node is an element of `nodes`, alive here.
                    .map(|node| unsafe { node.as_ref() }.id)
                    .collect();
                for slot in (0..stack.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
                    while let Some(node) = stack.pop_from(slot) {
                        // SAFETY: as above.
                        ids.push(unsafe { node.as_ref() }.id);
                    }
                }
                ids.sort_unstable();
                assert_eq!(
                    ids,
                    (0..t as usize).collect::<Vec<_>>(),
                    "{what}: nodes lost or duplicated"
                );
                s
            }
            Case::Buffer => {
                let mut r = PerCpuRing::with_index(I::default(), CAPACITY);
                let (flows, s) = timed(p, n, flow_for, |f, n| I::buffer(&r, f, n));
                let mut left = (0, 0, 0);
                for slot in (0..r.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
                    while let Some(v) = r.pop_from(slot) {
                        left.0 += 1;
                        left.1 = u64::wrapping_add(left.1, v as u64);
                    }
                }
                check_flow(what, &flows, left);
                s
            }
            Case::Memcpy => {
                let mut r = PerCpuCopyRing::<Item, I>::with_index(I::default(), CAPACITY);
                let (flows, s) = timed(p, n, flow_for, |f, n| I::memcpy(&r, f, n));
                let mut left = (0, 0, 0);
                for slot in (0..r.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
                    while let Some(item) = r.pop_from(slot) {
                        left.0 += 1;
                        left.1 = u64::wrapping_add(left.1, item[0]);
                        left.2 += item.iter().filter(|w| **w != item[0]).count() as u64;
                    }
                }
                check_flow(what, &flows, left);
                s
            }
        }
    }

    fn c_round(case: Case, index: Index, p: Placement, n: u64, t: u64, what: &str) -> Sample {
        let cid = index == Index::Cid;
        match case {
            Case::Counter => {
                // SAFETY: the C constructor; checked for NULL below, freed at the end.
                let c = Shared(unsafe { ffi::lr_counter_new() });
                assert!(!c.0.is_null(), "{what}: allocation");
                let c = &c;
                let (_, s) = timed(
                    p,
                    n,
                    |_| (),
                    |(), n| {
                        // SAFETY: `c` is a live counter, used concurrently as librseq's test does.
                        unsafe {
                            if cid {
                                ffi::lr_cid_counter_run(c.0, n)
                            } else {
                                ffi::lr_cpu_counter_run(c.0, n)
                            }
                        }
                    },
                );
                // SAFETY: the threads are done; `c` is live until the free.
                let sum = unsafe { ffi::lr_counter_sum(c.0) };
                // SAFETY: made by lr_counter_new, not used after.
                unsafe { ffi::lr_counter_free(c.0) };
                assert_eq!(sum, t * per_thread(n), "{what}: lost updates");
                s
            }
            Case::SpinLock => {
                // SAFETY: as for the counter.
                let d = Shared(unsafe { ffi::lr_spinlock_new() });
                assert!(!d.0.is_null(), "{what}: allocation");
                let d = &d;
                let (_, s) = timed(
                    p,
                    n,
                    |_| (),
                    |(), n| {
                        // SAFETY: `d` is live; the C lock serialises the increments.
                        unsafe {
                            if cid {
                                ffi::lr_cid_spinlock_run(d.0, n)
                            } else {
                                ffi::lr_cpu_spinlock_run(d.0, n)
                            }
                        }
                    },
                );
                // SAFETY: the threads are done; `d` is live until the free.
                let sum = unsafe { ffi::lr_spinlock_sum(d.0) };
                // SAFETY: made by lr_spinlock_new, not used after.
                unsafe { ffi::lr_spinlock_free(d.0) };
                assert_eq!(
                    sum,
                    t * per_thread(n),
                    "{what}: lost updates (or a lock left held)"
                );
                s
            }
            Case::List => {
                // SAFETY: as for the counter.
                let l = Shared(unsafe { ffi::lr_list_new() });
                assert!(!l.0.is_null(), "{what}: allocation");
                let l = &l;
                let (held, s) = timed(
                    p,
                    n,
                    // SAFETY: a fresh node, freed below.
                    |k| Shared(unsafe { ffi::lr_node_new(k as isize) }),
                    |held, n| {
                        // SAFETY: the list is live; the node (if any) is held by this thread.
                        held.0 = unsafe {
                            if cid {
                                ffi::lr_cid_list_run(l.0, held.0, n)
                            } else {
                                ffi::lr_cpu_list_run(l.0, held.0, n)
                            }
                        };
                    },
                );
                // SAFETY: the threads are done; the list is live; held nodes are live.
                let left = unsafe { ffi::lr_list_count(l.0, t) };
                let mut ids: Vec<isize> = held
                    .iter()
                    .filter(|h| !h.0.is_null())
                    // SAFETY: a live node.
                    .map(|h| unsafe { ffi::lr_node_data(h.0) })
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(
                    ids.len() as u64 + left,
                    t,
                    "{what}: nodes lost or duplicated"
                );
                for h in held {
                    // SAFETY: made by lr_node_new (or null), out of the list.
                    unsafe { ffi::lr_node_free(h.0) };
                }
                // SAFETY: made by lr_list_new, not used after (frees the nodes left in it).
                unsafe { ffi::lr_list_free(l.0) };
                s
            }
            Case::Buffer => {
                // SAFETY: as for the counter.
                let b = Shared(unsafe { ffi::lr_buffer_new(CAPACITY as isize) });
                assert!(!b.0.is_null(), "{what}: allocation");
                let b = &b;
                let (flows, s) = timed(p, n, flow_for, |f, n| {
                    // SAFETY: the buffer is live; `f` is this thread's.
                    unsafe {
                        if cid {
                            ffi::lr_cid_buffer_run(b.0, f, n)
                        } else {
                            ffi::lr_cpu_buffer_run(b.0, f, n)
                        }
                    }
                });
                let mut left = (0, 0, 0);
                // SAFETY: the threads are done; the buffer is live until the free.
                unsafe {
                    ffi::lr_buffer_drain(b.0, &mut left.0, &mut left.1);
                    ffi::lr_buffer_free(b.0);
                }
                check_flow(what, &flows, left);
                s
            }
            Case::Memcpy => {
                // SAFETY: as for the counter.
                let b = Shared(unsafe { ffi::lr_memcpy_new(CAPACITY as isize) });
                assert!(!b.0.is_null(), "{what}: allocation");
                let b = &b;
                let (flows, s) = timed(p, n, flow_for, |f, n| {
                    // SAFETY: the buffer is live; `f` is this thread's.
                    unsafe {
                        if cid {
                            ffi::lr_cid_memcpy_run(b.0, f, n)
                        } else {
                            ffi::lr_cpu_memcpy_run(b.0, f, n)
                        }
                    }
                });
                let mut left = (0, 0, 0);
                // SAFETY: the threads are done; the buffer is live until the free.
                unsafe {
                    ffi::lr_memcpy_drain(b.0, &mut left.0, &mut left.1, &mut left.2);
                    ffi::lr_memcpy_free(b.0);
                }
                check_flow(what, &flows, left);
                s
            }
        }
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// Whether librseq sees an `mm_cid` on a registered thread.
    fn mm_cid_available() -> bool {
        std::thread::spawn(|| {
            // SAFETY: registration of this short-lived thread, undone before it ends.
            unsafe {
                let ok = ffi::lr_register() == 0 && ffi::lr_cid_available();
                ffi::lr_unregister();
                ok
            }
        })
        .join()
        .unwrap_or(false)
    }

    /// Measures every case whose name contains one of `filters` (every case when empty);
    /// returns the report's Markdown.
    pub fn measure(quick: bool, filters: &[String]) -> String {
        let rounds = if quick { 1 } else { ROUNDS };
        let indices: Vec<Index> = if mm_cid_available() {
            vec![Index::Cpu, Index::Cid]
        } else {
            println!("librseq reports no mm_cid here: the mm_cid variants are skipped");
            vec![Index::Cpu]
        };
        let mut md = String::new();
        let chosen = Case::ALL.into_iter().filter(|c| {
            filters.is_empty() || filters.iter().any(|f| c.name().contains(f.as_str()))
        });
        for case in chosen {
            let _ = writeln!(md, "### {}\n", case.what());
            let _ = writeln!(
                md,
                "| threads | index | Rust wall ns/op | C wall ns/op | wall Rust ÷ C | Rust CPU ns/op | C CPU ns/op | CPU Rust ÷ C |"
            );
            let _ = writeln!(
                md,
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for p in Placement::ALL {
                // The same total work at 8 threads as at 2 (8 threads share 2 CPUs).
                let n = if quick {
                    20_000
                } else if p.threads() > 2 {
                    case.ops() / 4
                } else {
                    case.ops()
                };
                for &index in &indices {
                    let mut rs = Vec::new();
                    let mut cs = Vec::new();
                    for r in 0..rounds {
                        let order = if r % 2 == 0 {
                            [Lang::Rust, Lang::C]
                        } else {
                            [Lang::C, Lang::Rust]
                        };
                        for lang in order {
                            let s = round(case, index, lang, p, n);
                            match lang {
                                Lang::Rust => rs.push(s),
                                Lang::C => cs.push(s),
                            }
                        }
                    }
                    let rw = median(rs.iter().map(|s| s.wall).collect());
                    let cw = median(cs.iter().map(|s| s.wall).collect());
                    let rc = median(rs.iter().map(|s| s.cpu).collect());
                    let cc = median(cs.iter().map(|s| s.cpu).collect());
                    let line = format!(
                        "| {} | {} | {rw:.2} | {cw:.2} | {:.2}× | {rc:.2} | {cc:.2} | {:.2}× |",
                        p.label(),
                        index.label(),
                        rw / cw,
                        rc / cc
                    );
                    println!("{}: {line}", case.name());
                    let _ = writeln!(md, "{line}");
                }
            }
            md.push('\n');
        }
        md
    }

    /// A symbol's name without its hash, for the listings.
    fn demangle(name: &str) -> String {
        format!("{:#}", rustc_demangle::demangle(name))
    }

    /// The hot loops of both sides, disassembled from this executable.
    pub fn listings() -> String {
        let mut md = String::new();
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => return format!("(cannot find this executable: {e})\n"),
        };
        let mut code = match Code::load(&exe) {
            Ok(c) => c,
            Err(e) => return format!("(cannot analyse {}: {e})\n", exe.display()),
        };
        let count = |fp: &Option<FastPath>| match fp {
            Some(f) if f.copy_loops => format!("{} + copy loops", f.instructions),
            Some(f) => f.instructions.to_string(),
            None => "–".into(),
        };
        let mut table = String::from(
            "| case | index | Rust loop function | instructions per iteration | C loop function | instructions per iteration |\n| --- | --- | --- | ---: | --- | ---: |\n",
        );
        let mut body = String::new();
        for case in Case::ALL {
            for index in [Index::Cpu, Index::Cid] {
                let rs_name = format!("rs_{}_{}_run", index.prefix(), case.name());
                let lr_name = format!("lr_{}_{}_run", index.prefix(), case.name());
                let rs = code.find(&rs_name);
                let lr = code.find(&lr_name);
                let rs_fp = rs.as_ref().and_then(|f| code.loop_path(f));
                let lr_fp = lr.as_ref().and_then(|f| code.loop_path(f));
                let _ = writeln!(
                    table,
                    "| {} | {} | `{rs_name}` | {} | `{lr_name}` | {} |",
                    case.name(),
                    index.label(),
                    count(&rs_fp),
                    count(&lr_fp)
                );
                let _ = writeln!(body, "### {} ({})\n", case.what(), index.label());
                for (label, f, fp) in [("Rust", &rs, &rs_fp), ("librseq", &lr, &lr_fp)] {
                    let Some(f) = f else {
                        let _ = writeln!(body, "{label}: no symbol\n");
                        continue;
                    };
                    let mut text = match fp {
                        Some(fp) => code.listing(f, &fp.path, &code.sections_in(f)),
                        None => code.full_listing(f),
                    };
                    // Callees on the loop's path that run critical sections: their fast path.
                    let path = fp.as_ref().map(|fp| fp.path.clone()).unwrap_or_default();
                    for callee in code.callees_on(f, &path) {
                        if let Some(cfp) = code.fast_path(&callee).filter(|c| c.sections > 0) {
                            let _ = writeln!(
                                text,
                                "  called: {} ({} instructions on its fast path)",
                                demangle(&callee.name),
                                cfp.instructions
                            );
                            text.push_str(&code.listing(
                                &callee,
                                &cfp.path,
                                &code.sections_in(&callee),
                            ));
                        }
                    }
                    let _ = writeln!(
                        body,
                        "{label} — one iteration of the loop in `{}` ({} instructions):\n\n```text\n{text}```\n",
                        if label == "Rust" { &rs_name } else { &lr_name },
                        count(fp)
                    );
                }
            }
        }
        let _ = writeln!(md, "{table}\n{body}");
        md
    }
}

fn main() {
    // `cargo test --benches` passes no `--bench`: a quick run, nothing written.
    let quick = !std::env::args().any(|a| a == "--bench");
    // Other arguments select cases by name (`-- spinlock`); a partial run writes no file.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    #[cfg(rseq_bench_librseq)]
    {
        let figures = side::measure(quick, &filters);
        let listings = side::listings();
        let md = format!(
            "# rseq_percpu and librseq side by side\n\n\
             Generated by `cargo bench -p rseq-bench --bench librseq` ({} rounds per case and side; \
             see `bench/benches/librseq.rs` for the method). Wall: wall time ÷ all operations of all \
             threads; CPU: each thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) ÷ its operations. \
             Ratios above 1 mean the Rust side is slower.\n\n\
             ## Figures\n\n{figures}\
             ## Fast paths: one iteration of each hot loop\n\n\
             The cheapest path from the head of the loop around the critical sections, through \
             every section of the function (entered at `start_ip`, left at the commit), back to \
             the head, disassembled from the benchmark's own executable (release build) with \
             `rseq_bench::disasm`. Slow paths (retries, fallback) are out of the count.\n\n{listings}",
            side::ROUNDS
        );
        if quick || !filters.is_empty() {
            println!("{md}");
        } else {
            rseq_bench::results::save("librseq.md", &md);
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/side-by-side.md");
            let written = std::fs::create_dir_all(path.parent().unwrap_or(&path))
                .and_then(|()| std::fs::write(&path, &md));
            match written {
                Ok(()) => println!("wrote {}", path.display()),
                Err(e) => eprintln!("cannot write {}: {e}", path.display()),
            }
        }
    }
    #[cfg(not(rseq_bench_librseq))]
    {
        let _ = (quick, filters);
        println!("librseq is built on x86_64 Linux only: nothing to compare here");
    }
}
