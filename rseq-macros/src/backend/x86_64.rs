//! x86_64 primitives (AT&T syntax, as librseq writes them). The area is addressed as
//! `%fs:FIELD({area})` with `{area}` holding `area_offset()`; every operand is a 64-bit word.

use super::copy::{copy_loop, CopyPrimitives, CopyRegs};
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
    let r = CopyRegs {
        src: ts,
        dst: td,
        len: a.scratch(),
        data: a.scratch(),
    };
    let v = a.vector_scratch();
    a.line(format!("movq {}, {{{}}}", val(len), r.len));
    copy_loop(a, &Copy { vector: v }, &r, &[16, 8]);
}

/// The x86_64 copy primitives: 16-byte blocks through an `xmm` scratch register, smaller
/// ones through a general register.
struct Copy {
    /// The `xmm` scratch operand.
    vector: String,
}

impl CopyPrimitives for Copy {
    fn step(&self, a: &mut Asm, r: &CopyRegs, width: u32) {
        let CopyRegs {
            src,
            dst,
            len,
            data,
        } = r;
        match width {
            16 => {
                let v = &self.vector;
                a.line(format!("movdqu ({{{src}}}), {{{v}}}"));
                a.line(format!("movdqu {{{v}}}, ({{{dst}}})"));
            }
            8 => {
                a.line(format!("movq ({{{src}}}), {{{data}}}"));
                a.line(format!("movq {{{data}}}, ({{{dst}}})"));
            }
            _ => {
                a.line(format!("movb ({{{src}}}), {{{data}:l}}"));
                a.line(format!("movb {{{data}:l}}, ({{{dst}}})"));
            }
        }
        if width == 1 {
            a.line(format!("incq {{{src}}}"));
            a.line(format!("incq {{{dst}}}"));
            a.line(format!("decq {{{len}}}"));
        } else {
            a.line(format!("addq ${width}, {{{src}}}"));
            a.line(format!("addq ${width}, {{{dst}}}"));
            a.line(format!("subq ${width}, {{{len}}}"));
        }
    }

    fn branch_if_below(&self, a: &mut Asm, r: &CopyRegs, n: u32, label: &str) {
        a.line(format!("cmpq ${n}, {{{}}}", r.len));
        a.line(format!("jb {label}"));
    }

    fn branch_if_at_least(&self, a: &mut Asm, r: &CopyRegs, n: u32, label: &str) {
        a.line(format!("cmpq ${n}, {{{}}}", r.len));
        a.line(format!("jae {label}"));
    }

    fn branch_if_zero(&self, a: &mut Asm, r: &CopyRegs, label: &str) {
        a.line(format!("testq {{{0}}}, {{{0}}}", r.len));
        a.line(format!("jz {label}"));
    }

    fn branch_if_more(&self, a: &mut Asm, _: &CopyRegs, label: &str) {
        a.line(format!("jnz {label}"));
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
