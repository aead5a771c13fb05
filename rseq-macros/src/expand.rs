//! Emits the function for a validated [`Critical`]: the index read, the prelude, and one
//! `asm!` block per architecture (built by [`backend`](crate::backend)), inside a retry loop.
//! Assumes the input passed [`validate`](crate::validate).
//!
//! ```text
//! unsafe fn f(params) -> R {
//!     <compile-time checks: word-sized operands, struct rseq / rseq_cs layout>
//!     let area = area_offset() | area();
//!     'rseq: loop {
//!         let idx = <cpu_id_start or mm_cid of the area>;
//!         <prelude>
//!         asm!(<section>, exitN = label { return VALUE_N; },
//!                         abort = label { <cpu_id < 0: prepare_current_thread()>; continue 'rseq });
//!         break <tail>;
//!     }
//! }
//! ```

use crate::attr::{Attr, OnAbort};
use crate::backend::{
    self, aarch64::Aarch64, riscv64::Riscv64, x86_64::X86_64, Arch, BOp, Mem, Val,
};
use crate::ir::{Addr, CommitKind, Critical, IndexKind, Len, Op, Operand};
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use std::collections::HashMap;
use syn::spanned::Spanned;

/// The one path generated code reaches the runtime through: `rseq_percpu`'s hidden
/// `__private` module (the facade crate pins this crate's version exactly, so nothing a
/// user could call is part of the contract).
fn private() -> TokenStream {
    quote!(::rseq_percpu::__private)
}

/// Operands of one section, declared next to its template.
#[derive(Default)]
struct Operands {
    /// `name = in(reg) expr`.
    inputs: Vec<(String, TokenStream)>,
    /// Operand names already declared for an input binding (`in:NAME` as a value,
    /// `at:NAME` as an address).
    by_input: HashMap<String, String>,
    /// `name = label { .. }`.
    exits: Vec<(String, TokenStream)>,
}

/// Turns an operand into a backend value (`true`: used as an address), declaring what it
/// needs.
type ValFn<'a> = dyn FnMut(&Operand, bool, &mut Operands, &HashMap<String, String>) -> Val + 'a;

/// A section lowered for one architecture.
pub(crate) struct Lowered {
    pub(crate) ops: Vec<BOp>,
    pub(crate) exit_labels: Vec<String>,
    /// `name = in(reg) expr` operands (inputs and literal registers).
    pub(crate) inputs: Vec<(String, TokenStream)>,
    exits: Vec<(String, TokenStream)>,
    /// `assert!`s to run before the section (copy bounds).
    checks: Vec<TokenStream>,
    /// Registers holding loaded values (`out(reg) _`).
    pub(crate) load_regs: Vec<String>,
}

/// Lowers the section's operations for `arch`: names become operands, literals immediates
/// or literal registers.
pub(crate) fn lower(c: &Critical, arch: &dyn Arch) -> Lowered {
    let mut o = Operands::default();
    // name -> operand name of the load currently bound to it
    let mut loads: HashMap<String, String> = HashMap::new();
    let mut load_regs = Vec::new();
    let mut lits = 0usize;
    let mut ops = Vec::new();
    let mut exit_labels = Vec::new();
    let mut checks = Vec::new();

    let mut val =
        |op: &Operand, as_addr: bool, o: &mut Operands, loads: &HashMap<String, String>| -> Val {
            match op {
                Operand::Name(n) => {
                    let key = n.to_string();
                    if let Some(reg) = loads.get(&key) {
                        return Val::Reg(reg.clone());
                    }
                    // An input used both as an address and as a value gets one operand for each
                    // (each checked against its own kind).
                    let (prefix, check) = if as_addr {
                        ("at", quote!(__RseqAddr::__rseq_addr(#n)))
                    } else {
                        ("in", quote!(__rseq_word(#n)))
                    };
                    let slot = format!("{prefix}:{key}");
                    if let Some(reg) = o.by_input.get(&slot) {
                        return Val::Reg(reg.clone());
                    }
                    let reg = format!("{prefix}_{}", key.trim_start_matches("r#"));
                    o.inputs.push((reg.clone(), check));
                    o.by_input.insert(slot, reg.clone());
                    Val::Reg(reg)
                }
                Operand::Lit(v, _) => match i64::try_from(*v) {
                    Ok(v) if arch.imm_ok(v) => Val::Imm(v),
                    _ => {
                        let reg = format!("lit{lits}");
                        lits += 1;
                        let lit = Literal::u64_suffixed(*v);
                        o.inputs.push((reg.clone(), quote!(#lit as usize)));
                        Val::Reg(reg)
                    }
                },
                Operand::Other(_) => unreachable!("rejected by validation"),
            }
        };
    fn reg_of(v: Val) -> String {
        match v {
            Val::Reg(r) => r,
            Val::Imm(_) => unreachable!("addresses are names"),
        }
    }
    let addr =
        |a: &Addr, o: &mut Operands, loads: &HashMap<String, String>, val: &mut ValFn| -> Mem {
            Mem {
                base: reg_of(val(&a.base, true, o, loads)),
                offset: a.offset.as_ref().map(|off| val(off, false, o, loads)),
            }
        };

    for op in &c.ops {
        match op {
            Op::Load { name, addr: a } => {
                let mem = addr(a, &mut o, &loads, &mut val);
                let dst = format!("ld{}", load_regs.len());
                load_regs.push(dst.clone());
                loads.insert(name.to_string(), dst.clone());
                ops.push(BOp::Load { dst, mem });
            }
            Op::Exit {
                lhs,
                rhs,
                eq,
                value,
                ..
            } => {
                let lhs = val(lhs, false, &mut o, &loads);
                let rhs = val(rhs, false, &mut o, &loads);
                let label = format!("exit{}", exit_labels.len());
                exit_labels.push(label.clone());
                o.exits.push((label.clone(), quote!({ return #value; })));
                ops.push(BOp::Exit {
                    lhs,
                    rhs,
                    eq: *eq,
                    label,
                });
            }
            Op::Store { addr: a, value, .. } => {
                let mem = addr(a, &mut o, &loads, &mut val);
                let v = val(value, false, &mut o, &loads);
                ops.push(BOp::Store { mem, val: v });
            }
            Op::Memcpy { dst, src, len, .. } => {
                let dst = addr(dst, &mut o, &loads, &mut val);
                let src = addr(src, &mut o, &loads, &mut val);
                let len = match len {
                    Len::Lit(n, s) => val(&Operand::Lit(*n, *s), false, &mut o, &loads),
                    Len::Bounded { len, max } => {
                        if let Operand::Name(n) = len {
                            checks.push(quote! {
                                ::core::assert!(
                                    (#n as usize) <= (#max) as usize,
                                    "memcpy length exceeds the bound of the critical section"
                                );
                            });
                        }
                        val(len, false, &mut o, &loads)
                    }
                    Len::Unbounded(_) => unreachable!("rejected by validation"),
                };
                ops.push(BOp::Memcpy { dst, src, len });
            }
            Op::Commit {
                kind,
                addr: a,
                value,
                ..
            } => {
                let mem = addr(a, &mut o, &loads, &mut val);
                let v = val(value, false, &mut o, &loads);
                ops.push(match kind {
                    CommitKind::Store => BOp::Commit {
                        mem,
                        val: v,
                        release: false,
                    },
                    CommitKind::Release => BOp::Commit {
                        mem,
                        val: v,
                        release: true,
                    },
                    CommitKind::Add => BOp::CommitAdd { mem, val: v },
                });
            }
            Op::Bad(_) | Op::BadLet(..) => unreachable!("rejected by validation"),
        }
    }
    Lowered {
        ops,
        exit_labels,
        inputs: o.inputs,
        exits: o.exits,
        checks,
        load_regs,
    }
}

/// The `asm!` invocation of one section on `arch`.
fn asm_block(c: &Critical, arch: &dyn Arch, abort: &TokenStream) -> (TokenStream, TokenStream) {
    let p = private();
    let lowered = lower(c, arch);
    let function = c.item.sig.ident.to_string();
    let asm = backend::section(arch, &lowered.ops, &lowered.exit_labels, &function);
    let name_line = backend::function_name_line(&function);
    // The function's name is its full path, from the caller's module.
    let lines = asm.lines.iter().map(|l| {
        if *l == name_line {
            quote!(::core::concat!(
                ".asciz \"",
                ::core::module_path!(),
                "::",
                #function,
                "\""
            ))
        } else {
            let l = Literal::string(l);
            quote!(#l)
        }
    });
    let inputs = lowered.inputs.iter().map(|(name, expr)| {
        let name = Ident::new(name, Span::call_site());
        quote!(#name = in(reg) #expr,)
    });
    let scratch = asm
        .scratch
        .iter()
        .chain(lowered.load_regs.iter())
        .map(|name| {
            let name = Ident::new(name, Span::call_site());
            quote!(#name = out(reg) _,)
        })
        .chain(asm.vector_scratch.iter().map(|name| {
            let name = Ident::new(name, Span::call_site());
            quote!(#name = out(xmm_reg) _,)
        }));
    let exits = lowered.exits.iter().map(|(name, block)| {
        let name = Ident::new(name, Span::call_site());
        quote!(#name = label #block,)
    });
    let field = match c.index.kind {
        IndexKind::CpuId => quote!(#p::offsets::RSEQ_CPU_ID),
        IndexKind::MmCid => quote!(#p::offsets::RSEQ_MM_CID),
    };
    let idx = &c.index.name;
    let options = if arch.att_syntax() {
        quote!(options(nostack, att_syntax))
    } else {
        quote!(options(nostack))
    };
    let checks = &lowered.checks;
    let checks = quote!(#(#checks)*);
    let block = quote! {
        ::core::arch::asm!(
            #(#lines,)*
            area = in(reg) __rseq_area,
            idx = in(reg) #idx,
            rseq_cs = const #p::offsets::RSEQ_RSEQ_CS,
            field = const #field,
            sig = const #p::RSEQ_SIG,
            #(#inputs)*
            #(#scratch)*
            #(#exits)*
            abort = label { #abort },
            #options
        );
    };
    (checks, block)
}

/// The whole function.
pub(crate) fn expand(attr: &Attr, c: &Critical) -> TokenStream {
    let p = private();
    let item = &c.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = &item.sig;
    let prelude = &c.prelude;
    let tail = &c.tail;
    let idx = &c.index.name;
    let has_inline = attrs.iter().any(|a| a.path().is_ident("inline"));
    let inline = if has_inline {
        quote!()
    } else {
        quote!(#[inline])
    };

    // With mm_cid the area must also be one the kernel fills mm_cid in; otherwise mm_cid
    // reads 0 everywhere and the section must not run at all.
    let (prepare, supported) = match c.index.kind {
        IndexKind::CpuId => (
            quote!(#p::prepare_current_thread),
            quote!(::core::result::Result::Ok(())),
        ),
        IndexKind::MmCid => (
            quote!(#p::prepare_current_thread_mm_cid),
            quote!(if #p::mm_cid_supported() {
                ::core::result::Result::Ok(())
            } else {
                #p::prepare_current_thread_mm_cid()
            }),
        ),
    };
    let after_abort = match &attr.on_abort {
        OnAbort::Retry => quote!(continue '__rseq;),
        OnAbort::Return(e) => quote!(return #e;),
    };
    // After an abort: a negative cpu_id means the area is not live on this thread (not yet
    // registered, or rseq refused): make it live or report that rseq is unavailable.
    // `abort_counter = PATH` counts the aborts of a live area in the section's abort handler
    // only (not the mm_cid guard before the section), off the commit path.
    let abort_with = |count: TokenStream| {
        quote! {
            if let ::core::result::Result::Err(__rseq_unavailable) = __rseq_after_abort() {
                return ::core::result::Result::Err(::core::convert::From::from(__rseq_unavailable));
            }
            #count
            #after_abort
        }
    };
    let abort = abort_with(quote!());
    let section_abort = abort_with(match &attr.abort_counter {
        None => quote!(),
        Some(path) => {
            quote_spanned!(path.span()=> __RseqAbortCounter::__rseq_count(&#path);)
        }
    });
    let sections = [&X86_64 as &dyn Arch, &Aarch64, &Riscv64].map(|arch| {
        let (checks, asm) = asm_block(c, arch, &section_abort);
        let target = arch.target_arch();
        quote! {
            #[cfg(target_arch = #target)]
            {
                #checks
                // SAFETY: the caller guarantees the addresses (function contract); the
                // section only touches them, the area and the section's own tables.
                unsafe { #asm }
            }
        }
    });

    let (x86_start, a64_start) = match c.index.kind {
        IndexKind::CpuId => (quote!(#p::offsets::RSEQ_CPU_ID_START), quote!(cpu_id_start)),
        IndexKind::MmCid => (quote!(#p::offsets::RSEQ_MM_CID), quote!(mm_cid)),
    };
    // With mm_cid, an area that is not live reads mm_cid 0 like a live one: check cpu_id
    // before the section (with cpu_id the section's own compare catches it).
    let mm_cid_guard = match c.index.kind {
        IndexKind::CpuId => quote!(),
        IndexKind::MmCid => quote! {
            #[cfg(target_arch = "x86_64")]
            let __rseq_cpu_id: i32 = {
                let v: u32;
                // SAFETY: `%fs:area_offset()` is this thread's `struct rseq`.
                unsafe {
                    ::core::arch::asm!(
                        "movl %fs:{field}({area}), {v:e}",
                        area = in(reg) __rseq_area,
                        field = const #p::offsets::RSEQ_CPU_ID,
                        v = lateout(reg) v,
                        options(att_syntax, nostack, preserves_flags, readonly)
                    );
                }
                v as i32
            };
            #[cfg(not(target_arch = "x86_64"))]
            // SAFETY: `area()` is this thread's readable `struct rseq`.
            let __rseq_cpu_id: i32 = unsafe {
                ::core::ptr::read_volatile(::core::ptr::addr_of!((*__rseq_area).cpu_id))
            } as i32;
            if __rseq_cpu_id < 0 || !#p::mm_cid_supported() {
                #abort
            }
        },
    };

    quote! {
        #(#attrs)*
        #inline
        #vis #sig {
            /// The types a value of the section may have (stored, committed, added,
            /// compared): a word-sized integer. Pointers and references are addresses, not
            /// values, so that borrowing a value never turns it into its address.
            #[diagnostic::on_unimplemented(
                message = "`{Self}` is not a word-sized integer: values in a critical section (stored, committed, added or compared) are `usize`, `isize`, `u64` or `i64`",
                label = "not a word value",
                note = "convert it in the prelude, e.g. `let n = n as usize;` (pointers and references are addresses: `load`/`store`/commit targets and `byte_add` bases only)"
            )]
            trait __RseqWord: ::core::marker::Copy {}
            impl __RseqWord for usize {}
            impl __RseqWord for isize {}
            impl __RseqWord for u64 {}
            impl __RseqWord for i64 {}
            /// The types an address of the section may have: a thin pointer, a reference,
            /// `NonNull`, or a `usize` holding an address; passed to the assembly as a
            /// pointer.
            #[diagnostic::on_unimplemented(
                message = "`{Self}` is not an address: addresses in a critical section are raw pointers (`*const T`, `*mut T`), references, `NonNull<T>` or `usize`",
                label = "not an address"
            )]
            trait __RseqAddr: ::core::marker::Copy {
                /// The address, for an `in(reg)` operand.
                fn __rseq_addr(self) -> *const u8;
            }
            impl<T> __RseqAddr for *const T {
                #[inline(always)]
                fn __rseq_addr(self) -> *const u8 {
                    self.cast()
                }
            }
            impl<T> __RseqAddr for *mut T {
                #[inline(always)]
                fn __rseq_addr(self) -> *const u8 {
                    self.cast_const().cast()
                }
            }
            impl<T> __RseqAddr for &T {
                #[inline(always)]
                fn __rseq_addr(self) -> *const u8 {
                    (self as *const T).cast()
                }
            }
            impl<T> __RseqAddr for ::core::ptr::NonNull<T> {
                #[inline(always)]
                fn __rseq_addr(self) -> *const u8 {
                    self.as_ptr().cast_const().cast()
                }
            }
            impl __RseqAddr for usize {
                #[inline(always)]
                fn __rseq_addr(self) -> *const u8 {
                    self as *const u8
                }
            }
            /// The types `abort_counter = PATH` may name.
            #[diagnostic::on_unimplemented(
                message = "`abort_counter` counts in a `static` `AtomicU64` or `AtomicUsize`, not `{Self}`",
                label = "not an atomic counter"
            )]
            trait __RseqAbortCounter {
                /// Counts one abort.
                fn __rseq_count(&'static self);
            }
            impl __RseqAbortCounter for ::core::sync::atomic::AtomicU64 {
                #[cold]
                fn __rseq_count(&'static self) {
                    self.fetch_add(1, ::core::sync::atomic::Ordering::Relaxed);
                }
            }
            impl __RseqAbortCounter for ::core::sync::atomic::AtomicUsize {
                #[cold]
                fn __rseq_count(&'static self) {
                    self.fetch_add(1, ::core::sync::atomic::Ordering::Relaxed);
                }
            }
            /// After an abort: a negative `cpu_id` means the area is not live on this thread
            /// (not yet registered, or rseq refused): make it live, or say why it cannot be.
            /// Out of line, so that the fast path keeps its registers.
            #[cold]
            #[inline(never)]
            fn __rseq_after_abort() -> ::core::result::Result<(), #p::Unavailable> {
                // SAFETY: `area()` designates this thread's readable `struct rseq` (always,
                // even before registration); the kernel writes `cpu_id` with single stores.
                let cpu_id = unsafe {
                    ::core::ptr::read_volatile(::core::ptr::addr_of!((*#p::area()).cpu_id))
                } as i32;
                if cpu_id < 0 {
                    #prepare()
                } else {
                    #supported
                }
            }
            #[inline(always)]
            fn __rseq_word<T: __RseqWord>(v: T) -> T {
                const {
                    ::core::assert!(
                        ::core::mem::size_of::<T>() == ::core::mem::size_of::<usize>(),
                        "operands of a critical section are machine words"
                    )
                };
                v
            }
            // The assembly addresses these fields by number and writes `struct rseq_cs`
            // as `.long, .long, .quad, .quad, .quad` with `.balign 32`.
            const _: () = {
                ::core::assert!(::core::mem::offset_of!(#p::Rseq, cpu_id_start) == #p::offsets::RSEQ_CPU_ID_START);
                ::core::assert!(::core::mem::offset_of!(#p::Rseq, cpu_id) == #p::offsets::RSEQ_CPU_ID);
                ::core::assert!(::core::mem::offset_of!(#p::Rseq, rseq_cs) == #p::offsets::RSEQ_RSEQ_CS);
                ::core::assert!(::core::mem::offset_of!(#p::Rseq, mm_cid) == #p::offsets::RSEQ_MM_CID);
                ::core::assert!(::core::mem::offset_of!(#p::RseqCs, start_ip) == 8);
                ::core::assert!(::core::mem::offset_of!(#p::RseqCs, post_commit_offset) == 16);
                ::core::assert!(::core::mem::offset_of!(#p::RseqCs, abort_ip) == 24);
                ::core::assert!(::core::mem::size_of::<#p::RseqCs>() == 32);
                ::core::assert!(::core::mem::align_of::<#p::RseqCs>() == 32);
                ::core::assert!(::core::mem::size_of::<usize>() == 8);
            };

            #[cfg(target_arch = "x86_64")]
            let __rseq_area: isize = #p::area_offset();
            #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
            let __rseq_area: *mut #p::Rseq = #p::area();

            #[allow(unreachable_code, clippy::never_loop)]
            '__rseq: loop {
                #mm_cid_guard
                #[cfg(target_arch = "x86_64")]
                let #idx: usize = {
                    // `movl` to a 32-bit register zero-extends into the 64-bit one.
                    let v: usize;
                    // SAFETY: `%fs:area_offset()` is this thread's `struct rseq` (thread-area
                    // contract); the field is read with one 32-bit load.
                    unsafe {
                        ::core::arch::asm!(
                            "movl %fs:{field}({area}), {v:e}",
                            area = in(reg) __rseq_area,
                            field = const #x86_start,
                            v = lateout(reg) v,
                            options(att_syntax, nostack, preserves_flags, readonly)
                        );
                    }
                    v
                };
                #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
                // SAFETY: `area()` is this thread's readable `struct rseq`.
                let #idx: usize = unsafe {
                    ::core::ptr::read_volatile(::core::ptr::addr_of!((*__rseq_area).#a64_start))
                } as usize;

                #(#prelude)*

                #(#sections)*
                #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
                ::core::compile_error!("#[rseq_critical] supports x86_64, aarch64 and riscv64");
                break '__rseq #tail;
            }
        }
    }
}
