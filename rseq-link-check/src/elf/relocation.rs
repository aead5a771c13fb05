//! Relocation entries (`Elf64_Rel`, `Elf64_Rela`): those that apply to one section of a
//! relocatable object, and the dynamic relocations of a linked file.

use object::read::elf::{Rel as _, Rela as _};
use object::Endianness;

use super::{Rel, Rela};

/// One relocation entry, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relocation {
    /// `r_offset`: the place, as an offset in the section (objects) or an address (linked
    /// files).
    pub r_offset: u64,
    /// The machine relocation type (`R_X86_64_*`, `R_AARCH64_*`).
    pub r_type: u32,
    /// Index of the symbol in the linked symbol table; 0 for none (an absolute target).
    pub r_sym: u32,
    /// `r_addend` for `SHT_RELA`; 0 for `SHT_REL`, whose addend is in the place.
    pub r_addend: i64,
    /// True for `SHT_REL` entries, whose addend is stored in the place.
    pub implicit_addend: bool,
}

/// Decodes the entries of a `SHT_RELA` (or, with `is_rel`, `SHT_REL`) section; a section
/// whose size is not a whole number of entries has none.
pub(super) fn decode(bytes: &[u8], endian: Endianness, is_rel: bool) -> Vec<Relocation> {
    if is_rel {
        let rels: &[Rel] = object::pod::slice_from_all_bytes(bytes).unwrap_or_default();
        rels.iter()
            .map(|r| Relocation {
                r_offset: r.r_offset(endian),
                r_type: r.r_type(endian),
                r_sym: r.r_sym(endian),
                r_addend: 0,
                implicit_addend: true,
            })
            .collect()
    } else {
        let relas: &[Rela] = object::pod::slice_from_all_bytes(bytes).unwrap_or_default();
        relas
            .iter()
            .map(|r| Relocation {
                r_offset: r.r_offset(endian),
                r_type: r.r_type(endian, false),
                r_sym: r.r_sym(endian, false),
                r_addend: r.r_addend(endian),
                implicit_addend: false,
            })
            .collect()
    }
}
