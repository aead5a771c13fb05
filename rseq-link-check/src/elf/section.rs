//! Section headers (`Elf64_Shdr`): each section's name, type, flags, address, size and where
//! its contents lie in the file, read once when the file is parsed.

use std::ops::Range;

use object::elf;

/// One section header, with its name resolved through `.shstrtab`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHeader {
    /// Index in the section header table (0 is the null section).
    pub index: usize,
    /// The name, `None` when its `sh_name` offset or its bytes are not valid.
    pub name: Option<String>,
    /// `sh_type` (`SHT_*`).
    pub sh_type: u32,
    /// `sh_flags` (`SHF_*`).
    pub sh_flags: u64,
    /// `sh_addr`: the address at run time (0 in relocatable objects).
    pub sh_addr: u64,
    /// `sh_size`: the size in memory.
    pub sh_size: u64,
    /// `sh_addralign`.
    pub sh_addralign: u64,
    /// `sh_link`.
    pub sh_link: u32,
    /// `sh_info`.
    pub sh_info: u32,
    /// Byte range of the contents in the file: empty for `SHT_NOBITS`, `None` when the
    /// header points outside the file.
    pub(super) contents: Option<Range<usize>>,
}

impl SectionHeader {
    /// The name, or `""` when it cannot be read.
    pub fn name_or_empty(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// `SHF_ALLOC`: the section occupies memory at run time.
    pub fn is_alloc(&self) -> bool {
        self.sh_flags & u64::from(elf::SHF_ALLOC) != 0
    }

    /// `SHF_EXECINSTR`: the section holds instructions.
    pub fn is_execinstr(&self) -> bool {
        self.sh_flags & u64::from(elf::SHF_EXECINSTR) != 0
    }

    /// `SHF_GNU_RETAIN`: `--gc-sections` must keep the section.
    pub fn is_retain(&self) -> bool {
        self.sh_flags & u64::from(elf::SHF_GNU_RETAIN) != 0
    }

    /// `SHT_REL` or `SHT_RELA`: the section holds relocations.
    pub fn is_relocation(&self) -> bool {
        matches!(self.sh_type, elf::SHT_REL | elf::SHT_RELA)
    }
}
