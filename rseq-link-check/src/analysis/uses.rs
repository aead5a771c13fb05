//! Whether a module itself uses an object it defines, when no dynamic symbol relocation
//! says so: a relative relocation pointing into it (a GOT entry or a pointer in data), or an
//! instruction addressing it (a RIP-relative or absolute operand, an address immediate, a direct call or jump).
//! Thread-local definitions are always taken as used: their accesses leave no address to
//! find (local-exec code holds a thread-pointer offset).

use iced_x86::{Decoder, DecoderOptions, OpKind};

use crate::elf::{ElfFile, Machine};

/// True when `file` may use its own non-TLS object at `[value, value + size)`.
///
/// On aarch64, where an address is built by instruction pairs (`adrp` + `add`), the code is
/// not decoded and the answer is always true.
pub(super) fn uses_own_object(file: &ElfFile, value: u64, size: u64) -> bool {
    let end = value.saturating_add(size.max(1));
    let inside = |a: u64| a >= value && a < end;
    if file
        .dynamic_relocations()
        .iter()
        .any(|r| r.r_sym == 0 && inside(r.r_addend as u64))
    {
        return true;
    }
    if file.machine != Machine::X86_64 {
        return true;
    }
    for section in file.sections().iter().filter(|s| s.is_execinstr()) {
        let Ok(bytes) = file.section_data(section) else {
            continue;
        };
        let mut decoder = Decoder::with_ip(64, bytes, section.sh_addr, DecoderOptions::NONE);
        for insn in &mut decoder {
            if insn.is_invalid() {
                continue;
            }
            for i in 0..insn.op_count() {
                let hit = match insn.op_kind(i) {
                    OpKind::Memory if insn.is_ip_rel_memory_operand() => {
                        inside(insn.ip_rel_memory_address())
                    }
                    OpKind::Memory => {
                        insn.memory_base() == iced_x86::Register::None
                            && insn.memory_index() == iced_x86::Register::None
                            && inside(insn.memory_displacement64())
                    }
                    OpKind::Immediate32 | OpKind::Immediate32to64 | OpKind::Immediate64 => {
                        inside(insn.immediate(i))
                    }
                    OpKind::NearBranch64 => inside(insn.near_branch_target()),
                    _ => false,
                };
                if hit {
                    return true;
                }
            }
        }
    }
    false
}
