//! Runtime tests of every operation family `#[rseq_critical]` expresses, each bound to
//! `cpu_id` and to `mm_cid`: 4 threads on 2 CPUs, and the final state must be exact (nothing
//! lost, nothing duplicated).
//!
//! Every scenario runs in a child process (this binary re-run on the test `child`):
//! glibc-owned registration (the default), this crate's own registration
//! (`GLIBC_TUNABLES=glibc.pthread.rseq=0`), and rseq refused (the tunable plus a seccomp
//! filter making `rseq(2)` fail with `ENOSYS` before `exec`), where every operation must
//! report `Unavailable` and the test's fallback (a lock) keeps the state exact. Each child
//! checks which registrar the process ended up with, and prints per family how many
//! operations took the rseq path and how many the fallback; the parent checks those counts.

use rseq_abi::thread::{Registrar, Unavailable};
use rseq_macros::rseq_critical;
use rseq_testkit::{allowed_cpus, pin_current_thread};
use rseq_tests::child::{run_test_in_child, ChildEnv};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Words between two CPUs' slots (128 bytes: no false sharing).
const STRIDE: usize = 16;
/// Capacity of each CPU's buffer.
const CAP: usize = 4096;
const THREADS: usize = 4;
/// How long each thread repeats each family's operation (long enough for preemptions and
/// migrations while the threads overlap; the counts are exact whatever the duration).
const RUN_FOR: Duration = Duration::from_millis(20);
const SCENARIO: &str = "RSEQ_MACRO_FAMILIES_SCENARIO";

/// Outcome of a buffer push.
#[derive(Debug, PartialEq, Eq)]
enum Push {
    Done,
    Full,
    Raced,
}

/// Outcome of a buffer pop.
#[derive(Debug, PartialEq, Eq)]
enum Pop {
    Item(usize),
    Empty,
    Raced,
}

/// Errors of the section that returns its aborts.
#[derive(Debug)]
enum AddError {
    Aborted,
    Unavailable(Unavailable),
}

impl From<Unavailable> for AddError {
    fn from(u: Unavailable) -> Self {
        AddError::Unavailable(u)
    }
}

/// A list node: `next` is not at offset 0, so the pop exercises `byte_add`.
#[repr(C)]
struct Node {
    id: usize,
    next: usize,
}

/// A buffer push on index `$idx` committed with `$commit` (`commit`: relaxed,
/// `commit_release`: release): rseq_load_cbne_store_store__ptr with `store`,
/// rseq_load_cbne_memcpy_store__ptr with `memcpy` (16-byte items) as `$fill`.
macro_rules! push_section {
    ($idx:ident, $name:ident, $commit:ident, $item:ty, $src:ident: $src_ty:ty, $slot:ident => $fill:expr) => {
        #[rseq_critical]
        pub(crate) unsafe fn $name(
            offs: *mut usize,
            array: *mut $item,
            $src: $src_ty,
        ) -> Result<Push, Unavailable> {
            let cpu = $idx();
            let offp = offs.wrapping_add(cpu * STRIDE);
            // SAFETY: `offp` is this index's offset word.
            let offset = unsafe { offp.read_volatile() };
            if offset >= CAP {
                return Ok(Push::Full);
            }
            #[speculative]
            let $slot = array.wrapping_add(cpu * CAP + offset);
            let newv = offset + 1;
            let o = load(offp);
            if o != offset {
                return Ok(Push::Raced);
            }
            $fill;
            $commit(offp, newv);
            Ok(Push::Done)
        }
    };
}

macro_rules! families {
    ($idx:ident, $module:ident) => {
        /// Every family, bound to one index.
        mod $module {
            use super::*;

            /// rseq_load_add_store__ptr.
            #[rseq_critical]
            pub(crate) unsafe fn add(counters: *mut usize, n: usize) -> Result<(), Unavailable> {
                let cpu = $idx();
                let slot = counters.wrapping_add(cpu * STRIDE);
                commit_add(slot, n);
                Ok(())
            }

            /// The same, returning aborts to the caller.
            #[rseq_critical(on_abort = return Err(AddError::Aborted))]
            pub(crate) unsafe fn add_or_abort(
                counters: *mut usize,
                n: usize,
            ) -> Result<(), AddError> {
                let cpu = $idx();
                let slot = counters.wrapping_add(cpu * STRIDE);
                commit_add(slot, n);
                Ok(())
            }

            /// rseq_load_cbne_store__ptr: increment by compare-and-store.
            #[rseq_critical]
            pub(crate) unsafe fn cas_inc(words: *mut usize) -> Result<bool, Unavailable> {
                let cpu = $idx();
                let v = words.wrapping_add(cpu * STRIDE);
                // SAFETY: `v` is this index's slot (caller contract).
                let expect = unsafe { v.read_volatile() };
                let newv = expect + 1;
                let old = load(v);
                if old != expect {
                    return Ok(false);
                }
                commit(v, newv);
                Ok(true)
            }

            /// rseq_load_cbne_store__ptr with the expected value from the caller.
            #[rseq_critical]
            pub(crate) unsafe fn cas(
                words: *mut usize,
                expect: usize,
                newv: usize,
            ) -> Result<bool, Unavailable> {
                let cpu = $idx();
                let v = words.wrapping_add(cpu * STRIDE);
                let old = load(v);
                if old != expect {
                    return Ok(false);
                }
                commit(v, newv);
                Ok(true)
            }

            /// List push (rseq_load_cbne_store__ptr).
            #[rseq_critical]
            pub(crate) unsafe fn push(
                heads: *mut usize,
                node: *mut Node,
            ) -> Result<bool, Unavailable> {
                let cpu = $idx();
                let head = heads.wrapping_add(cpu * STRIDE);
                // SAFETY: `head` is this index's list head, `node` is owned by the caller.
                let expect = unsafe { head.read_volatile() };
                // SAFETY: as above; the node is not reachable before the commit.
                unsafe { (*node).next = expect };
                // The node's address is the value committed (a pointer is an address).
                let node = node as usize;
                let h = load(head);
                if h != expect {
                    return Ok(false);
                }
                commit(head, node);
                Ok(true)
            }

            /// List pop (rseq_load_cbeq_store_add_load_store__ptr).
            #[rseq_critical]
            pub(crate) unsafe fn pop(
                heads: *mut usize,
                next_off: usize,
                #[speculative] out: *mut usize,
            ) -> Result<bool, Unavailable> {
                let cpu = $idx();
                let v = heads.wrapping_add(cpu * STRIDE);
                let head = load(v);
                if head == 0 {
                    return Ok(false);
                }
                store(out, head);
                let next = load(head.byte_add(next_off));
                commit(v, next);
                Ok(true)
            }

            /// Pointer chase then add (rseq_load_add_load_load_add_store__ptr): the slot
            /// holds, at byte offset 8, a pointer to the counter to increment.
            #[rseq_critical]
            pub(crate) unsafe fn chase_add(
                tables: *mut usize,
                inc: usize,
            ) -> Result<(), Unavailable> {
                let cpu = $idx();
                let ptr = tables.wrapping_add(cpu * STRIDE);
                let p = load(ptr.byte_add(8));
                commit_add(p, inc);
                Ok(())
            }

            push_section!($idx, buf_push, commit, usize, item: usize, slot => store(slot, item));
            push_section!($idx, buf_push_release, commit_release, usize, item: usize, slot => store(slot, item));

            /// Buffer pop: two compares then commit (rseq_load_cbne_load_cbne_store__ptr).
            #[rseq_critical]
            pub(crate) unsafe fn buf_pop(
                offs: *mut usize,
                array: *mut usize,
            ) -> Result<Pop, Unavailable> {
                let cpu = $idx();
                let offp = offs.wrapping_add(cpu * STRIDE);
                // SAFETY: `offp` is this index's offset word.
                let offset = unsafe { offp.read_volatile() };
                if offset == 0 {
                    return Ok(Pop::Empty);
                }
                let slotp = array.wrapping_add(cpu * CAP + offset - 1);
                // SAFETY: `slotp` is within this index's array.
                let item = unsafe { slotp.read_volatile() };
                let newv = offset - 1;
                let o = load(offp);
                if o != offset {
                    return Ok(Pop::Raced);
                }
                let s = load(slotp);
                if s != item {
                    return Ok(Pop::Raced);
                }
                commit(offp, newv);
                Ok(Pop::Item(item))
            }

            push_section!($idx, mc_push, commit, [usize; 2], src: *const [usize; 2], slot => memcpy(slot, src, 16));
            push_section!($idx, mc_push_release, commit_release, [usize; 2], src: *const [usize; 2], slot => memcpy(slot, src, 16));

            /// Copy-out pop (rseq_load_cbne_memcpy_store__ptr with a bounded runtime length).
            #[rseq_critical]
            pub(crate) unsafe fn mc_pop(
                offs: *mut usize,
                array: *mut [usize; 2],
                #[speculative] out: *mut [usize; 2],
                len: usize,
            ) -> Result<Pop, Unavailable> {
                let cpu = $idx();
                let offp = offs.wrapping_add(cpu * STRIDE);
                // SAFETY: `offp` is this index's offset word.
                let offset = unsafe { offp.read_volatile() };
                if offset == 0 {
                    return Ok(Pop::Empty);
                }
                let slotp = array.wrapping_add(cpu * CAP + offset - 1);
                let newv = offset - 1;
                let o = load(offp);
                if o != offset {
                    return Ok(Pop::Raced);
                }
                memcpy::<16>(out, slotp, len);
                commit(offp, newv);
                Ok(Pop::Item(0))
            }

            /// Aborts of `nonnull_add` (counted on its abort path only).
            pub(crate) static ABORTS: AtomicU64 = AtomicU64::new(0);

            /// rseq_load_add_store__ptr through a `NonNull` address, counting its aborts.
            #[rseq_critical(abort_counter = ABORTS)]
            pub(crate) unsafe fn nonnull_add(
                counters: NonNull<usize>,
                n: usize,
            ) -> Result<(), Unavailable> {
                let cpu = $idx();
                // SAFETY: the caller gives one slot per index.
                let slot = unsafe { counters.add(cpu * STRIDE) };
                commit_add(slot, n);
                Ok(())
            }

            /// Adds `u64::MAX` (subtracts one) with literals above `i64::MAX`, exiting on
            /// a word equal to `1 << 63`.
            #[rseq_critical]
            pub(crate) unsafe fn sub_one(counters: *mut usize) -> Result<bool, Unavailable> {
                let cpu = $idx();
                let slot = counters.wrapping_add(cpu * STRIDE);
                let old = load(slot);
                if old == 0x8000_0000_0000_0000 {
                    return Ok(false);
                }
                commit_add(slot, 0xFFFF_FFFF_FFFF_FFFF);
                Ok(true)
            }

            /// Copy-in push from an offset source (`memcpy(dst, src.byte_add(8), 16)`): the
            /// item is the last two words of a three-word record.
            #[rseq_critical]
            pub(crate) unsafe fn mc_push_tail(
                offs: *mut usize,
                array: *mut [usize; 2],
                src: *const [usize; 3],
            ) -> Result<Push, Unavailable> {
                let cpu = $idx();
                let offp = offs.wrapping_add(cpu * STRIDE);
                // SAFETY: `offp` is this index's offset word.
                let offset = unsafe { offp.read_volatile() };
                if offset >= CAP {
                    return Ok(Push::Full);
                }
                #[speculative]
                let slot = array.wrapping_add(cpu * CAP + offset);
                let newv = offset + 1;
                let o = load(offp);
                if o != offset {
                    return Ok(Push::Raced);
                }
                memcpy(slot, src.byte_add(8), 16);
                commit(offp, newv);
                Ok(Push::Done)
            }
        }
    };
}

families!(cpu_id, by_cpu);
families!(mm_cid, by_cid);

/// Shared memory handed to threads as an address.
#[derive(Clone, Copy)]
struct Addr(usize);

impl Addr {
    fn of<T>(v: &mut [T]) -> Addr {
        Addr(v.as_mut_ptr() as usize)
    }
    fn ptr<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

/// Serialises the fallback path (used only when rseq is unavailable).
static FALLBACK: Mutex<()> = Mutex::new(());

/// Path counts of one family.
#[derive(Default)]
struct Paths {
    rseq: AtomicUsize,
    fallback: AtomicUsize,
}

impl Paths {
    fn report(&self, name: &str) {
        println!(
            "FAMILY {name} rseq={} fallback={}",
            self.rseq.load(Ordering::Relaxed),
            self.fallback.load(Ordering::Relaxed)
        );
    }
    /// One operation as the tests drive it: `section()` returns `Ok(Some(v))` when done,
    /// `Ok(None)` when it lost a race (retried at once), `Err` when rseq is unavailable,
    /// and then `fallback()` runs under the fallback lock. Records which path was taken.
    fn op<T>(
        &self,
        mut section: impl FnMut() -> Result<Option<T>, Unavailable>,
        fallback: impl FnOnce() -> T,
    ) -> T {
        loop {
            match section() {
                Ok(Some(v)) => {
                    self.took(true);
                    return v;
                }
                Ok(None) => continue,
                Err(_) => {
                    let _g = FALLBACK.lock().unwrap();
                    let v = fallback();
                    self.took(false);
                    return v;
                }
            }
        }
    }

    fn took(&self, rseq: bool) {
        if rseq {
            self.rseq.fetch_add(1, Ordering::Relaxed);
        } else {
            self.fallback.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Calls `op(i)` for i = 0, 1, ... for about `RUN_FOR`; returns how many calls.
fn repeat(mut op: impl FnMut(usize)) -> usize {
    let start = Instant::now();
    let mut i = 0;
    loop {
        for _ in 0..256 {
            op(i);
            i += 1;
        }
        if start.elapsed() >= RUN_FOR {
            return i;
        }
    }
}

/// Runs `body(thread)` on the threads of [`on_threads`] and returns the sum of what the
/// bodies return (the operations they completed).
fn run_counted(body: impl Fn(usize) -> usize + Sync) -> usize {
    let done = AtomicUsize::new(0);
    on_threads(|t| {
        done.fetch_add(body(t), Ordering::Relaxed);
    });
    done.into_inner()
}

/// Runs `body(thread)` on `THREADS` threads restricted to two CPUs, while another thread
/// keeps sending them `SIGUSR1` (a handled signal aborts a section it interrupts: more
/// chances for the kernel's abort path than preemption and migration alone give).
fn on_threads(body: impl Fn(usize) + Sync) {
    let cpus = allowed_cpus();
    let two = &cpus[..cpus.len().min(2)];
    // Live workers; a worker leaves before it exits, so no signal targets a dead thread.
    let live: Mutex<Vec<libc::pthread_t>> = Mutex::new(Vec::new());
    let running = AtomicUsize::new(THREADS);
    std::thread::scope(|s| {
        s.spawn(|| {
            while running.load(Ordering::Acquire) > 0 {
                for &t in live.lock().unwrap().iter() {
                    // SAFETY: `t` is a live thread (it removes itself under the lock
                    // before exiting); SIGUSR1 has a handler.
                    unsafe { libc::pthread_kill(t, libc::SIGUSR1) };
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        });
        for t in 0..THREADS {
            let (body, live, running) = (&body, &live, &running);
            s.spawn(move || {
                pin_current_thread(two);
                // SAFETY: pthread_self has no preconditions.
                let me = unsafe { libc::pthread_self() };
                live.lock().unwrap().push(me);
                body(t);
                live.lock().unwrap().retain(|&x| x != me);
                running.fetch_sub(1, Ordering::Release);
            });
        }
    });
}

extern "C" fn on_sigusr1(_: libc::c_int) {}

/// Installs a handler for `SIGUSR1` that does nothing (restarting interrupted calls).
fn handle_sigusr1() {
    // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe (empty).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

fn slots() -> usize {
    rseq_abi::cpu::possible_cpus()
}

/// Conversions of the sections' outcomes into the driver's steps (see [`Paths::op`]).
impl Pop {
    fn step(self) -> Option<Option<usize>> {
        match self {
            Pop::Item(x) => Some(Some(x)),
            Pop::Empty => Some(None),
            Pop::Raced => None,
        }
    }
}

impl Push {
    fn step(self) -> Option<()> {
        match self {
            Push::Done => Some(()),
            Push::Raced => None,
            Push::Full => panic!("buffer full"),
        }
    }
}

/// `Ok(true)` done, `Ok(false)` lost a race: retry.
fn retry_unless(done: bool) -> Option<()> {
    done.then_some(())
}

macro_rules! run_families {
    ($m:ident, $tag:literal) => {{
        use $m as f;
        let n = slots();

        // add, retrying aborts
        let paths = Paths::default();
        let mut counters = vec![0usize; n * STRIDE];
        let c = Addr::of(&mut counters);
        let done = counter_case(
            &paths,
            // SAFETY: one slot per possible CPU / concurrency id.
            || unsafe { f::add(c.ptr(), 1) }.map(Some),
            // SAFETY: serialised by the lock; slot 0 exists.
            || unsafe { *c.ptr::<usize>() += 1 },
        );
        assert_eq!(counters.iter().sum::<usize>(), done, "add");
        paths.report(concat!($tag, " add"));

        // add, aborts returned
        let paths = Paths::default();
        let aborts = AtomicUsize::new(0);
        let mut counters = vec![0usize; n * STRIDE];
        let c = Addr::of(&mut counters);
        let done = counter_case(
            &paths,
            // SAFETY: as above.
            || match unsafe { f::add_or_abort(c.ptr(), 1) } {
                Ok(()) => Ok(Some(())),
                Err(AddError::Aborted) => {
                    aborts.fetch_add(1, Ordering::Relaxed);
                    Ok(None)
                }
                Err(AddError::Unavailable(u)) => {
                    assert!(
                        matches!(u.reason(), rseq_abi::thread::Reason::Refused(_)),
                        "{u}"
                    );
                    Err(u)
                }
            },
            // SAFETY: serialised by the lock.
            || unsafe { *c.ptr::<usize>() += 1 },
        );
        assert_eq!(counters.iter().sum::<usize>(), done, "add_or_abort");
        paths.report(concat!($tag, " add_or_abort"));
        println!(
            "FAMILY {} aborts_returned={}",
            $tag,
            aborts.load(Ordering::Relaxed)
        );

        // compare-and-store
        let paths = Paths::default();
        let mut words = vec![0usize; n * STRIDE];
        let w = Addr::of(&mut words);
        let done = counter_case(
            &paths,
            // SAFETY: one slot per index.
            || unsafe { f::cas_inc(w.ptr()) }.map(retry_unless),
            // SAFETY: serialised by the lock.
            || unsafe { *w.ptr::<usize>() += 1 },
        );
        assert_eq!(words.iter().sum::<usize>(), done, "cas_inc");
        paths.report(concat!($tag, " cas"));

        // list push and pop: every node moves between lists many times; at the end each
        // node is in exactly one list.
        let paths = Paths::default();
        let mut nodes: Vec<Node> = (0..ITEMS).map(|i| Node { id: i + 1, next: 0 }).collect();
        let mut heads = vec![0usize; n * STRIDE];
        // Initial lists: nodes spread over every slot.
        for (i, node) in nodes.iter_mut().enumerate() {
            let head = &mut heads[(i % n) * STRIDE];
            node.next = *head;
            *head = node as *mut Node as usize;
        }
        let h = Addr::of(&mut heads);
        // Locked pushes go to slot 0's list.
        let push_locked = |node: *mut Node| {
            // SAFETY: called under FALLBACK; `node` is held by the caller only.
            unsafe {
                (*node).next = *h.ptr::<usize>();
                *h.ptr::<usize>() = node as usize;
            }
        };
        let push = |node: *mut Node| {
            paths.op(
                // SAFETY: `node` is held by this thread only.
                || unsafe { f::push(h.ptr(), node) }.map(retry_unless),
                || push_locked(node),
            )
        };
        run_counted(|_| {
            let mut held: Vec<usize> = Vec::new();
            let count = repeat(|i| {
                if i % 2 == 0 || held.is_empty() {
                    let popped = paths.op(
                        || {
                            let mut out = 0usize;
                            // SAFETY: lists hold valid nodes; `out` is a local.
                            unsafe { f::pop(h.ptr(), core::mem::offset_of!(Node, next), &mut out) }
                                .map(|found| Some(found.then_some(out)))
                        },
                        // SAFETY: serialised by the lock; lists hold valid nodes.
                        || unsafe {
                            let head = h.ptr::<usize>();
                            (0..n)
                                .map(|slot| head.add(slot * STRIDE))
                                .find(|&head| *head != 0)
                                .map(|head| {
                                    let node = *head as *mut Node;
                                    *head = (*node).next;
                                    node as usize
                                })
                        },
                    );
                    held.extend(popped);
                } else {
                    push(held.pop().unwrap() as *mut Node);
                }
            });
            // Give back what is held.
            held.into_iter().for_each(|node| push(node as *mut Node));
            count
        });
        let mut seen = vec![0u32; ITEMS + 1];
        for slot in 0..n {
            let mut p = heads[slot * STRIDE];
            while p != 0 {
                // SAFETY: lists hold nodes of `nodes`.
                let node = unsafe { &*(p as *const Node) };
                seen[node.id] += 1;
                p = node.next;
            }
        }
        assert!(
            seen[1..].iter().all(|&c| c == 1),
            "list: every node exactly once"
        );
        paths.report(concat!($tag, " list"));

        // pointer chase then add
        let paths = Paths::default();
        let mut targets = vec![0usize; n * STRIDE];
        let mut tables = vec![0usize; n * STRIDE];
        for s in 0..n {
            tables[s * STRIDE + 1] = &mut targets[s * STRIDE] as *mut usize as usize;
        }
        let t = Addr::of(&mut tables);
        let tg = Addr::of(&mut targets);
        let done = counter_case(
            &paths,
            // SAFETY: every slot points to a counter.
            || unsafe { f::chase_add(t.ptr(), 1) }.map(Some),
            // SAFETY: serialised by the lock.
            || unsafe { *tg.ptr::<usize>() += 1 },
        );
        assert_eq!(targets.iter().sum::<usize>(), done, "chase_add");
        paths.report(concat!($tag, " chase"));

        // word buffer and copy buffer: pushes (relaxed and release) and pops; each item
        // moves between buffers many times and ends in exactly one.
        let paths = Paths::default();
        buffer_case(
            &paths,
            |i| i,
            |x| x,
            // SAFETY: offsets and arrays sized for every index.
            |o, a| unsafe { f::buf_pop(o, a) }.map(Pop::step),
            |release, o, a, x| {
                let r = if release {
                    // SAFETY: offsets and arrays sized for every index.
                    unsafe { f::buf_push_release(o, a, x) }
                } else {
                    // SAFETY: as above.
                    unsafe { f::buf_push(o, a, x) }
                };
                r.map(Push::step)
            },
        );
        paths.report(concat!($tag, " buffer"));

        let paths = Paths::default();
        buffer_case(
            &paths,
            |i| [i, !i],
            |[x, y]| {
                assert_eq!(y, !x, "torn copy");
                x
            },
            |o, a| {
                let mut out = [0usize; 2];
                // SAFETY: sized for every index; `out` is a local.
                unsafe { f::mc_pop(o, a, &mut out, 16) }
                    .map(|p| p.step().map(|item| item.map(|_| out)))
            },
            |release, o, a, x| {
                let r = if release {
                    // SAFETY: offsets and arrays sized for every index; `x` outlives the call.
                    unsafe { f::mc_push_release(o, a, &x) }
                } else {
                    // SAFETY: as above.
                    unsafe { f::mc_push(o, a, &x) }
                };
                r.map(Push::step)
            },
        );
        paths.report(concat!($tag, " memcpy"));

        // NonNull add, its aborts counted in a static
        let paths = Paths::default();
        let mut counters = vec![0usize; n * STRIDE];
        let c = Addr::of(&mut counters);
        let done = AtomicUsize::new(0);
        let before = f::ABORTS.load(Ordering::Relaxed);
        on_threads(|_| {
            let count = repeat(|_| {
                let p = NonNull::new(c.ptr::<usize>()).unwrap();
                // SAFETY: one slot per possible CPU / concurrency id.
                match unsafe { f::nonnull_add(p, 2) } {
                    Ok(()) => paths.took(true),
                    Err(_) => {
                        let _g = FALLBACK.lock().unwrap();
                        // SAFETY: serialised by the lock; slot 0 exists.
                        unsafe { *c.ptr::<usize>() += 2 };
                        paths.took(false);
                    }
                }
            });
            done.fetch_add(count, Ordering::Relaxed);
        });
        assert_eq!(
            counters.iter().sum::<usize>(),
            2 * done.load(Ordering::Relaxed),
            "nonnull_add"
        );
        println!(
            "FAMILY {} rseq={} fallback={} aborts_counted={}",
            concat!($tag, " nonnull_add"),
            paths.rseq.load(Ordering::Relaxed),
            paths.fallback.load(Ordering::Relaxed),
            f::ABORTS.load(Ordering::Relaxed) - before
        );

        // subtract one through 64-bit literals
        let paths = Paths::default();
        let mut counters = vec![0usize; n * STRIDE];
        let c = Addr::of(&mut counters);
        let done = AtomicUsize::new(0);
        on_threads(|_| {
            let count = repeat(|_| {
                // SAFETY: one slot per possible CPU / concurrency id.
                match unsafe { f::sub_one(c.ptr()) } {
                    Ok(true) => paths.took(true),
                    Ok(false) => panic!("no word reaches 1 << 63"),
                    Err(_) => {
                        let _g = FALLBACK.lock().unwrap();
                        // SAFETY: serialised by the lock; slot 0 exists.
                        unsafe { *c.ptr::<usize>() = (*c.ptr::<usize>()).wrapping_sub(1) };
                        paths.took(false);
                    }
                }
            });
            done.fetch_add(count, Ordering::Relaxed);
        });
        assert_eq!(
            counters.iter().fold(0usize, |a, &b| a.wrapping_add(b)),
            done.load(Ordering::Relaxed).wrapping_neg(),
            "sub_one"
        );
        paths.report(concat!($tag, " sub_one"));

        // copy-in push from an offset source: every item exactly once, never the record's
        // first word
        let paths = Paths::default();
        let mut offs = vec![0usize; n * STRIDE];
        let mut array = vec![[0usize; 2]; n * CAP];
        let (o, a) = (Addr::of(&mut offs), Addr::of(&mut array));
        let pushed: Mutex<Vec<usize>> = Mutex::new(Vec::new());
        on_threads(|t| {
            let mut mine = Vec::new();
            let mut full = false;
            repeat(|i| {
                if full {
                    return;
                }
                let x = (t << 32) | (i + 1);
                let record = [usize::MAX, x, !x];
                loop {
                    // SAFETY: sized for every index; `record` outlives the call.
                    match unsafe { f::mc_push_tail(o.ptr(), a.ptr(), &record) } {
                        Ok(Push::Done) => {
                            mine.push(x);
                            paths.took(true);
                        }
                        Ok(Push::Raced) => continue,
                        Ok(Push::Full) => full = true,
                        Err(_) => {
                            let _g = FALLBACK.lock().unwrap();
                            // SAFETY: serialised by the lock; index 0's buffer.
                            unsafe {
                                let offp = o.ptr::<usize>();
                                if *offp < CAP {
                                    *a.ptr::<[usize; 2]>().add(*offp) = [x, !x];
                                    *offp += 1;
                                    mine.push(x);
                                } else {
                                    full = true;
                                }
                            }
                            paths.took(false);
                        }
                    }
                    break;
                }
            });
            pushed.lock().unwrap().extend(mine);
        });
        let mut stored = Vec::new();
        for s in 0..n {
            for i in 0..offs[s * STRIDE] {
                let [x, y] = array[s * CAP + i];
                assert_eq!(y, !x, "torn or misplaced copy");
                stored.push(x);
            }
        }
        let mut pushed = pushed.into_inner().unwrap();
        pushed.sort_unstable();
        stored.sort_unstable();
        assert_eq!(
            pushed, stored,
            "copy from an offset: every item exactly once"
        );
        paths.report(concat!($tag, " memcpy_src_offset"));
    }};
}

/// One counter family on the threads of [`on_threads`]: each operation adds 1 with
/// `section` (retried while it reports a lost race) or with `fallback` under the lock;
/// returns how many operations completed.
fn counter_case(
    paths: &Paths,
    section: impl Fn() -> Result<Option<()>, Unavailable> + Sync,
    fallback: impl Fn() + Sync,
) -> usize {
    run_counted(|_| repeat(|_| paths.op(&section, &fallback)))
}

/// Items per buffer test (and nodes per list test).
const ITEMS: usize = THREADS * 64;

/// One buffer family on `THREADS` threads: per-index buffers (`CAP` items each, offsets
/// `STRIDE` words apart) start with `ITEMS` items spread over every index; threads
/// alternately `pop` and `push(release, ...)` (release on odd threads), the fallback takes
/// from the first non-empty buffer and gives to index 0's, and at the end every item
/// (`make(1..=ITEMS)`, identified by `id`) is in exactly one buffer.
fn buffer_case<T: Copy + Default + Send>(
    paths: &Paths,
    make: impl Fn(usize) -> T,
    id: impl Fn(T) -> usize + Sync,
    pop: impl Fn(*mut usize, *mut T) -> Result<Option<Option<T>>, Unavailable> + Sync,
    push: impl Fn(bool, *mut usize, *mut T, T) -> Result<Option<()>, Unavailable> + Sync,
) {
    let n = slots();
    let mut offs = vec![0usize; n * STRIDE];
    let mut array = vec![T::default(); n * CAP];
    for i in 0..ITEMS {
        let s = i % n;
        array[s * CAP + offs[s * STRIDE]] = make(i + 1);
        offs[s * STRIDE] += 1;
    }
    let (o, a) = (Addr::of(&mut offs), Addr::of(&mut array));
    let pop_locked = || -> Option<T> {
        // SAFETY: called under FALLBACK; offsets and arrays sized for every index.
        unsafe {
            let off = o.ptr::<usize>();
            (0..n).find(|&s| *off.add(s * STRIDE) > 0).map(|s| {
                let offp = off.add(s * STRIDE);
                *offp -= 1;
                *a.ptr::<T>().add(s * CAP + *offp)
            })
        }
    };
    let push_locked = |x: T| {
        // SAFETY: called under FALLBACK: index 0's buffer, which has room for every item.
        unsafe {
            let offp = o.ptr::<usize>();
            *a.ptr::<T>().add(*offp) = x;
            *offp += 1;
        }
    };
    run_counted(|t| {
        let push = |x: T| paths.op(|| push(t % 2 == 1, o.ptr(), a.ptr(), x), || push_locked(x));
        let mut held: Vec<T> = Vec::new();
        let count = repeat(|i| {
            if i % 2 == 0 || held.is_empty() {
                if let Some(x) = paths.op(|| pop(o.ptr(), a.ptr()), pop_locked) {
                    id(x);
                    held.push(x);
                }
            } else {
                push(held.pop().unwrap());
            }
        });
        // Give back what is held.
        held.into_iter().for_each(push);
        count
    });
    let mut seen = vec![0u32; ITEMS + 1];
    for s in 0..n {
        for &x in &array[s * CAP..s * CAP + offs[s * STRIDE]] {
            seen[id(x)] += 1;
        }
    }
    assert!(
        seen[1..].iter().all(|&c| c == 1),
        "buffer: every item exactly once"
    );
}

/// Deterministic early exits (single thread): the exit's value comes back and memory is
/// untouched.
fn exits(rseq: bool) {
    let n = slots();
    let mut words = vec![7usize; n * STRIDE];
    let w = Addr::of(&mut words);
    for _ in 0..100 {
        // SAFETY: one slot per index.
        match unsafe { by_cpu::cas(w.ptr(), 8, 9) } {
            Ok(r) => assert!(rseq && !r, "mismatch must exit"),
            Err(_) => assert!(!rseq),
        }
        // SAFETY: as above.
        match unsafe { by_cid::cas(w.ptr(), 8, 9) } {
            Ok(r) => assert!(rseq && !r, "mismatch must exit"),
            Err(_) => assert!(!rseq),
        }
    }
    assert!(words.iter().all(|&x| x == 7));
    // A word equal to the literal `1 << 63` takes the exit.
    let mut high = vec![0x8000_0000_0000_0000usize; n * STRIDE];
    for _ in 0..100 {
        // SAFETY: one slot per index.
        match unsafe { by_cpu::sub_one(Addr::of(&mut high).ptr()) } {
            Ok(r) => assert!(rseq && !r, "1 << 63 must exit"),
            Err(_) => assert!(!rseq),
        }
    }
    assert!(high.iter().all(|&x| x == 1 << 63));
    let mut out = 5usize;
    let mut heads = vec![0usize; n * STRIDE];
    // SAFETY: empty lists.
    match unsafe { by_cpu::pop(Addr::of(&mut heads).ptr(), 8, &mut out) } {
        Ok(r) => assert!(rseq && !r, "empty list must exit"),
        Err(_) => assert!(!rseq),
    }
    assert_eq!(out, 5);
    // A matching expected value commits (barring an abort, retried here).
    if rseq {
        let mut ok = false;
        for _ in 0..100 {
            // SAFETY: one slot per index.
            if unsafe { by_cpu::cas(w.ptr(), 7, 9) } == Ok(true) {
                ok = true;
                break;
            }
        }
        assert!(ok, "matching compare must commit");
        assert_eq!(words.iter().filter(|&&x| x == 9).count(), 1);
    }
}

#[test]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    let registrar = rseq_abi::thread::registrar();
    let rseq = match scenario.as_str() {
        "glibc" => {
            assert!(matches!(registrar, Registrar::Glibc(_)), "{registrar:?}");
            true
        }
        "own" => {
            assert!(matches!(registrar, Registrar::Crate), "{registrar:?}");
            true
        }
        "refused" => {
            assert!(matches!(registrar, Registrar::Nobody(_)), "{registrar:?}");
            false
        }
        other => panic!("unknown scenario {other}"),
    };
    handle_sigusr1();
    exits(rseq);
    run_families!(by_cpu, "cpu_id");
    run_families!(by_cid, "mm_cid");
    println!("CHILD DONE");
}

/// Runs the child and checks per family which path the operations took.
fn scenario(name: &str, env: ChildEnv, rseq: bool) {
    let out = run_test_in_child("child", SCENARIO, name, &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("CHILD DONE"),
        "child failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    let mut families = 0;
    for line in stdout
        .lines()
        .filter_map(|l| l.find("FAMILY ").map(|at| &l[at..]))
    {
        families += 1;
        let count = |key: &str| -> usize {
            let field = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .expect("count in report");
            field.parse().expect("number")
        };
        if line.contains("aborts_returned=") {
            let aborts = count("aborts_returned=");
            // Own registration: each new thread's first section finds the area not yet
            // registered (cpu_id -1), aborts, registers it and returns the abort, so at
            // least one abort per thread. Refused: the abort path reports `Unavailable`
            // instead. glibc: aborts only from preemption, migration and signals (likely
            // with the signals sent, not certain on a loaded machine).
            match name {
                "own" => assert!(aborts >= THREADS, "{line}"),
                "refused" => assert_eq!(aborts, 0, "{line}"),
                _ => {}
            }
            println!("{name}: {line}");
            continue;
        }
        if line.contains("nonnull_add") {
            let aborts = count("aborts_counted=");
            // Own registration: each new thread's first `cpu_id` section aborts on the
            // unregistered area, registers it and counts the abort. Refused: no abort of a
            // live area, nothing counted.
            match name {
                "own" if line.contains("cpu_id") => assert!(aborts >= THREADS, "{line}"),
                "refused" => assert_eq!(aborts, 0, "{line}"),
                _ => {}
            }
            println!("{name}: {line}");
        }
        let (r, f) = (count("rseq="), count("fallback="));
        if rseq {
            assert!(r > 0 && f == 0, "{line}");
        } else {
            assert!(r == 0 && f > 0, "{line}");
        }
    }
    assert_eq!(families, 22, "{stdout}");
}

#[test]
fn families_under_glibc_registration() {
    scenario("glibc", ChildEnv::default(), true);
}

#[test]
fn families_under_own_registration() {
    let env = ChildEnv {
        vars: vec![("GLIBC_TUNABLES".into(), "glibc.pthread.rseq=0".into())],
        refuse_rseq: None,
    };
    scenario("own", env, true);
}

#[test]
fn families_with_rseq_refused() {
    let env = ChildEnv {
        vars: vec![("GLIBC_TUNABLES".into(), "glibc.pthread.rseq=0".into())],
        refuse_rseq: Some(libc::ENOSYS),
    };
    scenario("refused", env, false);
}
