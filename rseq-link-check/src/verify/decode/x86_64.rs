//! x86_64 decoding with `iced-x86`.

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Formatter, InstructionInfoFactory, IntelFormatter,
    Mnemonic, OpAccess, Register,
};

use super::{Flow, Insn};

/// Decoder, formatter and instruction-info factory, kept together to be reused.
pub struct X86Decoder {
    formatter: IntelFormatter,
    info: InstructionInfoFactory,
    text: String,
}

impl Default for X86Decoder {
    fn default() -> Self {
        let mut formatter = IntelFormatter::new();
        let options = formatter.options_mut();
        options.set_hex_prefix("0x");
        options.set_hex_suffix("");
        options.set_uppercase_hex(false);
        options.set_space_after_operand_separator(true);
        options.set_show_branch_size(false);
        options.set_branch_leading_zeros(false);
        options.set_rip_relative_addresses(true);
        X86Decoder {
            formatter,
            info: InstructionInfoFactory::new(),
            text: String::new(),
        }
    }
}

fn is_write(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

impl X86Decoder {
    /// Decodes the first instruction of `bytes`, located at `addr`.
    pub fn decode(&mut self, bytes: &[u8], addr: u64) -> Option<Insn> {
        let mut decoder = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
        if !decoder.can_decode() {
            return None;
        }
        let instr = decoder.decode();
        if instr.is_invalid() {
            return None;
        }
        let mnemonic = instr.mnemonic();
        let flow = match instr.flow_control() {
            FlowControl::Next | FlowControl::XbeginXabortXend => Flow::Next,
            FlowControl::UnconditionalBranch => Flow::Jump(instr.near_branch_target()),
            FlowControl::ConditionalBranch => Flow::CondJump(instr.near_branch_target()),
            FlowControl::IndirectBranch => Flow::IndirectJump,
            FlowControl::Return => Flow::Return,
            FlowControl::Call | FlowControl::IndirectCall => {
                if matches!(mnemonic, Mnemonic::Syscall | Mnemonic::Sysenter) {
                    Flow::Syscall
                } else {
                    Flow::Call
                }
            }
            FlowControl::Interrupt => match mnemonic {
                Mnemonic::Int3 | Mnemonic::Int1 => Flow::Trap,
                _ => Flow::Syscall,
            },
            FlowControl::Exception => Flow::Trap,
        };
        let flow = match mnemonic {
            Mnemonic::Syscall | Mnemonic::Sysenter | Mnemonic::Sysexit | Mnemonic::Sysret => {
                Flow::Syscall
            }
            _ => flow,
        };

        let info = self.info.info(&instr);
        let is_store = info.used_memory().iter().any(|m| is_write(m.access()));
        let writes_sp = info.used_registers().iter().any(|r| {
            matches!(r.register(), Register::RSP | Register::ESP | Register::SP)
                && is_write(r.access())
        });
        let stack_op = instr.is_stack_instruction() || writes_sp;
        let privileged = instr.is_privileged();
        let pc_address = instr
            .is_ip_rel_memory_operand()
            .then(|| instr.ip_rel_memory_address());
        let tls_store = is_store && instr.memory_segment() == Register::FS;

        self.text.clear();
        self.formatter.format(&instr, &mut self.text);
        Some(Insn {
            addr,
            len: instr.len() as u32,
            text: self.text.clone(),
            flow,
            is_store: is_store && !instr.is_stack_instruction(),
            stack_op,
            privileged,
            pc_address,
            tls_store,
        })
    }
}
