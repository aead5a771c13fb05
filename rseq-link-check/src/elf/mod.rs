//! The ELF layer: each file is mapped once (memmap2) and parsed once (the `object` crate)
//! into the module-level facts the loader model needs: class, machine, type, `PT_INTERP`,
//! the dynamic section (SONAME, DT_NEEDED, RPATH/RUNPATH, DF_* / DF_1_* flags), the dynamic
//! symbols with their versions (versym, verdef, verneed), the GNU or SysV hash table, the
//! dynamic relocations, TLS and the static `.symtab`; and for the verifier and the link
//! prediction, the section headers ([`section`]), the relocations of each section
//! ([`relocation`]) and archives with their symbol index ([`archive`]).
//!
//! Everything else in the crate reads ELF through this module; `object` is the parser
//! underneath, and nothing outside this module calls it.
//!
//! Parsing stores byte ranges into the mapping; later accesses re-view those ranges as
//! `object`'s plain-old-data types, which is free and cannot fail differently the second time.
//!
//! This module uses `unsafe` in one place ([`map`]) to map the file.

pub mod archive;
mod dynamic;
pub mod hash;
pub mod map;
pub mod relocation;
pub mod section;
mod symbols;
mod versions;

use std::ops::Range;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _, SectionHeader as _};
use object::Endianness;

use crate::error::{Error, Result};
pub use archive::Archive;
pub use dynamic::{DynamicInfo, Filtee};
pub use hash::SymbolHash;
pub use map::{Mapping, SharedBytes};
/// The ELF constants (`STT_*`, `SHT_*`, `R_*`, ...), under the names the specification
/// gives them.
pub use object::elf as consts;
pub use relocation::Relocation;
pub use section::SectionHeader;
pub use symbols::{Symbol, SymbolBinding, SymbolKind, SymbolSection, SymbolTable, Visibility};
pub use versions::{VersionDef, VersionEntry, VersionNeed, VersionNeeded};

type Header = elf::FileHeader64<Endianness>;
/// A raw 64-bit ELF symbol.
pub type Sym = elf::Sym64<Endianness>;
/// A raw 64-bit ELF relocation with addend.
pub type Rela = elf::Rela64<Endianness>;
/// A raw 64-bit ELF relocation without addend.
pub type Rel = elf::Rel64<Endianness>;

/// The machines the loader model understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Machine {
    /// `EM_X86_64`.
    X86_64,
    /// `EM_AARCH64`.
    Aarch64,
}

impl Machine {
    /// The `e_machine` value.
    pub fn e_machine(self) -> u16 {
        match self {
            Machine::X86_64 => elf::EM_X86_64,
            Machine::Aarch64 => elf::EM_AARCH64,
        }
    }
}

/// The ELF file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    /// `ET_EXEC`: a position-dependent executable.
    Executable,
    /// `ET_DYN`: a shared object or a position-independent executable.
    SharedObject,
    /// `ET_REL`: a relocatable object.
    Relocatable,
    /// Anything else (`ET_CORE`, ...).
    Other,
}

/// The `PT_TLS` segment of a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TlsInfo {
    /// `p_align` of the TLS segment.
    pub align: u64,
    /// `p_memsz` of the TLS segment.
    pub memsz: u64,
    /// `p_filesz` of the TLS segment (the initialised part).
    pub filesz: u64,
}

/// A dynamic relocation that names a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolReloc {
    /// Index of the symbol in `.dynsym`.
    pub sym: u32,
    /// The machine relocation type (`R_X86_64_*`, `R_AARCH64_*`).
    pub r_type: u32,
}

/// One parsed ELF file over its bytes: by default a file mapping of its own, or a part of
/// a shared mapping ([`SharedBytes`], an archive member) or borrowed bytes (`&[u8]`).
#[derive(Debug)]
pub struct ElfFile<D = Mapping> {
    path: PathBuf,
    map: D,
    /// The raw `e_type`.
    pub e_type: u16,
    endian: Endianness,
    /// The machine.
    pub machine: Machine,
    /// The file type.
    pub file_type: FileType,
    /// `PT_INTERP`, the program interpreter named by an executable.
    pub interp: Option<String>,
    /// Facts from the dynamic section; `None` for a statically linked file.
    pub dynamic: Option<DynamicInfo>,
    /// The `PT_TLS` segment.
    pub tls: Option<TlsInfo>,
    /// `p_vaddr` of the first `PT_LOAD` segment (the load bias is relative to its page).
    pub first_load_vaddr: Option<u64>,
    dynsym: Option<SymbolTable>,
    symtab: Option<SymbolTable>,
    versym: Option<Range<usize>>,
    versions: Vec<VersionEntry>,
    /// `SHT_GNU_verdef` entries, including the base entry.
    pub verdefs: Vec<VersionDef>,
    /// `SHT_GNU_verneed` entries.
    pub verneeds: Vec<VersionNeed>,
    hash: Option<SymbolHash>,
    relocs: Vec<Range<usize>>,
    sections: Vec<SectionHeader>,
    /// Index of the `SHT_DYNSYM` section (0 without one).
    dynsym_index: usize,
    /// Per section, the `SHT_REL`/`SHT_RELA` sections linked to `.symtab` that apply to it,
    /// or why the table is inconsistent.
    reloc_sections: std::result::Result<Vec<Vec<usize>>, &'static str>,
}

/// For each section, the relocation sections linked to the symbol table `symtab_index` that
/// apply to it (their `sh_info`), in table order.
fn relocation_sections(
    sections: &[SectionHeader],
    symtab_index: usize,
) -> std::result::Result<Vec<Vec<usize>>, &'static str> {
    let mut out = vec![Vec::new(); sections.len()];
    for rs in sections {
        if !rs.is_relocation() || rs.sh_link as usize != symtab_index {
            continue;
        }
        let target = rs.sh_info as usize;
        if target == 0 {
            continue;
        }
        match sections.get(target) {
            None => return Err("Invalid ELF sh_info for relocation section"),
            Some(t) if t.is_relocation() => {
                return Err("Unsupported ELF sh_info for relocation section")
            }
            Some(_) => out[target].push(rs.index),
        }
    }
    Ok(out)
}

/// Byte range of `sub` inside `base`, which must contain it.
fn range_in(base: &[u8], sub: &[u8]) -> Range<usize> {
    let start = (sub.as_ptr() as usize).saturating_sub(base.as_ptr() as usize);
    start..start + sub.len()
}

impl ElfFile {
    /// Maps and parses the file at `path`.
    pub fn open(path: &Path) -> Result<ElfFile> {
        let map = Mapping::open(path)?;
        Self::parse(path, map)
    }

    /// Parses an in-memory image (for example the vDSO) under the name `path`.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<ElfFile> {
        Self::parse(path, Mapping::from_vec(bytes))
    }

    /// Identity of the underlying file (device, inode), as glibc compares it.
    pub fn file_id(&self) -> (u64, u64) {
        self.map.file_id()
    }
}

impl<D: AsRef<[u8]>> ElfFile<D> {
    /// Parses the ELF file held in `map`, named `path` in errors.
    pub fn parse(path: &Path, map: D) -> Result<ElfFile<D>> {
        let data = map.as_ref();
        let bad = |what: &str| Error::malformed(path, what);
        if data.len() < 4 || &data[..4] != b"\x7fELF" {
            return Err(Error::NotElf {
                path: path.to_path_buf(),
            });
        }
        if data.len() < 5 || data[4] != elf::ELFCLASS64 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: "32-bit ELF class".into(),
            });
        }
        let header = Header::parse(data).map_err(|e| bad(&e.to_string()))?;
        let endian = header.endian().map_err(|e| bad(&e.to_string()))?;
        if endian != Endianness::Little {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: "big-endian byte order".into(),
            });
        }
        let machine = match header.e_machine(endian) {
            elf::EM_X86_64 => Machine::X86_64,
            elf::EM_AARCH64 => Machine::Aarch64,
            other => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("machine {other}"),
                })
            }
        };
        let e_type = header.e_type(endian);
        let file_type = match e_type {
            elf::ET_EXEC => FileType::Executable,
            elf::ET_DYN => FileType::SharedObject,
            elf::ET_REL => FileType::Relocatable,
            _ => FileType::Other,
        };

        let phdrs = header
            .program_headers(endian, data)
            .map_err(|e| bad(&e.to_string()))?;
        let mut interp = None;
        let mut tls = None;
        let mut dynamic = None;
        let mut first_load_vaddr: Option<u64> = None;
        for ph in phdrs {
            match ph.p_type(endian) {
                elf::PT_LOAD => {
                    let vaddr = ph.p_vaddr(endian);
                    first_load_vaddr = Some(first_load_vaddr.map_or(vaddr, |v| v.min(vaddr)));
                }
                elf::PT_INTERP => {
                    let bytes = ph
                        .data(endian, data)
                        .map_err(|_| bad("PT_INTERP outside the file"))?;
                    let bytes = bytes.split(|&b| b == 0).next().unwrap_or_default();
                    interp = Some(String::from_utf8_lossy(bytes).into_owned());
                }
                elf::PT_TLS => {
                    tls = Some(TlsInfo {
                        align: ph.p_align(endian),
                        memsz: ph.p_memsz(endian),
                        filesz: ph.p_filesz(endian),
                    })
                }
                elf::PT_DYNAMIC => {
                    dynamic = ph.dynamic(endian, data).map_err(|e| bad(&e.to_string()))?;
                }
                _ => {}
            }
        }

        let sections = header
            .sections(endian, data)
            .map_err(|e| bad(&e.to_string()))?;
        let dynsym_table = sections
            .symbols(endian, data, elf::SHT_DYNSYM)
            .map_err(|e| bad(&e.to_string()))?;
        let symtab_table = sections
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(|e| bad(&e.to_string()))?;
        let view = |t: &object::read::elf::SymbolTable<'_, Header>| -> Option<SymbolTable> {
            if t.is_empty() {
                return None;
            }
            let syms = object::pod::bytes_of_slice(t.symbols());
            Some(SymbolTable::new(
                range_in(data, syms),
                t.len(),
                strs_range(data, t, &sections, endian),
            ))
        };
        let dynsym = view(&dynsym_table);
        let symtab = view(&symtab_table);
        let dynsym_index = dynsym_table.section().0;
        let symtab_index = symtab_table.section().0;
        let section_headers = sections
            .iter()
            .enumerate()
            .map(|(index, sh)| SectionHeader {
                index,
                name: sections
                    .section_name(endian, sh)
                    .ok()
                    .and_then(|n| std::str::from_utf8(n).ok())
                    .map(str::to_owned),
                sh_type: sh.sh_type(endian),
                sh_flags: sh.sh_flags(endian),
                sh_addr: sh.sh_addr(endian),
                sh_size: sh.sh_size(endian),
                sh_addralign: sh.sh_addralign(endian),
                sh_link: sh.sh_link(endian),
                sh_info: sh.sh_info(endian),
                contents: sh.data(endian, data).ok().map(|b| range_in(data, b)),
            })
            .collect::<Vec<_>>();
        let reloc_sections = relocation_sections(&section_headers, symtab_index);

        let dynamic = match dynamic {
            Some(entries) => {
                let strtab = match (
                    sections
                        .dynamic(endian, data)
                        .map_err(|e| bad(&e.to_string()))?,
                    dynsym.as_ref(),
                ) {
                    (Some((_, link)), _) => sections
                        .strings(endian, data, link)
                        .map_err(|e| bad(&e.to_string()))?,
                    _ => object::read::StringTable::default(),
                };
                Some(
                    DynamicInfo::parse(
                        endian,
                        entries,
                        strtab,
                        |e: &elf::Dyn64<Endianness>| e.d_tag(endian) as i64,
                        |e| e.d_val(endian),
                    )
                    .map_err(|w| bad(&w))?,
                )
            }
            None => None,
        };

        // Versions: the table glibc calls `l_versions`, plus the raw verdef/verneed lists.
        let mut versym = None;
        let mut verdefs = Vec::new();
        let mut verneeds = Vec::new();
        if let Some((syms, link)) = sections
            .gnu_versym(endian, data)
            .map_err(|e| bad(&e.to_string()))?
        {
            versym = Some(range_in(data, object::pod::bytes_of_slice(syms)));
            let _ = link;
        }
        if let Some((iter, link)) = sections
            .gnu_verdef(endian, data)
            .map_err(|e| bad(&e.to_string()))?
        {
            let strings = sections
                .strings(endian, data, link)
                .map_err(|e| bad(&e.to_string()))?;
            verdefs =
                versions::parse_verdefs(endian, iter, strings).map_err(|e| bad(&e.to_string()))?;
        }
        if let Some((iter, link)) = sections
            .gnu_verneed(endian, data)
            .map_err(|e| bad(&e.to_string()))?
        {
            let strings = sections
                .strings(endian, data, link)
                .map_err(|e| bad(&e.to_string()))?;
            verneeds =
                versions::parse_verneeds(endian, iter, strings).map_err(|e| bad(&e.to_string()))?;
        }
        let versions = versions::build_table(&verdefs, &verneeds);

        // Hash table: GNU preferred, as glibc does.
        let mut hash = None;
        for section in sections.iter() {
            match section.sh_type(endian) {
                elf::SHT_GNU_HASH => {
                    let bytes = section
                        .data(endian, data)
                        .map_err(|e| bad(&e.to_string()))?;
                    hash = Some(SymbolHash::parse_gnu(data, bytes).map_err(&bad)?);
                    break;
                }
                elf::SHT_HASH if hash.is_none() => {
                    let bytes = section
                        .data(endian, data)
                        .map_err(|e| bad(&e.to_string()))?;
                    hash = Some(SymbolHash::parse_sysv(data, bytes).map_err(&bad)?);
                }
                _ => {}
            }
        }

        // Dynamic relocations: RELA sections linked to .dynsym.
        let mut relocs = Vec::new();
        if !dynsym_table.is_empty() {
            let dynsym_index = dynsym_table.section();
            for section in sections.iter() {
                if section.sh_type(endian) == elf::SHT_RELA
                    && section.sh_link(endian) as usize == dynsym_index.0
                {
                    if let Some((relas, _)) = section
                        .rela(endian, data)
                        .map_err(|e| bad(&e.to_string()))?
                    {
                        relocs.push(range_in(data, object::pod::bytes_of_slice(relas)));
                    }
                }
            }
        }

        Ok(ElfFile {
            path: path.to_path_buf(),
            e_type,
            endian,
            machine,
            file_type,
            interp,
            first_load_vaddr,
            dynamic,
            tls,
            dynsym,
            symtab,
            versym,
            versions,
            verdefs,
            verneeds,
            hash,
            relocs,
            sections: section_headers,
            dynsym_index,
            reloc_sections,
            map,
        })
    }

    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mapped bytes.
    pub fn data(&self) -> &[u8] {
        self.map.as_ref()
    }

    /// The bytes the file was parsed from.
    pub fn storage(&self) -> &D {
        &self.map
    }

    /// Every section header, in table order (index 0 is the null section).
    pub fn sections(&self) -> &[SectionHeader] {
        &self.sections
    }

    /// The section header at `index`.
    pub fn section(&self, index: usize) -> Option<&SectionHeader> {
        self.sections.get(index)
    }

    /// The byte range of a section's contents in the file (empty for `SHT_NOBITS`).
    pub fn section_range(&self, section: &SectionHeader) -> Result<Range<usize>> {
        section
            .contents
            .clone()
            .ok_or_else(|| Error::malformed(&self.path, "Invalid ELF section size or offset"))
    }

    /// A section's contents (empty for `SHT_NOBITS`).
    pub fn section_data(&self, section: &SectionHeader) -> Result<&[u8]> {
        let range = self.section_range(section)?;
        Ok(self.data().get(range).unwrap_or_default())
    }

    /// The relocations that apply to section `index` of a relocatable object: the entries
    /// of every `SHT_REL`/`SHT_RELA` section linked to `.symtab` whose `sh_info` names it,
    /// in table order.
    pub fn section_relocations(&self, index: usize) -> Result<Vec<Relocation>> {
        let table = self
            .reloc_sections
            .as_ref()
            .map_err(|what| Error::malformed(&self.path, *what))?;
        let mut out = Vec::new();
        for &rs in table.get(index).into_iter().flatten() {
            let Some(rs) = self.sections.get(rs) else {
                continue;
            };
            if let Ok(bytes) = self.section_data(rs) {
                out.extend(relocation::decode(
                    bytes,
                    self.endian,
                    rs.sh_type == elf::SHT_REL,
                ));
            }
        }
        Ok(out)
    }

    /// The dynamic relocations of a linked file: the entries of every `SHT_REL`/`SHT_RELA`
    /// section linked to `.dynsym` (or, in a file without `.dynsym` such as a static PIE,
    /// linked to no table), in table order.
    pub fn dynamic_relocations(&self) -> Vec<Relocation> {
        let mut out = Vec::new();
        for rs in &self.sections {
            if !rs.is_relocation() || rs.sh_link as usize != self.dynsym_index {
                continue;
            }
            if let Ok(bytes) = self.section_data(rs) {
                out.extend(relocation::decode(
                    bytes,
                    self.endian,
                    rs.sh_type == elf::SHT_REL,
                ));
            }
        }
        out
    }

    /// The `.symtab` symbol at `index`.
    pub fn static_symbol(&self, index: u32) -> Option<Symbol<'_>> {
        self.symtab.as_ref()?.get(self.data(), self.endian, index)
    }

    /// Every `.symtab` symbol except the null one, in table order.
    pub fn all_static_symbols(&self) -> impl Iterator<Item = Symbol<'_>> + '_ {
        let data = self.data();
        let endian = self.endian;
        self.symtab
            .iter()
            .flat_map(move |t| t.iter(data, endian))
            .filter(|s| s.index != 0)
    }

    /// The name of the version of dynamic symbol `index` as a static linker sees it:
    /// `None` for an unversioned file or a local/global index, the version's name otherwise.
    pub fn symbol_version_name(&self, index: u32) -> Option<&str> {
        let ndx = self.versym_of(index)? & 0x7fff;
        if ndx <= 1 {
            return None;
        }
        self.versions
            .get(usize::from(ndx))
            .filter(|v| v.hash != 0 || !v.name.is_empty())
            .map(|v| v.name.as_str())
    }

    /// The byte order (always little-endian for supported files).
    pub fn endian(&self) -> Endianness {
        self.endian
    }

    /// The SONAME, if any.
    pub fn soname(&self) -> Option<&str> {
        self.dynamic.as_ref().and_then(|d| d.soname.as_deref())
    }

    /// True for an object with a dynamic section.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic.is_some()
    }

    /// The dynamic symbol table.
    pub fn dynsym(&self) -> Option<&SymbolTable> {
        self.dynsym.as_ref()
    }

    /// The static symbol table (`.symtab`), absent in stripped files.
    pub fn symtab(&self) -> Option<&SymbolTable> {
        self.symtab.as_ref()
    }

    /// The dynamic symbol at `index`.
    pub fn dynamic_symbol(&self, index: u32) -> Option<Symbol<'_>> {
        let table = self.dynsym.as_ref()?;
        let mut sym = table.get(self.data(), self.endian, index)?;
        sym.versym = self.versym_of(index);
        Some(sym)
    }

    /// The raw `versym` entry of dynamic symbol `index` (`None` without a version table).
    pub fn versym_of(&self, index: u32) -> Option<u16> {
        let range = self.versym.as_ref()?;
        let bytes = self.data().get(range.clone())?;
        let off = (index as usize).checked_mul(2)?;
        let b = bytes.get(off..off.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    /// True when the file has a version table (glibc's `l_versyms != NULL`).
    pub fn has_versym(&self) -> bool {
        self.versym.is_some()
    }

    /// The version at index `ndx` of glibc's `l_versions` table, if that index is defined.
    pub fn version(&self, ndx: u16) -> Option<&VersionEntry> {
        self.versions
            .get(usize::from(ndx & 0x7fff))
            .filter(|v| v.hash != 0 || !v.name.is_empty())
    }

    /// Walks the hash chain for `name` and calls `f` with each dynamic symbol of that name,
    /// in chain order, until `f` returns `Some`.
    pub fn find_dynamic<T>(
        &self,
        name: &[u8],
        f: impl FnMut(u32, Symbol<'_>) -> Option<T>,
    ) -> Option<T> {
        self.find_dynamic_hashed(&hash::HashedName::new(name), f)
    }

    /// [`ElfFile::find_dynamic`] with the name's hashes computed by the caller.
    pub fn find_dynamic_hashed<T>(
        &self,
        hashed: &hash::HashedName<'_>,
        mut f: impl FnMut(u32, Symbol<'_>) -> Option<T>,
    ) -> Option<T> {
        let name = hashed.name;
        let table = self.dynsym.as_ref()?;
        let data = self.data();
        match &self.hash {
            Some(hash) => hash.walk(data, hashed, |index| {
                if !table.name_is(data, self.endian, index, name) {
                    return None;
                }
                let mut sym = table.get(data, self.endian, index)?;
                sym.versym = self.versym_of(index);
                f(index, sym)
            }),
            None => {
                // No hash table: glibc would find nothing (`l_nbuckets == 0`).
                None
            }
        }
    }

    /// Every dynamic relocation that names a symbol.
    pub fn symbol_relocs(&self) -> impl Iterator<Item = SymbolReloc> + '_ {
        let data = self.data();
        let endian = self.endian;
        self.relocs.iter().flat_map(move |range| {
            let bytes = data.get(range.clone()).unwrap_or_default();
            let relas: &[Rela] = object::pod::slice_from_all_bytes(bytes).unwrap_or_default();
            relas.iter().filter_map(move |r| {
                let sym = r.r_sym(endian, false);
                (sym != 0).then(|| SymbolReloc {
                    sym,
                    r_type: r.r_type(endian, false),
                })
            })
        })
    }

    /// Every symbol of `.symtab` named `name`.
    pub fn static_symbols<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = Symbol<'a>> + 'a {
        let data = self.data();
        let endian = self.endian;
        self.symtab
            .iter()
            .flat_map(move |t| t.iter(data, endian))
            .filter(move |s| s.name == name)
    }

    /// Every dynamic symbol, in table order.
    pub fn dynamic_symbols(&self) -> impl Iterator<Item = Symbol<'_>> + '_ {
        let data = self.data();
        let endian = self.endian;
        self.dynsym
            .iter()
            .flat_map(move |t| t.iter(data, endian))
            .map(move |mut s| {
                s.versym = self.versym_of(s.index);
                s
            })
    }
}

fn strs_range(
    data: &[u8],
    table: &object::read::elf::SymbolTable<'_, Header>,
    sections: &object::read::elf::SectionTable<'_, Header>,
    endian: Endianness,
) -> Range<usize> {
    sections
        .section(table.string_section())
        .ok()
        .and_then(|s| s.data(endian, data).ok())
        .map(|b| range_in(data, b))
        .unwrap_or(0..0)
}
