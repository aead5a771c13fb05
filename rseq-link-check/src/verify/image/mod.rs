//! The loaded view of one ELF file that the verifier and the listing read: the bytes of
//! every allocated section at its run-time address with relocations applied, and the
//! function symbols that name addresses.
//!
//! Executables and shared objects are read at their link-time addresses; the words of the
//! `__rseq_*` sections of position-independent files are filled from their dynamic
//! `R_*_RELATIVE` relocations (the addend is the value). Relocatable `.o` files have no
//! addresses yet, so the allocated sections are laid out one after the other from 0 (as a
//! linker would, honouring alignment) and their ordinary relocations are applied against
//! that layout; see the `reloc` submodule.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

mod reloc;
use crate::elf::{ElfFile, Symbol as ElfSymbol, SymbolKind};
use crate::error::Error;

pub use crate::elf::{FileType, Machine};

/// The name of `machine` in reports.
pub fn machine_name(machine: Machine) -> &'static str {
    match machine {
        Machine::X86_64 => "x86_64",
        Machine::Aarch64 => "aarch64",
    }
}

/// The abort signature of `machine`: the value the kernel compares with the four bytes
/// before `abort_ip` (`RSEQ_SIG` of the kernel selftests and librseq, from
/// [`rseq_abi::abi::sig`]).
pub fn signature(machine: Machine) -> u32 {
    match machine {
        Machine::X86_64 => rseq_abi::abi::sig::X86,
        Machine::Aarch64 => rseq_abi::abi::sig::AARCH64,
    }
}

/// One allocated section at its address.
#[derive(Debug)]
pub struct Region<'d> {
    /// Section name (`.text`, `__rseq_cs`, ...).
    pub name: String,
    /// Run-time (or, for `.o` files, synthetic) address of the first byte.
    pub addr: u64,
    /// Size in memory.
    pub size: u64,
    /// File contents, relocated where needed; empty for `SHT_NOBITS`.
    pub data: Cow<'d, [u8]>,
    /// `SHF_EXECINSTR`.
    pub executable: bool,
    /// Index of the section in the file.
    pub index: usize,
}

impl Region<'_> {
    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }

    /// Whether `addr` lies inside the section.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.addr && addr < self.end()
    }
}

/// A named address: a function or other code symbol.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// Symbol name as stored (mangled).
    pub name: String,
    /// Address (synthetic for `.o` files).
    pub addr: u64,
    /// `st_size`, 0 when unknown.
    pub size: u64,
    /// `STT_FUNC`.
    pub is_function: bool,
}

/// An ELF file loaded for verification.
#[derive(Debug)]
pub struct Image<'d> {
    /// Instruction set.
    pub arch: Machine,
    /// File type (never [`FileType::Other`]: such files are refused).
    pub kind: FileType,
    /// Allocated sections, sorted by address.
    pub regions: Vec<Region<'d>>,
    /// Code symbols sorted by address.
    pub symbols: Vec<Symbol>,
    /// Relocated places whose symbol is undefined in this file (`.o` only): address → name.
    pub unresolved: BTreeMap<u64, String>,
}

/// Names of the sections that hold critical-section metadata.
pub mod names {
    /// The descriptors (`struct rseq_cs`).
    pub const RSEQ_CS: &str = "__rseq_cs";
    /// One pointer to each descriptor.
    pub const RSEQ_CS_PTR_ARRAY: &str = "__rseq_cs_ptr_array";
    /// Pairs of (start_ip, exit_ip), one per declared exit of a section.
    pub const RSEQ_EXIT_POINT_ARRAY: &str = "__rseq_exit_point_array";
    /// Records (descriptor address, NUL-terminated source function path, padding to 8
    /// bytes) that `#[rseq_critical]` emits beside each descriptor.
    pub const RSEQ_CS_FUNCTION: &str = "__rseq_cs_function";
}

impl<'d> Image<'d> {
    /// Parses `data` (the contents of `path`) and applies the relocations the verifier needs.
    pub fn parse(path: &Path, data: &'d [u8]) -> Result<Self, Error> {
        let unsupported = |what: String| Error::Unsupported {
            path: path.to_owned(),
            what,
        };
        let file = ElfFile::parse(path, data)?;
        let arch = file.machine;
        let kind = match file.file_type {
            FileType::Other => {
                return Err(unsupported(format!("the ELF file type {}", file.e_type)))
            }
            kind => kind,
        };

        // Allocated sections at their addresses (a synthetic layout for .o files).
        let mut regions = Vec::new();
        let mut next_addr: u64 = 0;
        for section in file.sections() {
            if !section.is_alloc() {
                continue;
            }
            let name = section
                .name
                .clone()
                .ok_or_else(|| Error::malformed(path, "Invalid ELF section name offset"))?;
            let size = section.sh_size;
            let addr = if kind == FileType::Relocatable {
                let align = section.sh_addralign.max(1);
                let addr = next_addr
                    .checked_next_multiple_of(align)
                    .ok_or_else(|| unsupported("a section layout beyond 2^64".to_string()))?;
                next_addr = addr
                    .checked_add(size)
                    .ok_or_else(|| unsupported("a section layout beyond 2^64".to_string()))?;
                addr
            } else {
                section.sh_addr
            };
            let range = file.section_range(section)?;
            let bytes = data.get(range).unwrap_or_default();
            regions.push(Region {
                name,
                addr,
                size,
                data: Cow::Borrowed(bytes),
                executable: section.is_execinstr(),
                index: section.index,
            });
        }

        let section_base: std::collections::HashMap<usize, u64> =
            regions.iter().map(|r| (r.index, r.addr)).collect();

        // Code symbols, from .symtab or else .dynsym.
        let has_rseq = regions.iter().any(|r| is_rseq_section(&r.name));
        // A file without critical sections needs nothing more: skip its symbol tables.
        let mut symbols = Vec::new();
        if has_rseq {
            symbols = code_symbols(file.all_static_symbols(), kind, &section_base);
            if symbols.is_empty() {
                let dynamic = file.dynamic_symbols().filter(|s| s.index != 0);
                symbols = code_symbols(dynamic, kind, &section_base);
            }
        }
        symbols.sort_by(|a, b| a.addr.cmp(&b.addr).then(b.is_function.cmp(&a.is_function)));

        let mut image = Image {
            arch,
            kind,
            regions,
            symbols,
            unresolved: BTreeMap::new(),
        };
        image.regions.sort_by_key(|r| r.addr);

        // Only files with critical-section metadata need their relocations applied.
        if has_rseq {
            match kind {
                FileType::Relocatable => reloc::apply_object_relocations(&mut image, &file)?,
                FileType::SharedObject | FileType::Executable | FileType::Other => {
                    reloc::apply_dynamic_relocations(&mut image, &file)
                }
            }
        }
        Ok(image)
    }

    /// Whether any of the `__rseq_*` metadata sections is present.
    pub fn has_rseq_sections(&self) -> bool {
        self.regions.iter().any(|r| is_rseq_section(&r.name))
    }

    /// The sections called `name` (a `.o` file may hold several with one name).
    pub fn regions_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Region<'d>> + 'a {
        self.regions.iter().filter(move |r| r.name == name)
    }

    /// The allocated section holding `addr`, preferring one with contents.
    pub fn region_of(&self, addr: u64) -> Option<&Region<'d>> {
        // Regions are sorted by address; empty and overlapping (TLS) sections are rare, so
        // look at the few candidates that start at or before `addr`.
        let upper = self.regions.partition_point(|r| r.addr <= addr);
        self.regions[..upper]
            .iter()
            .rev()
            .take(16)
            .find(|r| r.contains(addr) && !r.data.is_empty())
    }

    /// `len` bytes at `addr`, when they all lie in one section with contents.
    pub fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let region = self.region_of(addr)?;
        let start = usize::try_from(addr - region.addr).ok()?;
        let end = start.checked_add(len)?;
        region.data.get(start..end)
    }

    /// The little-endian 64-bit word at `addr`.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        let b = self.bytes(addr, 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// The little-endian 32-bit word at `addr`.
    pub fn read_u32(&self, addr: u64) -> Option<u32> {
        let b = self.bytes(addr, 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// The code symbol that contains `addr` (or the nearest one before it), with the offset
    /// of `addr` from its start.
    pub fn symbolize(&self, addr: u64) -> Option<(&Symbol, u64)> {
        let upper = self.symbols.partition_point(|s| s.addr <= addr);
        let candidates = &self.symbols[..upper];
        // Prefer a function whose extent covers the address.
        let covering = candidates
            .iter()
            .rev()
            .take(64)
            .find(|s| s.is_function && s.size > 0 && addr < s.addr.saturating_add(s.size));
        let sym = match covering {
            Some(s) => s,
            None => {
                let last = candidates.last()?;
                // The nearest symbol must be in the same section to be meaningful.
                let same_region = self.region_of(last.addr).map(|r| r.index)
                    == self.region_of(addr).map(|r| r.index);
                if !same_region {
                    return None;
                }
                candidates
                    .iter()
                    .rev()
                    .take_while(|s| s.addr == last.addr)
                    .last()?
            }
        };
        Some((sym, addr - sym.addr))
    }

    /// `name+0xoff` (or `name`) for `addr`, when a symbol names it.
    pub fn describe(&self, addr: u64) -> Option<String> {
        let (sym, off) = self.symbolize(addr)?;
        let name = crate::verify::demangle(&sym.name);
        Some(if off == 0 {
            name
        } else {
            format!("{name}+{off:#x}")
        })
    }

    /// Mutable contents of the section holding `addr` and the offset of `addr` in it.
    pub(crate) fn patch_site(&mut self, index: usize, offset: u64) -> Option<&mut [u8]> {
        let region = self.regions.iter_mut().find(|r| r.index == index)?;
        let start = usize::try_from(offset).ok()?;
        region.data.to_mut().get_mut(start..)
    }

    /// Address of the section with index `index`, when it is allocated.
    pub(crate) fn section_addr(&self, index: usize) -> Option<u64> {
        self.regions
            .iter()
            .find(|r| r.index == index)
            .map(|r| r.addr)
    }

    /// Resolves the symbol a relocation of a `.o` file names (`r_sym`, 0 for none) to an
    /// address, or the name of the undefined symbol it refers to.
    pub(crate) fn resolve_target(
        &self,
        file: &ElfFile<&'d [u8]>,
        r_sym: u32,
    ) -> Result<u64, String> {
        if r_sym == 0 {
            return Ok(0);
        }
        let sym = file
            .static_symbol(r_sym)
            .ok_or_else(|| format!("symbol #{r_sym}"))?;
        let name = std::str::from_utf8(sym.name).unwrap_or("?").to_string();
        if sym.is_undefined() {
            return Err(name);
        }
        match sym.section_index() {
            Some(section) => match self.section_addr(section) {
                Some(base) => Ok(base.wrapping_add(sym.value)),
                None => Err(name),
            },
            None if sym.is_definition() => Ok(sym.value),
            None => Err(name),
        }
    }
}

/// Whether `name` is one of the critical-section metadata sections.
pub fn is_rseq_section(name: &str) -> bool {
    name == names::RSEQ_CS
        || name == names::RSEQ_CS_PTR_ARRAY
        || name == names::RSEQ_EXIT_POINT_ARRAY
        || name == names::RSEQ_CS_FUNCTION
}

/// The defined code symbols of one symbol table, at their (possibly synthetic) addresses.
fn code_symbols<'a>(
    syms: impl Iterator<Item = ElfSymbol<'a>>,
    kind: FileType,
    section_base: &std::collections::HashMap<usize, u64>,
) -> Vec<Symbol> {
    let mut out = Vec::new();
    for sym in syms {
        let sym_kind = sym.kind();
        if !matches!(sym_kind, SymbolKind::Func | SymbolKind::Ifunc) || sym.is_undefined() {
            continue;
        }
        let Some(index) = sym.section_index() else {
            continue;
        };
        let Some(&base) = section_base.get(&index) else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(sym.name) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let addr = if kind == FileType::Relocatable {
            base.saturating_add(sym.value)
        } else {
            sym.value
        };
        out.push(Symbol {
            name: name.to_string(),
            addr,
            size: sym.size,
            is_function: sym_kind == SymbolKind::Func,
        });
    }
    out
}
