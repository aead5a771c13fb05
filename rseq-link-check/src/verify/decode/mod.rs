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
