//! [`PerCpuStack`]: an intrusive LIFO list per CPU (librseq's per-CPU list).
//!
//! # Algorithm
//!
//! Each slot holds the address of its top node (0 when empty); each node embeds a
//! [`StackLink`] holding the address of the node below it.
//!
//! *Push* reads the index `i` and the current top `h` of slot `i`, writes `h` into the
//! new node's link (the node is still private), and runs a section bound to `i` that
//! loads the top again, leaves early if it is no longer `h`, and commits `top = node`
//! (librseq's `rseq_load_cbne_store__ptr`). An early exit or an abort tries again.
//!
//! *Pop* runs a section bound to `i` that loads the top `h`, leaves early if it is 0
//! (empty), stores `h` to the caller's output word (speculatively: an abort may leave it
//! behind, but nobody reads it unless the section commits), loads `h.next`, and commits
//! `top = h.next` (librseq's `rseq_load_cbeq_store_add_load_store__ptr`). Because
//! nothing else runs on CPU `i` between the load of `h` and the commit, the classic ABA
//! problem of lock-free stacks (`h` popped, freed and pushed again between the load and a
//! compare-and-swap) cannot happen: there is no compare-and-swap, and any interleaving
//! aborts the section.
//!
//! When its own slot is empty, `pop` also takes from the shared list; that list is the
//! fallback of threads on which rseq is unavailable (push and pop under an atomic spin
//! lock). Nodes stay in the slot they were pushed to until popped there (or drained with
//! [`PerCpuStack::pop_from`]): a thread on another CPU does not steal them.
#![allow(unsafe_code)]

use super::attempt::{retry, Attempt};
use super::shared::SharedSlot;
use super::{CpuId, IndexKind, MmCid, PerCpu, Slot};
use crate::rseq_critical;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The link a [`PerCpuStack`] node embeds: the address of the node below it.
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct StackLink {
    next: AtomicUsize,
}

impl StackLink {
    /// An unlinked link.
    pub const fn new() -> Self {
        StackLink {
            next: AtomicUsize::new(0),
        }
    }
}

/// A type that can be a node of a [`PerCpuStack`]: it embeds a [`StackLink`].
///
/// # Safety
///
/// `LINK_OFFSET` must be the byte offset of a `StackLink` field of `Self` (use
/// `core::mem::offset_of!`), and that field must be used by no other stack.
pub unsafe trait StackNode {
    /// Byte offset of the [`StackLink`] inside `Self`.
    const LINK_OFFSET: usize;
}

/// Defines the push and pop sections for one index kind.
macro_rules! stack_sections {
    ($push:ident, $pop:ident, $index:ident) => {
        /// `node.next = top; if top unchanged { commit top = node }`, on this index's slot.
        #[rseq_critical(on_abort = return Err(Attempt::Aborted))]
        unsafe fn $push(
            tops: &PerCpu<AtomicUsize>,
            node: usize,
            link: &StackLink,
        ) -> Result<usize, Attempt> {
            let i = $index();
            // An index past the last slot (see `PerCpu`) takes the fallback path.
            let Some(top) = tops.get(i) else {
                return Err(Attempt::Fallback);
            };
            let expect = top.load(Ordering::Relaxed);
            // The node is not linked anywhere yet: only this thread sees its link.
            link.next.store(expect, Ordering::Relaxed);
            let top = top.as_ptr();
            let current = load(top);
            if current != expect {
                return Err(Attempt::Changed);
            }
            commit(top, node);
            Ok(i)
        }

        /// `h = top; if h == 0 exit; *out = h; commit top = h.next`, on this index's slot.
        #[rseq_critical(on_abort = return Err(Attempt::Aborted))]
        unsafe fn $pop(
            tops: &PerCpu<AtomicUsize>,
            next_offset: usize,
            #[speculative] out: *mut usize,
        ) -> Result<usize, Attempt> {
            let i = $index();
            let Some(top) = tops.get(i) else {
                return Err(Attempt::Fallback);
            };
            let top = top.as_ptr();
            let head = load(top);
            if head == 0 {
                return Err(Attempt::Empty);
            }
            store(out, head);
            let next = load(head.byte_add(next_offset));
            commit(top, next);
            Ok(i)
        }
    };
}

stack_sections!(push_cpu_id, pop_cpu_id, cpu_id);
stack_sections!(push_mm_cid, pop_mm_cid, mm_cid);

/// An intrusive stack per CPU: `push` and `pop` are per-CPU critical sections on the
/// calling CPU's list.
///
/// The stack does not own its nodes: the caller keeps each pushed node alive and unmoved
/// until it is popped again.
///
/// ```
/// use core::ptr::NonNull;
/// use rseq_percpu::{PerCpuStack, Slot, StackLink, StackNode};
///
/// struct Job {
///     id: u32,
///     link: StackLink,
/// }
/// // SAFETY: `link` is a `StackLink` field of `Job`, used by this one stack.
/// unsafe impl StackNode for Job {
///     const LINK_OFFSET: usize = core::mem::offset_of!(Job, link);
/// }
///
/// let jobs: Vec<Job> = (0..3).map(|id| Job { id, link: StackLink::new() }).collect();
/// let mut stack = PerCpuStack::<Job>::new();
/// for job in &jobs {
///     // SAFETY: `jobs` outlives the stack's use and is not moved; each node pushed once.
///     unsafe { stack.push(NonNull::from(job)) };
/// }
/// // Pops come from the calling CPU's list; drain every slot to see them all.
/// let mut ids = Vec::new();
/// for slot in (0..stack.slots()).map(Slot::PerCpu).chain([Slot::Shared]) {
///     while let Some(job) = stack.pop_from(slot) {
///         // SAFETY: every node in the stack is an element of `jobs`.
///         ids.push(unsafe { job.as_ref() }.id);
///     }
/// }
/// ids.sort();
/// assert_eq!(ids, [0, 1, 2]);
/// ```
pub struct PerCpuStack<T: StackNode, I: IndexKind = CpuId> {
    tops: PerCpu<AtomicUsize>,
    shared: SharedSlot<usize>,
    /// Nodes in the shared list (read without its lock to skip it when empty).
    shared_len: AtomicUsize,
    nodes: PhantomData<(NonNull<T>, I)>,
}

// SAFETY: the stack holds addresses of `T`s that `push` hands over and `pop` hands back,
// possibly to another thread: that needs `T: Send`. Slots are changed only by critical
// sections of their index or under the shared lock.
unsafe impl<T: StackNode + Send, I: IndexKind> Sync for PerCpuStack<T, I> {}
// SAFETY: as above.
unsafe impl<T: StackNode + Send, I: IndexKind> Send for PerCpuStack<T, I> {}

impl<T: StackNode> PerCpuStack<T, CpuId> {
    /// Empty stacks indexed by CPU number.
    pub fn new() -> Self {
        Self::with_index(CpuId)
    }
}

impl<T: StackNode> Default for PerCpuStack<T, CpuId> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: StackNode> PerCpuStack<T, MmCid> {
    /// Empty stacks indexed by concurrency id (`mm_cid`).
    pub fn new_mm_cid() -> Self {
        Self::with_index(MmCid)
    }
}

impl<T: StackNode, I: IndexKind> PerCpuStack<T, I> {
    /// Empty stacks indexed by `I`.
    pub fn with_index(index: I) -> Self {
        Self::__with_slots(index, super::storage::slot_count())
    }

    /// Empty stacks with `slots` per-CPU lists (at least 1) instead of one per possible
    /// CPU: indices past the last list take the shared list. For tests only.
    #[doc(hidden)]
    pub fn __with_slots(_index: I, slots: usize) -> Self {
        PerCpuStack {
            tops: PerCpu::with_len(slots, |_| AtomicUsize::new(0)),
            shared: SharedSlot::new(0),
            shared_len: AtomicUsize::new(0),
            nodes: PhantomData,
        }
    }

    fn link(node: NonNull<T>) -> NonNull<StackLink> {
        // SAFETY: `StackNode` guarantees a `StackLink` at `LINK_OFFSET` inside the node.
        unsafe { node.byte_add(T::LINK_OFFSET).cast() }
    }

    /// Pushes `node` on the calling CPU's list (on the shared list when rseq is unavailable
    /// on this thread) and returns the slot it went to.
    ///
    /// # Safety
    ///
    /// `node` must be valid, in no stack, and stay valid and unmoved until it is popped.
    #[inline]
    pub unsafe fn push(&self, node: NonNull<T>) -> Slot {
        // SAFETY: the caller lends us the node, so its link is ours to write.
        let link = unsafe { Self::link(node).as_ref() };
        let addr = node.as_ptr() as usize;
        // One attempt inline (the fast path); retries and the fallback out of line.
        // SAFETY: `link` is the lent node's, `addr` its address.
        match unsafe { self.try_push(addr, link) } {
            Ok(i) => Slot::PerCpu(i),
            // SAFETY: as above.
            Err(first) => unsafe { self.push_slow(first, addr, link) },
        }
    }

    /// One attempt at the push section of this thread's index.
    ///
    /// # Safety
    ///
    /// `link` is the link of the node at `addr`, lent by `push`'s caller.
    #[inline(always)]
    unsafe fn try_push(&self, addr: usize, link: &StackLink) -> Result<usize, Attempt> {
        // SAFETY: `tops` covers every index the kernel reports; tops are written only by
        // these sections; `link` is the private node's (the caller's contract).
        unsafe {
            if I::MM_CID {
                push_mm_cid(&self.tops, addr, link)
            } else {
                push_cpu_id(&self.tops, addr, link)
            }
        }
    }

    /// After a first attempt did not commit: retry, or fall back to the shared list.
    ///
    /// # Safety
    ///
    /// As [`Self::try_push`].
    #[cold]
    #[inline(never)]
    unsafe fn push_slow(&self, first: Attempt, addr: usize, link: &StackLink) -> Slot {
        let mut first = Some(first);
        // The first attempt's outcome is replayed into the shared loop, then it retries.
        let attempt = retry(
            || {
                first.take().map_or_else(
                    // SAFETY: the caller's contract, passed on.
                    || unsafe { self.try_push(addr, link) },
                    Err,
                )
            },
            |outcome| outcome != Attempt::Fallback,
        );
        match attempt {
            Ok(i) => Slot::PerCpu(i),
            // Only the fallback ends the loop without a commit.
            Err(_) => self.push_shared(addr, link),
        }
    }

    #[cold]
    #[inline(never)]
    fn push_shared(&self, addr: usize, link: &StackLink) -> Slot {
        let mut top = self.shared.lock();
        link.next.store(*top, Ordering::Relaxed);
        *top = addr;
        self.shared_len.fetch_add(1, Ordering::Relaxed);
        Slot::Shared
    }

    /// Pops the top node of the calling CPU's list; when that list is empty (or rseq is
    /// unavailable on this thread), the top node of the shared list. `None` when both are
    /// empty. Returns the node and the slot it came from.
    #[inline]
    pub fn pop(&self) -> Option<(NonNull<T>, Slot)> {
        let mut out = 0usize;
        // One attempt inline (the fast path); retries, the empty case and the fallback out
        // of line.
        match self.try_pop(&mut out) {
            Ok(i) => NonNull::new(out as *mut T).map(|node| (node, Slot::PerCpu(i))),
            Err(first) => self.pop_slow(first),
        }
    }

    /// One attempt at the pop section of this thread's index; the node goes to `out`.
    #[inline(always)]
    fn try_pop(&self, out: &mut usize) -> Result<usize, Attempt> {
        // SAFETY: `tops` covers every index the kernel reports; every non-zero top and
        // link is the address of a pushed node, valid until popped (push's contract), and
        // its link is at `LINK_OFFSET`. `out` is a local word.
        unsafe {
            if I::MM_CID {
                pop_mm_cid(&self.tops, T::LINK_OFFSET, out)
            } else {
                pop_cpu_id(&self.tops, T::LINK_OFFSET, out)
            }
        }
    }

    /// After a first attempt did not commit: retry, or pop from the shared list (this
    /// CPU's list is empty, or rseq is unavailable on this thread).
    #[cold]
    #[inline(never)]
    fn pop_slow(&self, first: Attempt) -> Option<(NonNull<T>, Slot)> {
        let mut out = 0usize;
        let mut first = Some(first);
        // The first attempt's outcome is replayed into the shared loop, then it retries.
        let attempt = retry(
            || first.take().map_or_else(|| self.try_pop(&mut out), Err),
            |outcome| matches!(outcome, Attempt::Full | Attempt::Busy),
        );
        match attempt {
            Ok(i) => NonNull::new(out as *mut T).map(|node| (node, Slot::PerCpu(i))),
            // Empty, or rseq unavailable on this thread.
            Err(_) => self.pop_shared(),
        }
    }

    fn pop_shared(&self) -> Option<(NonNull<T>, Slot)> {
        if self.shared_len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut top = self.shared.lock();
        let node = NonNull::new(*top as *mut T)?;
        // SAFETY: nodes in the list are valid until popped (push's contract).
        *top = unsafe { Self::link(node).as_ref() }
            .next
            .load(Ordering::Relaxed);
        self.shared_len.fetch_sub(1, Ordering::Relaxed);
        Some((node, Slot::Shared))
    }

    /// Pops the top node of one given slot, exclusively (no critical section: for
    /// draining, or moving nodes between slots while nothing else uses the stack).
    pub fn pop_from(&mut self, slot: Slot) -> Option<NonNull<T>> {
        let top = match slot {
            Slot::PerCpu(i) => self.tops.get_mut(i)?.get_mut(),
            Slot::Shared => self.shared.get_mut(),
        };
        let node = NonNull::new(*top as *mut T)?;
        // SAFETY: nodes in the list are valid until popped (push's contract).
        *top = unsafe { Self::link(node).as_ref() }
            .next
            .load(Ordering::Relaxed);
        if slot == Slot::Shared {
            *self.shared_len.get_mut() -= 1;
        }
        Some(node)
    }

    /// Number of per-CPU lists (the number of possible CPUs).
    pub fn slots(&self) -> usize {
        self.tops.len()
    }

    /// Whether every list is empty (exact when no push or pop runs concurrently).
    pub fn is_empty(&self) -> bool {
        self.shared_len.load(Ordering::Relaxed) == 0
            && self.tops.iter().all(|t| t.load(Ordering::Relaxed) == 0)
    }
}

impl<T: StackNode, I: IndexKind> fmt::Debug for PerCpuStack<T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuStack")
            .field("slots", &self.tops.len())
            .field("shared_len", &self.shared_len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::{PerCpuStack, StackLink, StackNode};
    use crate::testing::pin_here;
    use core::ptr::NonNull;

    struct Node {
        value: u32,
        link: StackLink,
    }

    // SAFETY: `link` is the `StackLink` field of `Node`, used by one stack at a time.
    unsafe impl StackNode for Node {
        const LINK_OFFSET: usize = core::mem::offset_of!(Node, link);
    }

    #[test]
    fn one_cpu_is_last_in_first_out() {
        std::thread::spawn(|| {
            pin_here();
            let nodes: Vec<Node> = (0..5)
                .map(|value| Node {
                    value,
                    link: StackLink::new(),
                })
                .collect();
            let stack = PerCpuStack::<Node>::new();
            for node in &nodes {
                // SAFETY: `nodes` outlives the stack's use and each node is pushed once.
                unsafe { stack.push(NonNull::from(node)) };
            }
            let popped: Vec<u32> = std::iter::from_fn(|| stack.pop())
                // SAFETY: every node popped is an element of `nodes`.
                .map(|(node, _)| unsafe { node.as_ref() }.value)
                .collect();
            assert_eq!(popped, [4, 3, 2, 1, 0]);
            assert!(stack.is_empty());
        })
        .join()
        .unwrap();
    }
}
