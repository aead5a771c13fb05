//! The cases of the `fastpath` binary (one operation per case, each in its own
//! `#[inline(never)]` function `op_CASE`), shared with the `instructions` benchmark.

/// Every case of `fastpath`: `(case, what one operation does)`.
pub const CASES: &[(&str, &str)] = &[
    ("percpu_counter", "per-CPU counter add(1)"),
    ("atomic_shared", "shared AtomicU64::fetch_add"),
    (
        "atomic_getcpu",
        "sched_getcpu() + per-CPU AtomicU64::fetch_add",
    ),
    ("mutex_counter", "Mutex<u64> lock + increment + unlock"),
    ("percpu_spinlock", "per-CPU spin lock + increment + unlock"),
    (
        "parking_lot_mutex",
        "parking_lot::Mutex<u64> lock + increment + unlock",
    ),
    ("percpu_stack", "per-CPU stack push + pop"),
    ("mutex_vec", "Mutex<Vec<usize>> push + pop"),
    ("segqueue", "crossbeam SegQueue push + pop"),
    ("percpu_ring", "per-CPU ring push + pop"),
    ("arrayqueue_ring", "crossbeam ArrayQueue push + pop"),
    (
        "percpu_memcpy_ring",
        "per-CPU memcpy ring push + pop (64-byte items)",
    ),
    (
        "arrayqueue_memcpy",
        "crossbeam ArrayQueue push + pop (64-byte items)",
    ),
];
