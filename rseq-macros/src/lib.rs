//! `#[rseq_critical]`: turns a small Rust DSL into restartable-sequence critical sections.
//!
//! The attribute goes on an `unsafe fn`. Its body reads an index (`cpu_id()` or
//! `mm_cid()`), computes addresses in ordinary Rust (the *prelude*, re-run on every
//! attempt), then states the critical section in a restricted statement language that ends
//! in exactly one commit; an optional tail expression is the value returned once committed.
//! The macro checks the section (every rule is a compile error on the offending tokens) and
//! emits one inline-assembly block per architecture (x86_64, aarch64, riscv64) with its
//! `struct rseq_cs` descriptor, the abort handler preceded by the signature, and the
//! `__rseq_cs_ptr_array` / `__rseq_exit_point_array` entries. `DSL.md`, next to this
//! crate's manifest, is the full specification.
//!
//! ```rust
//! use rseq_percpu::Unavailable;
//! use rseq_macros::rseq_critical;
//!
//! /// Adds `n` to this CPU's word (`counters` has one word per possible CPU).
//! #[rseq_critical]
//! unsafe fn counter_add(counters: *mut usize, n: usize) -> Result<(), Unavailable> {
//!     let cpu = cpu_id();                       // the index, read before the section
//!     let slot = counters.wrapping_add(cpu);    // prelude: any Rust
//!     commit_add(slot, n);                      // the section: here only its commit
//!     Ok(())                                    // returned once committed
//! }
//!
//! let mut counters = vec![0usize; rseq_abi::cpu::possible_cpus()];
//! for _ in 0..100 {
//!     // SAFETY: one word per possible CPU.
//!     if unsafe { counter_add(counters.as_mut_ptr(), 1) }.is_err() {
//!         counters[0] += 1; // rseq unavailable: the fallback path
//!     }
//! }
//! assert_eq!(counters.iter().sum::<usize>(), 100);
//! ```
//!
//! # The language
//!
//! | statement | meaning |
//! | --- | --- |
//! | `let v = load(ADDR);` | read a word |
//! | `if A == B { return VALUE; }` / `if A != B { return VALUE; }` | early exit returning `VALUE` |
//! | `store(ADDR, V);` | speculative store, to memory declared `#[speculative]` |
//! | `memcpy(DST, SRC, 16);` / `memcpy::<MAX>(DST, SRC, len);` | bounded speculative copy |
//! | `commit(ADDR, V);` / `commit_release(ADDR, V);` / `commit_add(ADDR, V);` | the single commit |
//!
//! Operands are inputs (parameters, prelude bindings, the index), loads, or integer literals
//! (any `u64`). Addresses are a name or `name.byte_add(OFF)` (the copy source too) and have
//! pointer types (raw pointers, references, `NonNull`, or `usize`); values stored, committed,
//! added or compared are word-sized integers, never pointers or references (`n as usize` in
//! the prelude converts). Values loaded in the section stay in it: exit values and the tail
//! (required) use inputs only. `#[rseq_critical(on_abort = return VALUE)]` returns aborts to
//! the caller instead of retrying; `abort_counter = PATH` counts them in a `static`
//! `AtomicU64`/`AtomicUsize` from the abort path only. Naming the language (`load`, a
//! commit, `cpu_id`, ...) anywhere outside these forms is a compile error on that token. When a section aborted and the area is
//! not live, the generated code calls `rseq_abi::thread::prepare_current_thread()`; if rseq
//! is unavailable it returns `Err(From::from(Unavailable))`, the caller's cue for its
//! fallback path.
//!
//! # Safety contract
//!
//! The generated function stays `unsafe fn`. Its caller guarantees that every address the
//! section reads or writes is valid and aligned for a word, that per-CPU data is modified
//! only by sections bound to the same index, and that any other thread touching that
//! memory concurrently does so with atomics. The section's plain instructions then count
//! as *relaxed atomic accesses* (`commit_release` a release store; `commit_add` a relaxed
//! load then a relaxed store, made indivisible by the restart, not by the instruction):
//! an `asm!` block must behave like some Rust code, and on x86_64, aarch64 and riscv64 an
//! aligned relaxed atomic load or store compiles to exactly the plain instruction the
//! section uses, which the hardware performs single-copy atomically. A plain Rust access
//! racing with a section is a data race (undefined behaviour), as with any atomic.
//! `DSL.md` (Safety contract of the generated function) gives the details.
//!
//! # One example per family
//!
//! Each is librseq's operation of the same name; `cpu_id()` can be `mm_cid()` in every one.
//!
//! Compare a word and, if equal, commit a store (`rseq_load_cbne_store__ptr`):
//!
//! ```rust
//! # use rseq_percpu::Unavailable;
//! # use rseq_macros::rseq_critical;
//! #[rseq_critical]
//! unsafe fn cmpxchg(words: *mut usize, expect: usize, newv: usize) -> Result<bool, Unavailable> {
//!     let cpu = cpu_id();
//!     let v = words.wrapping_add(cpu);
//!     let old = load(v);
//!     if old != expect {
//!         return Ok(false);
//!     }
//!     commit(v, newv);
//!     Ok(true)
//! }
//! let mut words = vec![7usize; rseq_abi::cpu::possible_cpus()];
//! // SAFETY: one word per possible CPU.
//! if let Ok(done) = unsafe { cmpxchg(words.as_mut_ptr(), 8, 9) } {
//!     assert!(!done); // 7 != 8: the early exit
//! }
//! assert!(words.iter().all(|&w| w == 7));
//! ```
//!
//! Add to a word (`rseq_load_add_store__ptr`), here bound to the concurrency id:
//!
//! ```rust
//! # use rseq_percpu::Unavailable;
//! # use rseq_macros::rseq_critical;
//! #[rseq_critical]
//! unsafe fn add(counters: *mut usize, count: usize) -> Result<(), Unavailable> {
//!     let cid = mm_cid();
//!     let v = counters.wrapping_add(cid);
//!     commit_add(v, count);
//!     Ok(())
//! }
//! let mut counters = vec![0usize; rseq_abi::cpu::possible_cpus()];
//! // SAFETY: mm_cid is below the number of possible CPUs.
//! let ok = unsafe { add(counters.as_mut_ptr(), 5) }.is_ok();
//! assert_eq!(counters.iter().sum::<usize>(), if ok { 5 } else { 0 });
//! ```
//!
//! List pop: load the head, exit if it is null, store it to an output, commit
//! `head = head->next` (`rseq_load_cbeq_store_add_load_store__ptr`):
//!
//! ```rust
//! # use rseq_percpu::Unavailable;
//! # use rseq_macros::rseq_critical;
//! #[repr(C)]
//! struct Node { value: usize, next: usize }
//!
//! #[rseq_critical]
//! unsafe fn pop(heads: *mut usize, next_off: usize, #[speculative] out: *mut usize)
//!     -> Result<bool, Unavailable>
//! {
//!     let cpu = cpu_id();
//!     let v = heads.wrapping_add(cpu);
//!     let head = load(v);
//!     if head == 0 {
//!         return Ok(false);
//!     }
//!     store(out, head);
//!     let next = load(head.byte_add(next_off));
//!     commit(v, next);
//!     Ok(true)
//! }
//! let mut node = Node { value: 42, next: 0 };
//! let cpu = rseq_abi::cpu::current_cpu() as usize;
//! let mut heads = vec![&mut node as *mut Node as usize; rseq_abi::cpu::possible_cpus()];
//! let mut out = 0usize;
//! // SAFETY: every list holds `node`, whose `next` is null.
//! match unsafe { pop(heads.as_mut_ptr(), core::mem::offset_of!(Node, next), &mut out) } {
//!     Ok(true) => {
//!         assert_eq!(out, &node as *const Node as usize);
//!         assert_eq!(heads.iter().filter(|&&h| h == 0).count(), 1);
//!     }
//!     Ok(false) => unreachable!("no list is empty"),
//!     Err(_) => {} // rseq unavailable
//! }
//! # let _ = (cpu, node.value);
//! ```
//!
//! Pointer chase then add (`rseq_load_add_load_load_add_store__ptr`):
//!
//! ```rust
//! # use rseq_percpu::Unavailable;
//! # use rseq_macros::rseq_critical;
//! #[rseq_critical]
//! unsafe fn chase_add(tables: *mut [usize; 2], inc: usize) -> Result<(), Unavailable> {
//!     let cpu = cpu_id();
//!     let table = tables.wrapping_add(cpu);
//!     let p = load(table.byte_add(8));   // the table's second word points to the counter
//!     commit_add(p, inc);
//!     Ok(())
//! }
//! let mut counter = 0usize;
//! let ptr = &mut counter as *mut usize as usize;
//! let mut tables = vec![[0, ptr]; rseq_abi::cpu::possible_cpus()];
//! // SAFETY: every table points to `counter`.
//! let ok = unsafe { chase_add(tables.as_mut_ptr(), 3) }.is_ok();
//! assert_eq!(counter, if ok { 3 } else { 0 });
//! ```
//!
//! Two compares then commit (`rseq_load_cbne_load_cbne_store__ptr`):
//!
//! ```rust
//! # use rseq_percpu::Unavailable;
//! # use rseq_macros::rseq_critical;
//! #[rseq_critical]
//! unsafe fn cmp2_store(v: *mut usize, expect: usize, v2: *mut usize, expect2: usize, newv: usize)
//!     -> Result<u8, Unavailable>
//! {
//!     let cpu = cpu_id();
//!     let v = v.wrapping_add(cpu);
//!     let v2 = v2.wrapping_add(cpu);
//!     let a = load(v);
//!     if a != expect {
//!         return Ok(1);
//!     }
//!     let b = load(v2);
//!     if b != expect2 {
//!         return Ok(2);
//!     }
//!     commit(v, newv);
//!     Ok(0)
//! }
//! let n = rseq_abi::cpu::possible_cpus();
//! let (mut a, mut b) = (vec![1usize; n], vec![2usize; n]);
//! // SAFETY: one word per possible CPU in both arrays.
//! if let Ok(r) = unsafe { cmp2_store(a.as_mut_ptr(), 1, b.as_mut_ptr(), 3, 9) } {
//!     assert_eq!(r, 2); // the second compare fails
//! }
//! // SAFETY: as above.
//! if let Ok(r) = unsafe { cmp2_store(a.as_mut_ptr(), 1, b.as_mut_ptr(), 2, 9) } {
//!     assert_eq!(r, 0);
//!     assert_eq!(a.iter().filter(|&&x| x == 9).count(), 1);
//! }
//! ```
//!
//! Compare, speculative store, commit store, relaxed or release
//! (`rseq_load_cbne_store_store__ptr`): a per-CPU buffer push.
//!
//! ```rust
//! # use rseq_percpu::Unavailable;
//! # use rseq_macros::rseq_critical;
//! const CAP: usize = 8;
//!
//! #[rseq_critical]
//! unsafe fn push(tails: *mut usize, slots: *mut usize, item: usize) -> Result<bool, Unavailable> {
//!     let cpu = cpu_id();
//!     let tail = tails.wrapping_add(cpu);
//!     // SAFETY: `tail` is this CPU's word.
//!     let expect = unsafe { tail.read_volatile() };
//!     if expect >= CAP {
//!         return Ok(false);
//!     }
//!     #[speculative]
//!     let slot = slots.wrapping_add(cpu * CAP + expect);
//!     let next = expect + 1;
//!     let t = load(tail);
//!     if t != expect {
//!         return Ok(false);
//!     }
//!     store(slot, item);
//!     commit_release(tail, next); // or `commit(tail, next)`
//!     Ok(true)
//! }
//! let n = rseq_abi::cpu::possible_cpus();
//! let (mut tails, mut slots) = (vec![0usize; n], vec![0usize; n * CAP]);
//! // SAFETY: one tail per CPU, CAP slots per CPU.
//! if let Ok(true) = unsafe { push(tails.as_mut_ptr(), slots.as_mut_ptr(), 77) } {
//!     assert_eq!(tails.iter().sum::<usize>(), 1);
//!     assert_eq!(slots.iter().filter(|&&s| s == 77).count(), 1);
//! }
//! ```
//!
//! Compare, bounded copy, commit store, relaxed or release
//! (`rseq_load_cbne_memcpy_store__ptr`):
//!
//! ```rust
//! # use rseq_percpu::Unavailable;
//! # use rseq_macros::rseq_critical;
//! #[rseq_critical]
//! unsafe fn publish(offs: *mut usize, bufs: *mut [u8; 64], src: *const u8, len: usize)
//!     -> Result<bool, Unavailable>
//! {
//!     let cpu = cpu_id();
//!     let off = offs.wrapping_add(cpu);
//!     #[speculative]
//!     let dst = bufs.wrapping_add(cpu);
//!     let o = load(off);
//!     if o != 0 {
//!         return Ok(false); // already published
//!     }
//!     memcpy::<64>(dst, src, len); // len <= 64, checked before the section
//!     commit(off, len);            // or `commit_release(off, len)`
//!     Ok(true)
//! }
//! let n = rseq_abi::cpu::possible_cpus();
//! let (mut offs, mut bufs) = (vec![0usize; n], vec![[0u8; 64]; n]);
//! let msg = b"hello";
//! // SAFETY: one offset and one 64-byte buffer per CPU.
//! if let Ok(true) = unsafe { publish(offs.as_mut_ptr(), bufs.as_mut_ptr(), msg.as_ptr(), msg.len()) } {
//!     let cpu = offs.iter().position(|&o| o == 5).unwrap();
//!     assert_eq!(&bufs[cpu][..5], msg);
//! }
//! ```
//!
//! # Implementation
//!
//! The generated code refers only to `::rseq_percpu::__private` (the thread area and the
//! uapi constants, as `const` asm operands, with compile-time checks of the layout it
//! relies on), so a crate using the attribute depends on `rseq-percpu`, which re-exports it
//! as `rseq_percpu::rseq_critical` and pins this crate's version exactly (the thiserror
//! pattern: the hidden module is not a public API). Phases, one module each: `attr` (attribute
//! arguments), `parse` (function body to the `ir`), `validate` (every semantic rule, all
//! errors combined), `expand` (the Rust wrapper: index read, prelude, retry loop, operands)
//! over `backend` (shared descriptor and table emission, one file per architecture behind
//! one trait of primitives), and `fallback` (a stub emitted next to the errors).
#![deny(unsafe_code)]

mod attr;
mod backend;
mod expand;
mod fallback;
mod ir;
mod parse;
mod validate;

use proc_macro::TokenStream;

/// Turns an `unsafe fn` written in the critical-section language into a restartable sequence.
///
/// See the crate documentation and `DSL.md` for the language.
#[proc_macro_attribute]
pub fn rseq_critical(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let input = proc_macro2::TokenStream::from(input);
    match run(args, input.clone()) {
        Ok(tokens) => tokens.into(),
        Err(err) => fallback::stub(&input, err).into(),
    }
}

fn run(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let attr = attr::parse_args(args);
    let item: syn::ItemFn = syn::parse2(input)?;
    let parsed = parse::parse_fn(item);
    let (attr, critical) = match (attr, parsed) {
        (Ok(a), Ok(c)) => (a, c),
        (Err(mut a), Err(c)) => {
            a.combine(c);
            return Err(a);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    validate::check(&critical)?;
    Ok(expand::expand(&attr, &critical))
}
