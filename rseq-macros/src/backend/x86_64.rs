//! x86_64 primitives (AT&T syntax, as librseq writes them). The area is addressed as
//! `%fs:FIELD({area})` with `{area}` holding `area_offset()`; every operand is a 64-bit word.

use super::{Arch, Asm, BOp, Mem, Val};

/// The x86_64 backend.
pub(crate) struct X86_64;

fn mem(m: &Mem) -> String {
    match &m.offset {
        None => format!("({{{}}})", m.base),
        Some(Val::Imm(d)) => format!("{d}({{{}}})", m.base),
        Some(Val::Reg(i)) => format!("({{{}}},{{{i}}},1)", m.base),
    }
}

fn val(v: &Val) -> String {
    match v {
        Val::Reg(r) => format!("{{{r}}}"),
        Val::Imm(i) => format!("${i}"),
    }
}

impl Arch for X86_64 {
    fn target_arch(&self) -> &'static str {
        "x86_64"
    }

    fn att_syntax(&self) -> bool {
        true
    }

    fn imm_ok(&self, v: i64) -> bool {
        i32::try_from(v).is_ok()
    }

    fn arm(&self, a: &mut Asm) {
        let t = a.scratch();
        a.line(format!("leaq 3b(%rip), {{{t}}}"));
        a.line(format!("movq {{{t}}}, %fs:{{rseq_cs}}({{area}})"));
    }

    fn check_index(&self, a: &mut Asm) {
        a.line("cmpl {idx:e}, %fs:{field}({area})");
        a.line("jnz {abort}");
    }

    fn op(&self, a: &mut Asm, op: &BOp) {
        match op {
            BOp::Load { dst, mem: m } => a.line(format!("movq {}, {{{dst}}}", mem(m))),
            BOp::Exit {
                lhs,
                rhs,
                eq,
                label,
            } => {
                let (reg, other) = match (lhs, rhs) {
                    (Val::Imm(_), r) => (r, lhs),
                    (l, r) => (l, r),
                };
                a.line(format!("cmpq {}, {}", val(other), val(reg)));
                let jump = if *eq { "je" } else { "jne" };
                a.line(format!("{jump} {{{label}}}"));
            }
            BOp::Store { mem: m, val: v } | BOp::Commit { mem: m, val: v, .. } => {
                // x86 stores have release semantics (TSO): relaxed and release are the same
                // instruction; the asm block is a compiler barrier.
                a.line(format!("movq {}, {}", val(v), mem(m)));
            }
            BOp::CommitAdd { mem: m, val: v } => {
                a.line(format!("addq {}, {}", val(v), mem(m)));
            }
            BOp::Memcpy { dst, src, len } => {
                let (ts, td, tl, tb) = (a.scratch(), a.scratch(), a.scratch(), a.scratch());
                a.line(format!("movq {{{src}}}, {{{ts}}}"));
                a.line(format!("leaq {}, {{{td}}}", mem(dst)));
                a.line(format!("movq {}, {{{tl}}}", val(len)));
                a.line(format!("testq {{{tl}}}, {{{tl}}}"));
                a.line("jz 33f");
                a.line("22:");
                a.line(format!("movb ({{{ts}}}), {{{tb}:l}}"));
                a.line(format!("movb {{{tb}:l}}, ({{{td}}})"));
                a.line(format!("incq {{{ts}}}"));
                a.line(format!("incq {{{td}}}"));
                a.line(format!("decq {{{tl}}}"));
                a.line("jnz 22b");
                a.line("33:");
            }
        }
    }

    fn abort_handler(&self, a: &mut Asm) {
        a.line(".pushsection __rseq_failure, \"ax\"");
        // `ud1 RSEQ_SIG(%rip), %edi`: the signature, as a trapping instruction.
        a.line(".byte 0x0f, 0xb9, 0x3d");
        a.line(".long {sig}");
        a.line("6:");
        a.line("jmp {abort}");
        a.line(".popsection");
    }
}
