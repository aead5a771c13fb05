//! Instruction decoding for the verifier and the listing: each architecture's decoder
//! turns bytes into an architecture-neutral [`Insn`] that says what the rules need
//! (control flow and its target, whether it stores to memory, touches the stack pointer,
//! or is privileged) plus its text for display.
//!
//! x86_64 uses `iced-x86`; aarch64 uses `yaxpeax-arm`, a pure-Rust decoder without
//! `unsafe` or C dependencies that is fuzzed against the architecture reference and kept
//! up to date with new extensions (`bad64` wraps a C decoder; `disarm64` is younger and
//! less used).

mod aarch64;
mod x86_64;

use serde::Serialize;

use super::image::Machine;

/// Where control goes after an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "target")]
pub enum Flow {
    /// Falls through to the next instruction.
    Next,
    /// Unconditional direct branch.
    Jump(u64),
    /// Conditional direct branch (falls through otherwise).
    CondJump(u64),
    /// Branch to an address held in a register or memory.
    IndirectJump,
    /// Call (direct or indirect).
    Call,
    /// Return from a function or exception.
    Return,
    /// System call or software interrupt (`syscall`, `int`, `svc`).
    Syscall,
    /// An instruction that always traps (`ud2`, `int3`, `brk`, `udf`).
    Trap,
}

impl Flow {
    /// The direct branch target, if any.
    pub fn target(self) -> Option<u64> {
        match self {
            Flow::Jump(t) | Flow::CondJump(t) => Some(t),
            _ => None,
        }
    }
}

/// One decoded instruction.
#[derive(Debug, Clone)]
pub struct Insn {
    /// Address of the first byte.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// Mnemonic and operands (Intel syntax on x86_64).
    pub text: String,
    /// Control flow.
    pub flow: Flow,
    /// Writes memory other than through a push.
    pub is_store: bool,
    /// Pushes, pops or otherwise changes the stack pointer.
    pub stack_op: bool,
    /// Privileged or system-level (`hlt`, `wrmsr`, `msr`, `eret`, `hvc`, ...).
    pub privileged: bool,
    /// An address the instruction computes or accesses PC-relatively (`lea [rip+x]`,
    /// `adr`, `adrp`), which is how code takes the address of a descriptor.
    pub pc_address: Option<u64>,
    /// Stores to the thread pointer's segment (`mov fs:[...]`), as the descriptor store does.
    pub tls_store: bool,
}

impl Insn {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(u64::from(self.len))
    }
}

/// A decoder for one architecture, reused across instructions.
pub enum Disassembler {
    /// x86_64.
    X86_64(Box<x86_64::X86Decoder>),
    /// aarch64.
    Aarch64(aarch64::A64Decoder),
}

impl Disassembler {
    /// A decoder for `arch`.
    pub fn new(arch: Machine) -> Self {
        match arch {
            Machine::X86_64 => Disassembler::X86_64(Box::default()),
            Machine::Aarch64 => Disassembler::Aarch64(aarch64::A64Decoder::default()),
        }
    }

    /// Decodes the instruction at the start of `bytes`, which sit at `addr`; `None` when
    /// the bytes are not a valid instruction (or are cut short).
    pub fn decode(&mut self, bytes: &[u8], addr: u64) -> Option<Insn> {
        match self {
            Disassembler::X86_64(d) => d.decode(bytes, addr),
            Disassembler::Aarch64(d) => d.decode(bytes, addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (encoding, text start, flow, store, stack, privileged)
    type Case<'a> = (&'a [u8], &'a str, Flow, bool, bool, bool);

    fn check(arch: Machine, cases: &[Case<'_>]) {
        let mut dis = Disassembler::new(arch);
        for &(bytes, text, flow, store, stack, privileged) in cases {
            let insn = dis.decode(bytes, 0x1000).expect("decodes");
            assert!(insn.text.starts_with(text), "{} vs {text}", insn.text);
            assert_eq!(insn.len as usize, bytes.len(), "{text}");
            assert_eq!(
                (insn.flow, insn.is_store, insn.stack_op, insn.privileged),
                (flow, store, stack, privileged),
                "{text}"
            );
        }
    }

    #[test]
    fn x86_64_instructions_are_classified_for_the_rules() {
        check(
            Machine::X86_64,
            &[
                (
                    &[0x48, 0x89, 0x17],
                    "mov [rdi], rdx",
                    Flow::Next,
                    true,
                    false,
                    false,
                ),
                (
                    &[0x48, 0x01, 0x06],
                    "add [rsi], rax",
                    Flow::Next,
                    true,
                    false,
                    false,
                ),
                (
                    &[0x48, 0x8b, 0x07],
                    "mov rax, [rdi]",
                    Flow::Next,
                    false,
                    false,
                    false,
                ),
                (&[0x53], "push rbx", Flow::Next, false, true, false),
                (
                    &[0x48, 0x83, 0xec, 0x08],
                    "sub rsp, 8",
                    Flow::Next,
                    false,
                    true,
                    false,
                ),
                (
                    &[0x48, 0x8d, 0x64, 0x24, 0x08],
                    "lea rsp",
                    Flow::Next,
                    false,
                    true,
                    false,
                ),
                (&[0x0f, 0x05], "syscall", Flow::Syscall, false, false, false),
                (
                    &[0xcd, 0x80],
                    "int 0x80",
                    Flow::Syscall,
                    false,
                    false,
                    false,
                ),
                (&[0xe8, 0, 0, 0, 0], "call", Flow::Call, false, true, false),
                (&[0xc3], "ret", Flow::Return, false, true, false),
                (
                    &[0xff, 0xe0],
                    "jmp rax",
                    Flow::IndirectJump,
                    false,
                    false,
                    false,
                ),
                (
                    &[0x75, 0x10],
                    "jne",
                    Flow::CondJump(0x1012),
                    false,
                    false,
                    false,
                ),
                (
                    &[0xeb, 0xfe],
                    "jmp",
                    Flow::Jump(0x1000),
                    false,
                    false,
                    false,
                ),
                (&[0xf4], "hlt", Flow::Next, false, false, true),
                (&[0x0f, 0x0b], "ud2", Flow::Trap, false, false, false),
            ],
        );
        let mut dis = Disassembler::new(Machine::X86_64);
        // lea rax, [rip+0x10]: the address a descriptor store starts from.
        let lea = dis
            .decode(&[0x48, 0x8d, 0x05, 0x10, 0, 0, 0], 0x1000)
            .unwrap();
        assert_eq!(lea.pc_address, Some(0x1017));
        // mov fs:[rdx+8], rax: the store into rseq->rseq_cs.
        let store = dis.decode(&[0x64, 0x48, 0x89, 0x42, 0x08], 0x1000).unwrap();
        assert!(store.tls_store && store.is_store);
        assert!(
            dis.decode(&[0x06], 0x1000).is_none(),
            "push es is invalid in 64-bit mode"
        );
    }

    #[test]
    fn aarch64_instructions_are_classified_for_the_rules() {
        let cases: &[(u32, &str, Flow, bool, bool, bool)] = &[
            (0xf900_0002, "str x2, [x0]", Flow::Next, true, false, false),
            (0xc89f_fc02, "stlr x2, [x0]", Flow::Next, true, false, false),
            (
                0xf940_07e0,
                "ldr x0, [sp, #0x8]",
                Flow::Next,
                false,
                false,
                false,
            ),
            (
                0xd100_43ff,
                "sub sp, sp, #0x10",
                Flow::Next,
                false,
                true,
                false,
            ),
            (
                0xa9bf_7bfd,
                "stp x29, x30, [sp, #-0x10]!",
                Flow::Next,
                true,
                true,
                false,
            ),
            (0xd400_0001, "svc", Flow::Syscall, false, false, false),
            (0x9400_0000, "bl", Flow::Call, false, false, false),
            (0xd65f_03c0, "ret", Flow::Return, false, false, false),
            (
                0xd61f_0180,
                "br x12",
                Flow::IndirectJump,
                false,
                false,
                false,
            ),
            (
                0x5400_0101,
                "b.ne",
                Flow::CondJump(0x1020),
                false,
                false,
                false,
            ),
            (0xd51b_d040, "msr", Flow::Next, false, false, true),
            (0xd428_bc00, "brk", Flow::Trap, false, false, false),
        ];
        for &(word, text, flow, store, stack, privileged) in cases {
            let bytes = word.to_le_bytes();
            check(
                Machine::Aarch64,
                &[(&bytes, text, flow, store, stack, privileged)],
            );
        }
    }
}
