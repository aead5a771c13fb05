//! riscv64 primitives. The area is addressed through the `area()` pointer in `{area}`;
//! literals that fit a 12-bit signed immediate are used as address offsets only, values are
//! in registers. The template runs with `.option norelax` so that the descriptor's
//! `post_commit_offset` (a label difference) is fixed at assembly time.

use super::copy::{copy_loop, CopyPrimitives, CopyRegs};
use super::{Arch, Asm, BOp, Mem, Val};

/// The riscv64 backend.
pub(crate) struct Riscv64;

/// `(reg, displacement)` addressing for `m`, adding into a scratch register when the offset
/// is a register.
fn addr(a: &mut Asm, m: &Mem) -> String {
    match &m.offset {
        None => format!("0({{{}}})", m.base),
        Some(Val::Imm(d)) => format!("{d}({{{}}})", m.base),
        Some(Val::Reg(i)) => {
            let t = a.scratch();
            a.line(format!("add {{{t}}}, {{{}}}, {{{i}}}", m.base));
            format!("0({{{t}}})")
        }
    }
}

/// A value in a register (`x0` for the literal 0).
fn reg(a: &mut Asm, v: &Val) -> String {
    match v {
        Val::Reg(r) => format!("{{{r}}}"),
        Val::Imm(0) => "x0".to_string(),
        Val::Imm(i) => {
            let t = a.scratch();
            a.line(format!("li {{{t}}}, {i}"));
            format!("{{{t}}}")
        }
    }
}

/// The riscv64 copy primitives: bytes only.
struct Copy;

impl CopyPrimitives for Copy {
    fn step(&self, a: &mut Asm, r: &CopyRegs, width: u32) {
        let CopyRegs {
            src,
            dst,
            len,
            data,
        } = r;
        a.line(format!("lbu {{{data}}}, 0({{{src}}})"));
        a.line(format!("sb {{{data}}}, 0({{{dst}}})"));
        a.line(format!("addi {{{src}}}, {{{src}}}, {width}"));
        a.line(format!("addi {{{dst}}}, {{{dst}}}, {width}"));
        a.line(format!("addi {{{len}}}, {{{len}}}, -{width}"));
    }

    fn branch_if_below(&self, a: &mut Asm, r: &CopyRegs, n: u32, label: &str) {
        let t = &r.data;
        a.line(format!("li {{{t}}}, {n}"));
        a.line(format!("bltu {{{}}}, {{{t}}}, {label}", r.len));
    }

    fn branch_if_at_least(&self, a: &mut Asm, r: &CopyRegs, n: u32, label: &str) {
        let t = &r.data;
        a.line(format!("li {{{t}}}, {n}"));
        a.line(format!("bgeu {{{}}}, {{{t}}}, {label}", r.len));
    }

    fn branch_if_zero(&self, a: &mut Asm, r: &CopyRegs, label: &str) {
        a.line(format!("beqz {{{}}}, {label}", r.len));
    }

    fn branch_if_more(&self, a: &mut Asm, r: &CopyRegs, label: &str) {
        a.line(format!("bnez {{{}}}, {label}", r.len));
    }
}

impl Arch for Riscv64 {
    fn target_arch(&self) -> &'static str {
        "riscv64"
    }

    fn att_syntax(&self) -> bool {
        false
    }

    fn imm_ok(&self, v: i64) -> bool {
        (-2048..2048).contains(&v)
    }

    fn begin(&self, a: &mut Asm) {
        a.line(".option push");
        a.line(".option norelax");
    }

    fn end(&self, a: &mut Asm) {
        a.line(".option pop");
    }

    fn arm(&self, a: &mut Asm) {
        let t = a.scratch();
        a.line(format!("lla {{{t}}}, 3b"));
        a.line(format!("sd {{{t}}}, {{rseq_cs}}({{area}})"));
    }

    fn check_index(&self, a: &mut Asm) {
        let t = a.scratch();
        a.line(format!("lwu {{{t}}}, {{field}}({{area}})"));
        a.line(format!("bne {{{t}}}, {{idx}}, {{abort}}"));
    }

    fn op(&self, a: &mut Asm, op: &BOp) {
        match op {
            BOp::Load { dst, mem } => {
                let at = addr(a, mem);
                a.line(format!("ld {{{dst}}}, {at}"));
            }
            BOp::Exit {
                lhs,
                rhs,
                eq,
                label,
            } => {
                let l = reg(a, lhs);
                let r = reg(a, rhs);
                let b = if *eq { "beq" } else { "bne" };
                a.line(format!("{b} {l}, {r}, {{{label}}}"));
            }
            BOp::Store { mem, val }
            | BOp::Commit {
                mem,
                val,
                release: false,
            } => {
                let v = reg(a, val);
                let at = addr(a, mem);
                a.line(format!("sd {v}, {at}"));
            }
            BOp::Commit {
                mem,
                val,
                release: true,
            } => {
                let v = reg(a, val);
                let at = addr(a, mem);
                a.line("fence rw, w");
                a.line(format!("sd {v}, {at}"));
            }
            BOp::CommitAdd { mem, val } => {
                let v = reg(a, val);
                let at = addr(a, mem);
                let t = a.scratch();
                a.line(format!("ld {{{t}}}, {at}"));
                a.line(format!("add {{{t}}}, {{{t}}}, {v}"));
                a.line(format!("sd {{{t}}}, {at}"));
            }
            BOp::Memcpy { dst, src, len } => {
                let (ts, td, tl, tb) = (a.scratch(), a.scratch(), a.scratch(), a.scratch());
                for (t, m) in [(&ts, src), (&td, dst)] {
                    match &m.offset {
                        None => a.line(format!("mv {{{t}}}, {{{}}}", m.base)),
                        Some(Val::Imm(d)) => a.line(format!("addi {{{t}}}, {{{}}}, {d}", m.base)),
                        Some(Val::Reg(i)) => {
                            a.line(format!("add {{{t}}}, {{{}}}, {{{i}}}", m.base))
                        }
                    }
                }
                match len {
                    Val::Reg(r) => a.line(format!("mv {{{tl}}}, {{{r}}}")),
                    Val::Imm(n) => a.line(format!("li {{{tl}}}, {n}")),
                }
                // A byte loop: misaligned word accesses may trap on riscv64 and be emulated by
                // the kernel or the firmware, far slower than bytes.
                let r = CopyRegs {
                    src: ts,
                    dst: td,
                    len: tl,
                    data: tb,
                };
                copy_loop(a, &Copy, &r, &[]);
            }
        }
    }

    fn abort_handler(&self, a: &mut Asm) {
        let t = a.scratch();
        a.line(".pushsection __rseq_failure, \"ax\"");
        // The signature word (`csrw mhartid, x0`, which traps in user mode) before abort_ip.
        a.line(".long {sig}");
        a.line("6:");
        a.line(format!("jump {{abort}}, {{{t}}}"));
        a.line(".popsection");
    }
}
