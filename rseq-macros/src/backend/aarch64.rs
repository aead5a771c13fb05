//! aarch64 primitives. The area is addressed through the `area()` pointer in `{area}`;
//! literals are passed in registers (the expander asks [`Arch::imm_ok`]), so every address
//! is `[base]` or `[base, index]`.

use super::copy::{copy_loop, CopyPrimitives, CopyRegs};
use super::{Arch, Asm, BOp, Mem, Val};

/// The aarch64 backend.
pub(crate) struct Aarch64;

fn mem(m: &Mem) -> String {
    match &m.offset {
        None => format!("[{{{}}}]", m.base),
        Some(Val::Reg(i)) => format!("[{{{}}}, {{{i}}}]", m.base),
        Some(Val::Imm(d)) => format!("[{{{}}}, #{d}]", m.base),
    }
}

fn reg(v: &Val) -> String {
    match v {
        Val::Reg(r) => format!("{{{r}}}"),
        // imm_ok refuses every immediate, so the expander never builds one.
        Val::Imm(i) => format!("#{i}"),
    }
}

/// The address in a single register (for `stlr`, which takes no offset).
fn base_reg(a: &mut Asm, m: &Mem) -> String {
    match &m.offset {
        None => m.base.clone(),
        Some(off) => {
            let t = a.scratch();
            a.line(format!("add {{{t}}}, {{{}}}, {}", m.base, reg(off)));
            t
        }
    }
}

/// The aarch64 copy primitives: post-indexed loads and stores of 8-byte words or bytes.
struct Copy;

impl CopyPrimitives for Copy {
    fn step(&self, a: &mut Asm, r: &CopyRegs, width: u32) {
        let CopyRegs {
            src,
            dst,
            len,
            data,
        } = r;
        let (ld, st, d) = match width {
            8 => ("ldr", "str", format!("{{{data}}}")),
            _ => ("ldrb", "strb", format!("{{{data}:w}}")),
        };
        a.line(format!("{ld} {d}, [{{{src}}}], #{width}"));
        a.line(format!("{st} {d}, [{{{dst}}}], #{width}"));
        a.line(format!("subs {{{len}}}, {{{len}}}, #{width}"));
    }

    fn branch_if_below(&self, a: &mut Asm, r: &CopyRegs, n: u32, label: &str) {
        a.line(format!("cmp {{{}}}, #{n}", r.len));
        a.line(format!("b.lo {label}"));
    }

    fn branch_if_at_least(&self, a: &mut Asm, r: &CopyRegs, n: u32, label: &str) {
        a.line(format!("cmp {{{}}}, #{n}", r.len));
        a.line(format!("b.hs {label}"));
    }

    fn branch_if_zero(&self, a: &mut Asm, r: &CopyRegs, label: &str) {
        a.line(format!("cbz {{{}}}, {label}", r.len));
    }

    fn branch_if_more(&self, a: &mut Asm, _: &CopyRegs, label: &str) {
        a.line(format!("b.ne {label}"));
    }
}

impl Arch for Aarch64 {
    fn target_arch(&self) -> &'static str {
        "aarch64"
    }

    fn att_syntax(&self) -> bool {
        false
    }

    fn imm_ok(&self, _v: i64) -> bool {
        false
    }

    fn arm(&self, a: &mut Asm) {
        let t = a.scratch();
        a.line(format!("adrp {{{t}}}, 3b"));
        a.line(format!("add {{{t}}}, {{{t}}}, :lo12:3b"));
        a.line(format!("str {{{t}}}, [{{area}}, #{{rseq_cs}}]"));
    }

    fn check_index(&self, a: &mut Asm) {
        let t = a.scratch();
        a.line(format!("ldr {{{t}:w}}, [{{area}}, #{{field}}]"));
        a.line(format!("cmp {{{t}:w}}, {{idx:w}}"));
        a.line("b.ne {abort}");
    }

    fn op(&self, a: &mut Asm, op: &BOp) {
        match op {
            BOp::Load { dst, mem: m } => a.line(format!("ldr {{{dst}}}, {}", mem(m))),
            BOp::Exit {
                lhs,
                rhs,
                eq,
                label,
            } => {
                a.line(format!("cmp {}, {}", reg(lhs), reg(rhs)));
                let b = if *eq { "b.eq" } else { "b.ne" };
                a.line(format!("{b} {{{label}}}"));
            }
            BOp::Store { mem: m, val: v }
            | BOp::Commit {
                mem: m,
                val: v,
                release: false,
            } => a.line(format!("str {}, {}", reg(v), mem(m))),
            BOp::Commit {
                mem: m,
                val: v,
                release: true,
            } => {
                let b = base_reg(a, m);
                a.line(format!("stlr {}, [{{{b}}}]", reg(v)));
            }
            BOp::CommitAdd { mem: m, val: v } => {
                let t = a.scratch();
                a.line(format!("ldr {{{t}}}, {}", mem(m)));
                a.line(format!("add {{{t}}}, {{{t}}}, {}", reg(v)));
                a.line(format!("str {{{t}}}, {}", mem(m)));
            }
            BOp::Memcpy { dst, src, len } => {
                let (ts, td, tl, tb) = (a.scratch(), a.scratch(), a.scratch(), a.scratch());
                for (t, m) in [(&ts, src), (&td, dst)] {
                    match &m.offset {
                        None => a.line(format!("mov {{{t}}}, {{{}}}", m.base)),
                        Some(off) => a.line(format!("add {{{t}}}, {{{}}}, {}", m.base, reg(off))),
                    }
                }
                a.line(format!("mov {{{tl}}}, {}", reg(len)));
                // 8-byte words while at least 8 bytes remain (aarch64 loads and stores of
                // normal memory need no alignment), then single bytes.
                let r = CopyRegs {
                    src: ts,
                    dst: td,
                    len: tl,
                    data: tb,
                };
                copy_loop(a, &Copy, &r, &[8]);
            }
        }
    }

    fn abort_handler(&self, a: &mut Asm) {
        a.line(".pushsection __rseq_failure, \"ax\"");
        // The signature word (`brk #0x45e0` on little-endian) right before abort_ip.
        a.line(".inst {sig}");
        a.line("6:");
        a.line("b {abort}");
        a.line(".popsection");
    }
}
