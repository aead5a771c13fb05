//! Applies the relocations the verifier needs to the bytes of an [`Image`].
//!
//! - Position-independent executables and shared objects store the words of
//!   `__rseq_cs`, `__rseq_cs_ptr_array` and `__rseq_exit_point_array` as dynamic
//!   `R_X86_64_RELATIVE` / `R_AARCH64_RELATIVE` relocations whose addend is the link-time
//!   value; the file holds zeros there (RELA) and the addend is written in. Packed `RELR`
//!   relocations and `REL` keep the value in place, which needs nothing.
//! - Relocatable objects carry ordinary relocations against section symbols and other
//!   symbols: data words (`R_X86_64_64`, `R_AARCH64_ABS64`), and in code the PC-relative
//!   fields of branches and address computations, which are resolved against the
//!   synthetic section layout so that a branch to another section lands where it points.
//!   A relocation against an undefined symbol is left as zero and recorded in
//!   [`Image::unresolved`].
//!
//! Relocation types the verifier does not need (TLS, GOT-indirect loads) are left alone.

use super::{is_rseq_section, Image, Machine};
use crate::elf::consts as elf;
use crate::elf::ElfFile;
use crate::error::Error;

/// Fills the `__rseq_*` sections of an executable or shared object from its dynamic
/// `R_*_RELATIVE` relocations.
pub(crate) fn apply_dynamic_relocations<'d>(image: &mut Image<'d>, file: &ElfFile<&'d [u8]>) {
    let relative = match image.arch {
        Machine::X86_64 => elf::R_X86_64_RELATIVE,
        Machine::Aarch64 => elf::R_AARCH64_RELATIVE,
    };
    for reloc in file.dynamic_relocations() {
        // REL keeps the value in place; only RELA needs the addend written in.
        if reloc.r_type != relative || reloc.implicit_addend {
            continue;
        }
        let addr = reloc.r_offset;
        let Some(region) = image
            .regions
            .iter_mut()
            .find(|r| r.contains(addr) && is_rseq_section(&r.name))
        else {
            continue;
        };
        let Ok(offset) = usize::try_from(addr - region.addr) else {
            continue;
        };
        let value = reloc.r_addend as u64;
        if let Some(place) = region
            .data
            .to_mut()
            .get_mut(offset..)
            .and_then(|s| s.get_mut(..8))
        {
            place.copy_from_slice(&value.to_le_bytes());
        }
    }
}

/// Applies the ordinary relocations of every allocated section of a `.o` file against the
/// synthetic layout of [`Image::parse`].
pub(crate) fn apply_object_relocations<'d>(
    image: &mut Image<'d>,
    file: &ElfFile<&'d [u8]>,
) -> Result<(), Error> {
    let arch = image.arch;
    for section in file.sections() {
        let index = section.index;
        let relocations = file.section_relocations(index)?;
        let Some(base) = image.section_addr(index) else {
            continue;
        };
        for reloc in relocations {
            let r_type = reloc.r_type;
            let offset = reloc.r_offset;
            let place_addr = base.wrapping_add(offset);
            let s = match image.resolve_target(file, reloc.r_sym) {
                Ok(s) => s,
                Err(name) => {
                    image.unresolved.insert(place_addr, name);
                    continue;
                }
            };
            let addend = reloc.r_addend;
            let Some(place) = image.patch_site(index, offset) else {
                continue;
            };
            let value = s.wrapping_add(addend as u64);
            let pcrel = value.wrapping_sub(place_addr);
            match arch {
                Machine::X86_64 => apply_x86_64(place, r_type, value, pcrel),
                Machine::Aarch64 => apply_aarch64(place, r_type, value, place_addr),
            }
        }
    }
    Ok(())
}

fn write<const N: usize>(place: &mut [u8], bytes: [u8; N]) {
    if let Some(dst) = place.get_mut(..N) {
        dst.copy_from_slice(&bytes);
    }
}

fn apply_x86_64(place: &mut [u8], r_type: u32, value: u64, pcrel: u64) {
    match r_type {
        elf::R_X86_64_64 => write(place, value.to_le_bytes()),
        elf::R_X86_64_PC64 => write(place, pcrel.to_le_bytes()),
        elf::R_X86_64_32 | elf::R_X86_64_32S => write(place, (value as u32).to_le_bytes()),
        // GOT-relative forms are resolved as if the linker had relaxed them to direct
        // references, which is what the listing wants to show.
        elf::R_X86_64_PC32
        | elf::R_X86_64_PLT32
        | elf::R_X86_64_GOTPCREL
        | elf::R_X86_64_GOTPCRELX
        | elf::R_X86_64_REX_GOTPCRELX => write(place, (pcrel as u32).to_le_bytes()),
        _ => {}
    }
}

fn patch_insn(place: &mut [u8], f: impl FnOnce(u32) -> u32) {
    let Some(bytes) = place.get(..4) else { return };
    let Ok(word) = <[u8; 4]>::try_from(bytes) else {
        return;
    };
    write(place, f(u32::from_le_bytes(word)).to_le_bytes());
}

fn apply_aarch64(place: &mut [u8], r_type: u32, value: u64, place_addr: u64) {
    let pcrel = value.wrapping_sub(place_addr);
    // Field of `bits` bits at bit `shift` of the instruction word.
    let field = |word: u32, v: u64, bits: u32, shift: u32| {
        let mask = ((1u64 << bits) - 1) as u32;
        (word & !(mask << shift)) | (((v as u32) & mask) << shift)
    };
    let adr_imm = |word: u32, imm: u64| {
        let word = field(word, imm & 3, 2, 29);
        field(word, imm >> 2, 19, 5)
    };
    match r_type {
        elf::R_AARCH64_ABS64 => write(place, value.to_le_bytes()),
        elf::R_AARCH64_ABS32 => write(place, (value as u32).to_le_bytes()),
        elf::R_AARCH64_PREL64 => write(place, pcrel.to_le_bytes()),
        elf::R_AARCH64_PREL32 => write(place, (pcrel as u32).to_le_bytes()),
        elf::R_AARCH64_ADR_PREL_LO21 => patch_insn(place, |w| adr_imm(w, pcrel)),
        elf::R_AARCH64_ADR_PREL_PG_HI21 | elf::R_AARCH64_ADR_PREL_PG_HI21_NC => {
            let page = (value & !0xfff).wrapping_sub(place_addr & !0xfff);
            patch_insn(place, |w| adr_imm(w, page >> 12))
        }
        elf::R_AARCH64_ADD_ABS_LO12_NC | elf::R_AARCH64_LDST8_ABS_LO12_NC => {
            patch_insn(place, |w| field(w, value & 0xfff, 12, 10))
        }
        elf::R_AARCH64_LDST16_ABS_LO12_NC => {
            patch_insn(place, |w| field(w, (value & 0xfff) >> 1, 12, 10))
        }
        elf::R_AARCH64_LDST32_ABS_LO12_NC => {
            patch_insn(place, |w| field(w, (value & 0xfff) >> 2, 12, 10))
        }
        elf::R_AARCH64_LDST64_ABS_LO12_NC => {
            patch_insn(place, |w| field(w, (value & 0xfff) >> 3, 12, 10))
        }
        elf::R_AARCH64_LDST128_ABS_LO12_NC => {
            patch_insn(place, |w| field(w, (value & 0xfff) >> 4, 12, 10))
        }
        elf::R_AARCH64_TSTBR14 => patch_insn(place, |w| field(w, pcrel >> 2, 14, 5)),
        elf::R_AARCH64_CONDBR19 => patch_insn(place, |w| field(w, pcrel >> 2, 19, 5)),
        elf::R_AARCH64_JUMP26 | elf::R_AARCH64_CALL26 => {
            patch_insn(place, |w| field(w, pcrel >> 2, 26, 0))
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::decode::{Disassembler, Flow};

    /// Applies one aarch64 relocation to `word` at `place` and decodes the result.
    fn patched(word: u32, r_type: u32, value: u64, place: u64) -> crate::verify::decode::Insn {
        let mut bytes = word.to_le_bytes();
        apply_aarch64(&mut bytes, r_type, value, place);
        Disassembler::new(Machine::Aarch64)
            .decode(&bytes, place)
            .expect("decodes")
    }

    #[test]
    fn aarch64_branch_fields_reach_their_targets() {
        // b .+0 (0x14000000), b.ne .+0 (0x54000001), cbz x0, .+0 (0xb4000000),
        // tbz w0, #0, .+0 (0x36000000), bl .+0 (0x94000000).
        let place = 0x1000;
        for (word, r_type, target, cond) in [
            (0x1400_0000, elf::R_AARCH64_JUMP26, 0x2_0000, false),
            (0x5400_0001, elf::R_AARCH64_CONDBR19, 0x800, true),
            (0xb400_0000, elf::R_AARCH64_CONDBR19, 0x1ffc, true),
            (0x3600_0000, elf::R_AARCH64_TSTBR14, 0x1100, true),
        ] {
            let insn = patched(word, r_type, target, place);
            let want = if cond {
                Flow::CondJump(target)
            } else {
                Flow::Jump(target)
            };
            assert_eq!(insn.flow, want, "{}", insn.text);
        }
        let call = patched(0x9400_0000, elf::R_AARCH64_CALL26, 0x4000, place);
        assert_eq!(call.flow, Flow::Call);
    }

    #[test]
    fn aarch64_adrp_and_add_compute_the_address() {
        // adrp x9, .+0 (0x90000009); add x9, x9, #0 (0x91000129).
        let target = 0x0004_2468u64;
        let adrp = patched(0x9000_0009, elf::R_AARCH64_ADR_PREL_PG_HI21, target, 0x1234);
        assert_eq!(adrp.pc_address, Some(target & !0xfff));
        let mut add = 0x9100_0129u32.to_le_bytes();
        apply_aarch64(&mut add, elf::R_AARCH64_ADD_ABS_LO12_NC, target, 0x1238);
        assert_eq!((u32::from_le_bytes(add) >> 10) & 0xfff, 0x468);
    }

    #[test]
    fn x86_64_pc_relative_and_absolute_fields() {
        let mut place = [0u8; 8];
        apply_x86_64(
            &mut place,
            elf::R_X86_64_PC32,
            0x2000,
            0x2000u64.wrapping_sub(0x1000),
        );
        assert_eq!(u32::from_le_bytes(place[..4].try_into().unwrap()), 0x1000);
        apply_x86_64(&mut place, elf::R_X86_64_64, 0x1122_3344_5566, 0);
        assert_eq!(u64::from_le_bytes(place), 0x1122_3344_5566);
        // A place cut short is left alone rather than written out of bounds.
        let mut short = [0u8; 3];
        apply_x86_64(&mut short, elf::R_X86_64_PC32, 1, 1);
        assert_eq!(short, [0; 3]);
    }
}
