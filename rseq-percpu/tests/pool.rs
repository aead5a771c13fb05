//! Per-CPU memory pools: allocation and free under threads on every CPU (by CPU number and
//! by concurrency id), population measured in `/proc/self/smaps`, robust-mode detection,
//! every copy dropped, `fork()`, and the counter's paths under glibc's registration, the
//! crate's own, and none (seccomp filter), each in a child process.

use rseq_abi::thread::{self, Registrar};
use rseq_percpu::pool::POISON;
use rseq_percpu::{
    CpuId, IndexKind, MmCid, PerCpuPool, PoolCounter, PoolError, PoolOptions, PoolSet, Slot,
};
use rseq_testkit::child::{in_child, Env};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn page() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Every allowed CPU gets a thread pinned to it; each allocates, counts and frees
/// counters in an interleaved pattern; every sum is exact and the pool ends empty.
fn churn<I: IndexKind + Copy>(index: I) {
    let pool = PerCpuPool::with_index(index, PoolOptions::for_type::<u64>().max_cpus(64)).unwrap();
    let cpus = rseq_testkit::allowed_cpus();
    let threads = (cpus.len() * 2).max(4);
    std::thread::scope(|s| {
        for t in 0..threads {
            let pool = &pool;
            let cpu = cpus[t % cpus.len()];
            s.spawn(move || {
                rseq_testkit::pin_current_thread(&[cpu]);
                let mut live: Vec<(PoolCounter<'_, I>, u64)> = Vec::new();
                for round in 0..2000u64 {
                    if round % 3 == 2 && !live.is_empty() {
                        let (counter, expect) = live.swap_remove((round as usize * 7) % live.len());
                        assert_eq!(counter.sum(), expect);
                    } else {
                        let counter = PoolCounter::new(pool).unwrap();
                        assert_eq!(counter.sum(), 0, "a reused item starts at zero");
                        live.push((counter, 0));
                    }
                    for (counter, expect) in &mut live {
                        counter.add(round);
                        *expect += round;
                    }
                }
                for (counter, expect) in &live {
                    assert_eq!(counter.sum(), *expect);
                }
            });
        }
    });
    assert_eq!(pool.allocated(), 0);
}

#[test]
fn churn_on_every_cpu_by_cpu_number() {
    churn(CpuId);
}

#[test]
fn churn_on_every_cpu_by_concurrency_id() {
    churn(MmCid);
}

#[test]
fn a_narrow_mm_cid_pool_falls_back_above_its_width() {
    // One range: concurrency id 0 adds per CPU, every other id takes the shared word.
    let pool = PerCpuPool::with_index(MmCid, PoolOptions::for_type::<u64>().max_cpus(1)).unwrap();
    let counter = PoolCounter::new(&pool).unwrap();
    let per_cpu = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    match counter.add(1) {
                        Slot::PerCpu(i) => {
                            assert_eq!(i, 0);
                            per_cpu.fetch_add(1, Ordering::Relaxed);
                        }
                        Slot::Shared => {}
                    }
                }
            });
        }
    });
    assert_eq!(counter.sum(), 4000);
    assert_eq!(
        counter.get(Slot::PerCpu(0)),
        Some(per_cpu.load(Ordering::Relaxed) as u64)
    );
    assert_eq!(counter.slots(), 1);
}

#[test]
fn layout_is_one_stride_per_cpu() {
    let pool = PerCpuPool::new(PoolOptions::new(24).max_cpus(8)).unwrap();
    assert_eq!(pool.item_size(), 32);
    assert_eq!(pool.stride(), 64 * 1024);
    assert!(pool.cpus() >= 8);
    let a = pool.alloc_with(|cpu| cpu as u64).unwrap();
    let b = pool.alloc_with(|cpu| cpu as u64 * 10).unwrap();
    assert_eq!(b.as_ptr() as usize - a.as_ptr() as usize, 32);
    for cpu in 0..a.cpus() {
        assert_eq!(
            a.cpu_ptr(cpu) as usize,
            a.as_ptr() as usize + cpu * pool.stride()
        );
        assert_eq!(a.get(cpu), Some(&(cpu as u64)));
        assert_eq!(b.get(cpu), Some(&(cpu as u64 * 10)));
    }
    assert_eq!(a.get(a.cpus()), None);
    let (start, len) = pool.reserved();
    assert_eq!(start as usize, a.as_ptr() as usize);
    assert_eq!(len, pool.cpus() * pool.stride());
    // Items fill one stride, then the pool is full.
    let small = PerCpuPool::new(PoolOptions::new(4096).stride(page() * 2)).unwrap();
    let _x = small.alloc_clone(0u8).unwrap();
    let _y = small.alloc_clone(0u8).unwrap();
    assert!(matches!(
        small.alloc_clone(0u8),
        Err(PoolError::Exhausted { capacity: 2 })
    ));
    assert!(matches!(
        pool.alloc_clone([0u8; 40]),
        Err(PoolError::DoesNotFit { size: 40, .. })
    ));
    assert!(matches!(
        PerCpuPool::new(PoolOptions::new(8).stride(3 * page())),
        Err(PoolError::TooLarge)
    ));
    // A counter's type fixes its stride.
    let wide = PerCpuPool::new(PoolOptions::new(8).stride(128 * 1024)).unwrap();
    assert!(matches!(
        PoolCounter::new(&wide),
        Err(PoolError::StrideMismatch {
            stride: 131072,
            expected: 65536
        })
    ));
    let counter = PoolCounter::<CpuId, 17>::with_stride(&wide).unwrap();
    counter.add(4);
    assert_eq!(counter.sum(), 4);
}

#[test]
fn every_copy_is_dropped_once() {
    struct Noted(Arc<AtomicUsize>);
    impl Drop for Noted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = PerCpuPool::new(PoolOptions::for_type::<Noted>().max_cpus(5)).unwrap();
    let item = pool.alloc_with(|_| Noted(drops.clone())).unwrap();
    let cpus = item.cpus();
    drop(item);
    assert_eq!(drops.load(Ordering::Relaxed), cpus);
    assert_eq!(Arc::strong_count(&drops), 1);
    // A panic in the initialiser drops the copies already made and frees the item.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.alloc_with(|cpu| {
            assert!(cpu < 3, "no copy for CPU 3");
            Noted(drops.clone())
        })
    }));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::Relaxed), cpus + 3);
    assert_eq!(pool.allocated(), 0);
}

#[test]
fn draining_and_sums_over_all_cpus() {
    let pool = PerCpuPool::new(PoolOptions::for_type::<Vec<u32>>()).unwrap();
    let mut lists = pool.alloc_with(|cpu| vec![cpu as u32]).unwrap();
    for list in lists.iter_mut() {
        list.push(7);
    }
    let drained: Vec<Vec<u32>> = lists.iter_mut().map(std::mem::take).collect();
    assert_eq!(drained.len(), lists.cpus());
    assert_eq!(drained[0], vec![0, 7]);
    assert!(lists.iter().all(Vec::is_empty));

    let counters = PerCpuPool::new(PoolOptions::for_type::<u64>()).unwrap();
    let mut counter = PoolCounter::new(&counters).unwrap();
    for _ in 0..10 {
        counter.add(3);
    }
    assert_eq!(counter.drain(), 30);
    assert_eq!(counter.sum(), 0);
}

#[test]
fn pool_sets_choose_the_size_class() {
    let set = PoolSet::new(PoolOptions::new(8).max_cpus(4)).unwrap();
    let a = set.alloc_with(|_| 1u8).unwrap();
    let b = set.alloc_with(|_| [1u64; 3]).unwrap();
    #[repr(align(64))]
    struct Aligned(#[allow(dead_code)] u8);
    let c = set.alloc_with(|_| Aligned(0)).unwrap();
    assert_eq!(a.pool().item_size(), 8);
    assert_eq!(b.pool().item_size(), 32);
    assert_eq!(c.pool().item_size(), 64);
    assert_eq!(c.as_ptr() as usize % 64, 0);
    assert_eq!(set.pools().count(), 3);
    assert!(matches!(
        set.alloc_with(|_| [0u8; 128 * 1024]),
        Err(PoolError::DoesNotFit { .. })
    ));
    // SAFETY: zero is a `u64`.
    let z = unsafe { set.alloc_zeroed::<u64>() }.unwrap();
    assert!(z.iter().all(|&v| v == 0));
}

/// Zero population: counters cost the pages written, on the CPUs that wrote them.
#[test]
fn zero_population_costs_only_touched_pages() {
    let page = page();
    // 64 ranges simulate a 64-CPU machine.
    let pool = PerCpuPool::new(PoolOptions::for_type::<u64>().max_cpus(64)).unwrap();
    let counters: Vec<_> = (0..2000)
        .map(|_| PoolCounter::new(&pool).unwrap())
        .collect();
    let untouched = pool.resident_bytes().unwrap();
    assert_eq!(untouched, 0, "allocating zeroed items populates nothing");
    // Sums read every CPU's copy: the zero page, still nothing resident.
    assert!(counters.iter().all(|c| c.sum() == 0));
    assert_eq!(pool.resident_bytes().unwrap(), 0);

    rseq_testkit::pin_current_thread(&[rseq_abi::cpu::current_cpu() as usize]);
    let mut rseq = false;
    for c in &counters {
        rseq |= matches!(c.add(1), Slot::PerCpu(_));
    }
    let touched = pool.resident_bytes().unwrap();
    let one_cpu = (2000 * 8usize).div_ceil(page) * page;
    if rseq {
        assert_eq!(touched, one_cpu, "one CPU's pages for 2000 words");
    } else {
        assert_eq!(touched, 0, "fallback: the shared words are not in the pool");
    }
    // Freeing scrubs the written copies only.
    drop(counters);
    assert_eq!(pool.resident_bytes().unwrap(), touched);

    // A pool whose whole stride is in use (its CPU ranges merged into one mapping) still
    // populates page by page.
    let full = PerCpuPool::new(PoolOptions::for_type::<u64>().max_cpus(64)).unwrap();
    let all: Vec<_> = (0..full.capacity())
        .map(|_| PoolCounter::new(&full).unwrap())
        .collect();
    assert!(all.iter().all(|c| c.sum() == 0));
    let written = all[0].add(1);
    let expect = if matches!(written, Slot::PerCpu(_)) {
        page
    } else {
        0
    };
    assert_eq!(full.resident_bytes().unwrap(), expect);

    // An init value populates every CPU's page.
    let init = PerCpuPool::new(PoolOptions::for_type::<u64>().max_cpus(64)).unwrap();
    let _item = init.alloc_clone(1u64).unwrap();
    assert_eq!(init.resident_bytes().unwrap(), init.cpus() * page);
}

#[test]
fn double_free_is_reported_in_every_mode() {
    for robust in [false, true] {
        let pool = PerCpuPool::new(PoolOptions::for_type::<u64>().robust(robust)).unwrap();
        let ptr = pool.alloc_clone(5u64).unwrap().into_raw();
        // SAFETY: an item of this pool holding a `u64` on every CPU.
        unsafe { pool.free_raw(ptr) }.unwrap();
        // SAFETY: `free_raw` reports the second free instead of freeing.
        let again = unsafe { pool.free_raw(ptr) };
        assert!(
            matches!(again, Err(PoolError::DoubleFree { offset: 0 })),
            "{again:?}"
        );
        let stray = std::ptr::dangling_mut::<u64>();
        // SAFETY: not an item: reported.
        let freed = unsafe { pool.free_raw(stray) };
        assert!(matches!(freed, Err(PoolError::NotAnItem { .. })));
        let inside = ptr.cast::<u8>().wrapping_add(3).cast::<u64>();
        // SAFETY: inside the pool but not at an item boundary: reported.
        let freed = unsafe { pool.free_raw(inside) };
        assert!(matches!(freed, Err(PoolError::NotAnItem { .. })));
    }
}

#[test]
fn robust_mode_poisons_and_catches_use_after_free() {
    let pool = PerCpuPool::new(PoolOptions::for_type::<u64>().robust(true).max_cpus(4)).unwrap();
    assert!(pool.is_robust());
    let item = pool.alloc_clone(7u64).unwrap();
    let ptr = item.as_ptr();
    let cpus = item.cpus();
    drop(item);
    for cpu in 0..cpus {
        let copy = ptr.cast::<u8>().wrapping_add(cpu * pool.stride());
        // SAFETY: the freed item's memory is still mapped; reading it is what robust mode
        // is for.
        assert!((0..8).all(|i| unsafe { copy.add(i).read_volatile() } == POISON));
    }
    pool.verify().unwrap();
    // A write after the free, on CPU 2's copy.
    // SAFETY: mapped memory of the pool (the use after free under test).
    unsafe {
        ptr.cast::<u8>()
            .wrapping_add(2 * pool.stride())
            .write_volatile(0)
    };
    assert!(matches!(
        pool.verify(),
        Err(PoolError::UseAfterFree { offset: 0, cpu: 2 })
    ));
    let reuse = pool.alloc_clone(1u64);
    assert!(
        matches!(reuse, Err(PoolError::UseAfterFree { offset: 0, cpu: 2 })),
        "{reuse:?}"
    );
    // The poisoned item is out of circulation; the next allocation is a fresh one, zeroed.
    let next = pool.alloc_clone(3u64).unwrap();
    assert_eq!(next.as_ptr() as usize, ptr as usize + 8);
    drop(next);
    // SAFETY: zero is a `u64`.
    let again = unsafe { pool.alloc_zeroed::<u64>() }.unwrap();
    assert!(
        again.iter().all(|&v| v == 0),
        "a reused robust item is zeroed"
    );
}

/// A counter adds on its per-CPU words, or on its shared word when rseq is refused.
fn count_in_mode(expect_rseq: bool) {
    for width in [None, Some(64)] {
        let options = PoolOptions::for_type::<u64>();
        let options = match width {
            Some(w) => options.max_cpus(w),
            None => options,
        };
        let by_cpu = PerCpuPool::new(options.clone()).unwrap();
        let by_cid = PerCpuPool::with_index(MmCid, options).unwrap();
        let a = PoolCounter::new(&by_cpu).unwrap();
        let b = PoolCounter::new(&by_cid).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        let slot = a.add(1);
                        assert_eq!(matches!(slot, Slot::PerCpu(_)), expect_rseq, "{slot:?}");
                        let slot = b.add(1);
                        if !expect_rseq {
                            assert_eq!(slot, Slot::Shared);
                        }
                    }
                });
            }
        });
        assert_eq!(a.sum(), 4000);
        assert_eq!(b.sum(), 4000);
        assert_eq!(
            a.get(Slot::Shared),
            Some(if expect_rseq { 0 } else { 4000 })
        );
    }
}

#[test]
fn counts_under_glibc_registration() {
    in_child("counts_under_glibc_registration", Env::GlibcDefault, || {
        assert!(matches!(thread::registrar(), Registrar::Glibc(_)));
        count_in_mode(true);
    });
}

#[test]
fn counts_under_own_registration() {
    in_child("counts_under_own_registration", Env::NoGlibcRseq, || {
        assert_eq!(thread::registrar(), Registrar::Crate);
        count_in_mode(true);
    });
}

#[test]
fn falls_back_when_rseq_is_refused() {
    in_child("falls_back_when_rseq_is_refused", Env::NoGlibcRseq, || {
        rseq_testkit::refuse_rseq(libc::EPERM).expect("install the seccomp filter");
        assert!(matches!(thread::registrar(), Registrar::Nobody(_)));
        count_in_mode(false);
        // The pool itself does not need rseq.
        let pool = PerCpuPool::new(PoolOptions::for_type::<u64>()).unwrap();
        let item = pool.alloc_with(|cpu| cpu as u64).unwrap();
        assert_eq!(item.iter().sum::<u64>(), (0..item.cpus() as u64).sum());
    });
}

/// After `fork()` the child has a private copy-on-write snapshot of every pool: it keeps
/// using, allocating and freeing, and neither process sees the other's writes.
#[test]
fn a_forked_child_uses_its_own_copy_of_the_pool() {
    in_child(
        "a_forked_child_uses_its_own_copy_of_the_pool",
        Env::GlibcDefault,
        || {
            let pool = PerCpuPool::new(PoolOptions::for_type::<u64>()).unwrap();
            let counter = PoolCounter::new(&pool).unwrap();
            counter.add(5);
            // SAFETY: this process runs one thread (the child test runs alone, with
            // `--test-threads=1`), so the forked child's heap and locks are consistent.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let ok = counter.sum() == 5 && {
                    counter.add(10);
                    let other = PoolCounter::new(&pool).unwrap();
                    other.add(1);
                    let fresh_ok = other.sum() == 1 && pool.allocated() == 2;
                    drop(other);
                    fresh_ok && counter.sum() == 15 && pool.allocated() == 1
                };
                // SAFETY: leave the forked child without running the parent's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: `pid` is our child; `status` is writable.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child: {status:#x}"
            );
            assert_eq!(counter.sum(), 5, "the child's adds stay in the child");
            assert_eq!(pool.allocated(), 1);
            counter.add(1);
            assert_eq!(counter.sum(), 6);
        },
    );
}

/// The README's pool example is the one the `pool` module docs run as a doctest.
#[test]
fn the_readme_shows_the_doctested_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("src/pool/example.md")).unwrap();
    let section = readme
        .split_once("## Per-CPU memory pools")
        .expect("README has a pool section")
        .1;
    assert!(
        section.contains(example.trim()),
        "README differs from src/pool/example.md"
    );
}
