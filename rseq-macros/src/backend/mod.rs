//! Code generation shared by every architecture, and the one trait each architecture
//! implements.
//!
//! A section is emitted as one inline-assembly template (a list of lines with `{operand}`
//! placeholders, the syntax of `core::arch::asm!`). This module writes the parts every
//! architecture shares, in this order:
//!
//! ```text
//!   .pushsection __rseq_cs, "aw"          ; struct rseq_cs, version 0, flags 0
//!   .balign 32
//! 3: .long 0, 0 ; .quad 4f, (5f - 4f), 6f
//!   .popsection
//!   .pushsection __rseq_cs_ptr_array, "awR"      ; SHF_GNU_RETAIN: survives --gc-sections
//!   .quad 3b
//!   .pushsection __rseq_cs_function, "awR"       ; the source function, also when inlined
//!   .quad 3b ; .asciz "path::to::function" ; .balign 8
//!   .pushsection __rseq_exit_point_array, "awR"  ; one (start_ip, exit_ip) per early exit
//!   .quad 4f, {exitN}
//!   <arm: store &3b into rseq.rseq_cs>            ; Arch::arm
//! 4:                                              ; start_ip
//!   <compare rseq.cpu_id (or mm_cid) with {idx}>  ; Arch::check_index
//!   <loads, early exits, speculative stores, copies>
//!   <the commit store>
//! 5:                                              ; post_commit_ip
//!   .pushsection __rseq_failure, "ax"
//!   <signature> 6: <jump to {abort}>              ; Arch::abort_handler (abort_ip = 6)
//! ```
//!
//! Labels are numeric local labels (Rust rejects named labels in `asm!`, and on x86 labels
//! made only of the digits 0 and 1): each inlined or duplicated copy of the block defines its
//! own, so every copy gets its own descriptor.
//!
//! Operands the templates use: `{area}` (x86_64: `area_offset()`, used as `%fs:F({area})`;
//! elsewhere the `area()` pointer), `{idx}` (the index read before the section), `const`
//! operands `{rseq_cs}` and `{field}` (offsets in `struct rseq`) and `{sig}` (`RSEQ_SIG`),
//! labels `{abort}` and `{exitN}`, and per section the inputs, scratch registers (general and,
//! on x86_64, `xmm` for copies) and literal registers the backend asks for.

pub(crate) mod aarch64;
pub(crate) mod copy;
pub(crate) mod riscv64;
pub(crate) mod x86_64;

#[cfg(test)]
mod tests;

/// A value in the section: a register operand (by operand name) or an immediate.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// A register operand, by name.
    Reg(String),
    /// An immediate the architecture accepted with [`Arch::imm_ok`].
    Imm(i64),
}

/// An address: a base register plus an optional register or immediate offset in bytes.
#[derive(Clone, Debug)]
pub(crate) struct Mem {
    pub(crate) base: String,
    pub(crate) offset: Option<Val>,
}

/// One operation of the section, in backend terms.
#[derive(Clone, Debug)]
pub(crate) enum BOp {
    /// `dst = *mem`.
    Load { dst: String, mem: Mem },
    /// Branch to `label` when `lhs == rhs` (`eq`) or `lhs != rhs`.
    Exit {
        lhs: Val,
        rhs: Val,
        eq: bool,
        label: String,
    },
    /// `*mem = val` (speculative).
    Store { mem: Mem, val: Val },
    /// Copy `len` bytes from `src` to `dst`.
    Memcpy { dst: Mem, src: Mem, len: Val },
    /// The commit: `*mem = val` (`release`: store-release).
    Commit { mem: Mem, val: Val, release: bool },
    /// The commit: `*mem += val`.
    CommitAdd { mem: Mem, val: Val },
}

/// The template being built and the scratch registers it uses.
#[derive(Default, Debug)]
pub(crate) struct Asm {
    /// Template lines (`asm!` syntax).
    pub(crate) lines: Vec<String>,
    /// Names of scratch register operands (`out(reg) _`).
    pub(crate) scratch: Vec<String>,
    /// Names of vector scratch register operands (x86_64: `out(xmm_reg) _`).
    pub(crate) vector_scratch: Vec<String>,
}

impl Asm {
    /// Appends one template line.
    pub(crate) fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    /// A new scratch register operand.
    pub(crate) fn scratch(&mut self) -> String {
        let name = format!("tmp{}", self.scratch.len());
        self.scratch.push(name.clone());
        name
    }

    /// A new vector scratch register operand (16 bytes).
    pub(crate) fn vector_scratch(&mut self) -> String {
        let name = format!("vtmp{}", self.vector_scratch.len());
        self.vector_scratch.push(name.clone());
        name
    }
}

/// The primitives one architecture provides (librseq's per-architecture set).
pub(crate) trait Arch {
    /// The `target_arch` this backend is for.
    fn target_arch(&self) -> &'static str;
    /// Whether the template uses AT&T syntax (`options(att_syntax)`).
    fn att_syntax(&self) -> bool;
    /// Whether `v` can be an immediate operand of compares, stores, adds and address offsets.
    fn imm_ok(&self, v: i64) -> bool;
    /// Directives opening the template (assembler options for the whole section).
    fn begin(&self, _a: &mut Asm) {}
    /// Directives closing the template.
    fn end(&self, _a: &mut Asm) {}
    /// Stores the descriptor's address (label `3b`) into `rseq.rseq_cs`.
    fn arm(&self, a: &mut Asm);
    /// The first instruction(s) of the section: compare the area's `{field}` with `{idx}`
    /// and branch to `{abort}` when they differ.
    fn check_index(&self, a: &mut Asm);
    /// Emits one operation.
    fn op(&self, a: &mut Asm, op: &BOp);
    /// The signature, label `6` (abort_ip), and a jump to `{abort}`; in `__rseq_failure`.
    fn abort_handler(&self, a: &mut Asm);
}

/// The section naming the source function of each descriptor: records of the descriptor's
/// address (8 bytes), the function's path as a NUL-terminated string, padding to 8 bytes.
pub(crate) const FUNCTION_SECTION: &str = "__rseq_cs_function";

/// The template line holding the source function's name in its [`FUNCTION_SECTION`]
/// record (`expand` turns it into `concat!` with the caller's `module_path!()`).
pub(crate) fn function_name_line(function: &str) -> String {
    format!(".asciz \"{function}\"")
}

/// Builds the whole template of one section of the function `function`.
pub(crate) fn section(arch: &dyn Arch, ops: &[BOp], exits: &[String], function: &str) -> Asm {
    let mut a = Asm::default();
    arch.begin(&mut a);
    a.line(".pushsection __rseq_cs, \"aw\"");
    a.line(".balign 32");
    a.line("3:");
    a.line(".long 0, 0");
    a.line(".quad 4f, (5f - 4f), 6f");
    a.line(".popsection");
    a.line(".pushsection __rseq_cs_ptr_array, \"awR\"");
    a.line(".quad 3b");
    a.line(".popsection");
    // Which function the section came from, also once it is inlined into another.
    a.line(format!(".pushsection {FUNCTION_SECTION}, \"awR\""));
    a.line(".balign 8");
    a.line(".quad 3b");
    a.line(function_name_line(function));
    a.line(".balign 8");
    a.line(".popsection");
    if !exits.is_empty() {
        a.line(".pushsection __rseq_exit_point_array, \"awR\"");
        for e in exits {
            a.line(format!(".quad 4f, {{{e}}}"));
        }
        a.line(".popsection");
    }
    arch.arm(&mut a);
    a.line("4:");
    arch.check_index(&mut a);
    for op in ops {
        arch.op(&mut a, op);
    }
    a.line("5:");
    arch.abort_handler(&mut a);
    arch.end(&mut a);
    a
}

/// Replaces every `{name}` / `{name:modifier}` placeholder of `template` with what `f`
/// returns for it (used to feed rendered text to an assembler in tests).
#[cfg(test)]
pub(crate) fn render(template: &[String], f: &dyn Fn(&str, Option<&str>) -> String) -> String {
    let mut out = String::new();
    for line in template {
        let mut rest = line.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').expect("placeholder closes") + open;
            let inner = &rest[open + 1..close];
            let (name, modifier) = match inner.split_once(':') {
                Some((n, m)) => (n, Some(m)),
                None => (inner, None),
            };
            out.push_str(&f(name, modifier));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}
