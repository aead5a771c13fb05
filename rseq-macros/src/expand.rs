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
use quote::quote;
use std::collections::HashMap;

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
    /// Operand names already declared for an input binding.
    by_input: HashMap<String, String>,
    /// `name = label { .. }`.
    exits: Vec<(String, TokenStream)>,
}

/// Turns an operand into a backend value, declaring what it needs.
type ValFn<'a> = dyn FnMut(&Operand, &mut Operands, &HashMap<String, String>) -> Val + 'a;

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

    let mut val = |op: &Operand, o: &mut Operands, loads: &HashMap<String, String>| -> Val {
        match op {
            Operand::Name(n) => {
                let key = n.to_string();
                if let Some(reg) = loads.get(&key) {
                    return Val::Reg(reg.clone());
                }
                if let Some(reg) = o.by_input.get(&key) {
                    return Val::Reg(reg.clone());
                }
                let reg = format!("in_{}", key.trim_start_matches("r#"));
                o.inputs.push((reg.clone(), quote!(__rseq_word(#n))));
                o.by_input.insert(key, reg.clone());
                Val::Reg(reg)
            }
            Operand::Lit(v, _) if arch.imm_ok(*v) => Val::Imm(*v),
            Operand::Lit(v, _) => {
                let reg = format!("lit{lits}");
                lits += 1;
                let lit = Literal::usize_suffixed(usize::try_from(*v).unwrap_or(0));
                o.inputs.push((reg.clone(), quote!(#lit)));
                Val::Reg(reg)
            }
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
                base: reg_of(val(&a.base, o, loads)),
                offset: a.offset.as_ref().map(|off| val(off, o, loads)),
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
                let lhs = val(lhs, &mut o, &loads);
                let rhs = val(rhs, &mut o, &loads);
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
                let v = val(value, &mut o, &loads);
                ops.push(BOp::Store { mem, val: v });
            }
            Op::Memcpy { dst, src, len, .. } => {
                let dst = addr(dst, &mut o, &loads, &mut val);
                let src = reg_of(val(src, &mut o, &loads));
                let len = match len {
                    Len::Lit(n, s) => val(&Operand::Lit(*n, *s), &mut o, &loads),
                    Len::Bounded { len, max } => {
                        if let Operand::Name(n) = len {
                            checks.push(quote! {
                                ::core::assert!(
                                    (#n as usize) <= (#max) as usize,
                                    "memcpy length exceeds the bound of the critical section"
                                );
                            });
                        }
                        val(len, &mut o, &loads)
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
                let v = val(value, &mut o, &loads);
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
            Op::Bad(_) => unreachable!("rejected by validation"),
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
    let asm = backend::section(arch, &lowered.ops, &lowered.exit_labels);
    let lines = asm.lines.iter().map(|l| Literal::string(l));
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
    let abort = quote! {
        if let ::core::result::Result::Err(__rseq_unavailable) = __rseq_after_abort() {
            return ::core::result::Result::Err(::core::convert::From::from(__rseq_unavailable));
        }
        #after_abort
    };

    let sections = [&X86_64 as &dyn Arch, &Aarch64, &Riscv64].map(|arch| {
        let (checks, asm) = asm_block(c, arch, &abort);
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
            /// The types an operand of the section may have: one machine word.
            #[diagnostic::on_unimplemented(
                message = "`{Self}` is not a machine word: operands of a critical section are `usize`, `isize`, `u64`, `i64`, raw pointers, shared references or `NonNull`",
                label = "not a machine word"
            )]
            trait __RseqWord: ::core::marker::Copy {}
            impl __RseqWord for usize {}
            impl __RseqWord for isize {}
            impl __RseqWord for u64 {}
            impl __RseqWord for i64 {}
            impl<T> __RseqWord for *const T {}
            impl<T> __RseqWord for *mut T {}
            impl<T> __RseqWord for &T {}
            impl<T> __RseqWord for ::core::ptr::NonNull<T> {}
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
