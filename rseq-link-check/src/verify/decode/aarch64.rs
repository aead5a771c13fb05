//! aarch64 decoding with `yaxpeax-arm`.

use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{InstDecoder, Instruction, Opcode, Operand};

use super::{Flow, Insn};

/// The A64 decoder.
#[derive(Default)]
pub struct A64Decoder {
    decoder: InstDecoder,
}

/// Register 31 used as a base or destination means `sp`.
const SP: u16 = 31;

fn pc_offset(instr: &Instruction) -> Option<i64> {
    instr.operands.iter().find_map(|op| match op {
        Operand::PCOffset(off) => Some(*off),
        _ => None,
    })
}

fn is_store(opcode: Opcode) -> bool {
    let name = format!("{opcode:?}");
    let base = name.split('(').next().unwrap_or("");
    (base.starts_with("ST") && !base.starts_with("STG") && base != "STGM")
        || [
            "SWP", "CAS", "LDADD", "LDCLR", "LDEOR", "LDSET", "LDSMAX", "LDSMIN", "LDUMAX",
            "LDUMIN",
        ]
        .iter()
        .any(|p| base.starts_with(p))
}

impl A64Decoder {
    /// Decodes the instruction word at the start of `bytes`, located at `addr`.
    pub fn decode(&mut self, bytes: &[u8], addr: u64) -> Option<Insn> {
        let word = bytes.get(..4)?;
        let mut reader = U8Reader::new(word);
        let instr: Instruction = self.decoder.decode(&mut reader).ok()?;
        let target =
            |instr: &Instruction| pc_offset(instr).map(|off| addr.wrapping_add(off as u64));
        let flow = match instr.opcode {
            Opcode::B => target(&instr).map_or(Flow::IndirectJump, Flow::Jump),
            Opcode::Bcc(_) | Opcode::CBZ | Opcode::CBNZ | Opcode::TBZ | Opcode::TBNZ => {
                target(&instr).map_or(Flow::IndirectJump, Flow::CondJump)
            }
            Opcode::BR | Opcode::BRAA | Opcode::BRAAZ | Opcode::BRAB | Opcode::BRABZ => {
                Flow::IndirectJump
            }
            Opcode::BL
            | Opcode::BLR
            | Opcode::BLRAA
            | Opcode::BLRAAZ
            | Opcode::BLRAB
            | Opcode::BLRABZ => Flow::Call,
            Opcode::RET | Opcode::RETAA | Opcode::RETAB => Flow::Return,
            Opcode::ERET | Opcode::ERETAA | Opcode::ERETAB => Flow::Return,
            Opcode::SVC => Flow::Syscall,
            Opcode::BRK | Opcode::HLT | Opcode::UDF => Flow::Trap,
            _ => Flow::Next,
        };
        let privileged = matches!(
            instr.opcode,
            Opcode::HVC
                | Opcode::SMC
                | Opcode::ERET
                | Opcode::ERETAA
                | Opcode::ERETAB
                | Opcode::DCPS1
                | Opcode::DCPS2
                | Opcode::DCPS3
                | Opcode::MSR
                | Opcode::SYS(_)
                | Opcode::SYSL(_)
        );
        let store = is_store(instr.opcode);
        let writeback_sp = instr.operands.iter().any(|op| {
            matches!(
                op,
                Operand::RegPreIndex(SP, _, true)
                    | Operand::RegPostIndex(SP, _)
                    | Operand::RegPostIndexReg(SP, _)
            )
        });
        let writes_sp = !store
            && !matches!(flow, Flow::CondJump(_))
            && matches!(instr.operands[0], Operand::RegisterOrSP(_, SP));
        let pc_address = match instr.opcode {
            Opcode::ADR => target(&instr),
            Opcode::ADRP => pc_offset(&instr).map(|off| (addr & !0xfff).wrapping_add(off as u64)),
            _ => None,
        };
        Some(Insn {
            addr,
            len: 4,
            text: instr.to_string(),
            flow,
            is_store: store,
            stack_op: writeback_sp || writes_sp,
            privileged,
            pc_address,
            tls_store: false,
        })
    }
}
