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

/// Lengths up to this many bytes, when literal, are copied by straight-line moves.
const UNROLL_MAX: i64 = 128;

/// `memcpy(dst, src, len)`. A literal length up to [`UNROLL_MAX`] is copied by straight-line
/// 16/8/4/2/1-byte moves; otherwise a loop copies 16-byte blocks (`movdqu` through an `xmm`
/// scratch register) while at least 16 bytes remain, then one 8-byte word if 8 or more
/// remain, then single bytes. x86 loads and stores need no alignment, and 16-byte stores let
/// the compiler's own 16-byte loads of the copied value forward from the store buffer (a
/// value written in 8-byte halves and read back in 16-byte halves stalls every load). Every
/// step only moves forward through speculative memory, so an abort anywhere leaves a partial
/// copy the retry overwrites.
fn memcpy(a: &mut Asm, dst: &Mem, src: &Mem, len: &Val) {
    if let Val::Imm(0) = len {
        // Nothing to copy; the comment still names the operands (`asm!` rejects unused ones).
        a.line(format!(
            "# memcpy of 0 bytes from {} to {}",
            mem(src),
            mem(dst)
        ));
        return;
    }
    let (ts, td) = (a.scratch(), a.scratch());
    a.line(format!("leaq {}, {{{ts}}}", mem(src)));
    a.line(format!("leaq {}, {{{td}}}", mem(dst)));
    if let Val::Imm(n) = *len {
        if (0..=UNROLL_MAX).contains(&n) {
            let mut off = 0;
            if n >= 16 {
                let v = a.vector_scratch();
                while n - off >= 16 {
                    a.line(format!("movdqu {off}({{{ts}}}), {{{v}}}"));
                    a.line(format!("movdqu {{{v}}}, {off}({{{td}}})"));
                    off += 16;
                }
            }
            // A general register for what is left under 16 bytes (unused operands are errors).
            let tb = if n % 16 != 0 {
                a.scratch()
            } else {
                String::new()
            };
            for (width, suffix, reg) in
                [(8, 'q', ""), (4, 'l', ":e"), (2, 'w', ":x"), (1, 'b', ":l")]
            {
                while n - off >= width {
                    a.line(format!("mov{suffix} {off}({{{ts}}}), {{{tb}{reg}}}"));
                    a.line(format!("mov{suffix} {{{tb}{reg}}}, {off}({{{td}}})"));
                    off += width;
                }
            }
            return;
        }
    }
    let (tb, tl, v) = (a.scratch(), a.scratch(), a.vector_scratch());
    a.line(format!("movq {}, {{{tl}}}", val(len)));
    a.line(format!("cmpq $16, {{{tl}}}"));
    a.line("jb 88f");
    a.line("77:");
    a.line(format!("movdqu ({{{ts}}}), {{{v}}}"));
    a.line(format!("movdqu {{{v}}}, ({{{td}}})"));
    a.line(format!("addq $16, {{{ts}}}"));
    a.line(format!("addq $16, {{{td}}}"));
    a.line(format!("subq $16, {{{tl}}}"));
    a.line(format!("cmpq $16, {{{tl}}}"));
    a.line("jae 77b");
    a.line("88:");
    a.line(format!("testq $8, {{{tl}}}"));
    a.line("jz 99f");
    a.line(format!("movq ({{{ts}}}), {{{tb}}}"));
    a.line(format!("movq {{{tb}}}, ({{{td}}})"));
    a.line(format!("addq $8, {{{ts}}}"));
    a.line(format!("addq $8, {{{td}}}"));
    a.line(format!("subq $8, {{{tl}}}"));
    a.line("99:");
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
            BOp::Memcpy { dst, src, len } => memcpy(a, dst, src, len),
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
