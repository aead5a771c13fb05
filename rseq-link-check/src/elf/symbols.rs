//! Symbol tables (`.dynsym`, `.symtab`) as ranges of the mapping, the symbol record, and
//! the typed symbol attributes every report carries: [`SymbolBinding`] (`STB_*`),
//! [`SymbolKind`] (`STT_*`), [`Visibility`] (`STV_*`) and [`SymbolSection`] (`st_shndx`).
//!
//! Each attribute displays as the lower-case name the reports print (`global`, `tls`,
//! `hidden`); the alternate form (`{:#}`) is the upper-case spelling `readelf` prints
//! (`GLOBAL`, `TLS`, `HIDDEN`). The JSON form is the lower-case name.

use std::fmt;

use std::ops::Range;

use object::elf;
use object::read::elf::Sym as _;
use object::Endianness;

use super::Sym;

/// Writes `name`, upper-cased under the alternate flag (`{:#}`).
fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if f.alternate() {
        f.write_str(&name.to_ascii_uppercase())
    } else {
        f.write_str(name)
    }
}

/// Symbol binding (`STB_*`, the high four bits of `st_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolBinding {
    /// `STB_LOCAL`.
    Local,
    /// `STB_GLOBAL`.
    Global,
    /// `STB_WEAK`.
    Weak,
    /// `STB_GNU_UNIQUE`.
    Unique,
    /// Any other (OS- or processor-specific) binding.
    Other(u8),
}

impl SymbolBinding {
    /// The binding of `st_bind`.
    pub fn from_st_bind(st_bind: u8) -> SymbolBinding {
        match st_bind {
            elf::STB_LOCAL => SymbolBinding::Local,
            elf::STB_GLOBAL => SymbolBinding::Global,
            elf::STB_WEAK => SymbolBinding::Weak,
            elf::STB_GNU_UNIQUE => SymbolBinding::Unique,
            other => SymbolBinding::Other(other),
        }
    }

    /// The name reports use (`local`, `global`, `weak`, `unique`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolBinding::Local => "local",
            SymbolBinding::Global => "global",
            SymbolBinding::Weak => "weak",
            SymbolBinding::Unique => "unique",
            SymbolBinding::Other(_) => "other",
        }
    }
}

/// Symbol type (`STT_*`, the low four bits of `st_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    /// `STT_NOTYPE`.
    NoType,
    /// `STT_OBJECT`.
    Object,
    /// `STT_FUNC`.
    Func,
    /// `STT_SECTION`.
    Section,
    /// `STT_FILE`.
    File,
    /// `STT_COMMON`.
    Common,
    /// `STT_TLS`.
    Tls,
    /// `STT_GNU_IFUNC`.
    Ifunc,
    /// Any other type.
    Other(u8),
}

impl SymbolKind {
    /// The type of `st_type`.
    pub fn from_st_type(st_type: u8) -> SymbolKind {
        match st_type {
            elf::STT_NOTYPE => SymbolKind::NoType,
            elf::STT_OBJECT => SymbolKind::Object,
            elf::STT_FUNC => SymbolKind::Func,
            elf::STT_SECTION => SymbolKind::Section,
            elf::STT_FILE => SymbolKind::File,
            elf::STT_COMMON => SymbolKind::Common,
            elf::STT_TLS => SymbolKind::Tls,
            elf::STT_GNU_IFUNC => SymbolKind::Ifunc,
            other => SymbolKind::Other(other),
        }
    }

    /// The name reports use (`notype`, `object`, `func`, `tls`, `ifunc`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::NoType => "notype",
            SymbolKind::Object => "object",
            SymbolKind::Func => "func",
            SymbolKind::Section => "section",
            SymbolKind::File => "file",
            SymbolKind::Common => "common",
            SymbolKind::Tls => "tls",
            SymbolKind::Ifunc => "ifunc",
            SymbolKind::Other(_) => "other",
        }
    }
}

/// Symbol visibility (`STV_*`, the low two bits of `st_other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// `STV_DEFAULT`.
    Default,
    /// `STV_INTERNAL`.
    Internal,
    /// `STV_HIDDEN`.
    Hidden,
    /// `STV_PROTECTED`.
    Protected,
}

impl Visibility {
    /// The visibility of `st_other`.
    pub fn from_st_other(st_other: u8) -> Visibility {
        match st_other & 0x3 {
            elf::STV_DEFAULT => Visibility::Default,
            elf::STV_INTERNAL => Visibility::Internal,
            elf::STV_HIDDEN => Visibility::Hidden,
            _ => Visibility::Protected,
        }
    }

    /// The name reports use (`default`, `protected`, `hidden`, `internal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Default => "default",
            Visibility::Internal => "internal",
            Visibility::Hidden => "hidden",
            Visibility::Protected => "protected",
        }
    }

    /// Hidden or internal: the symbol cannot leave its output file.
    pub fn is_hidden(self) -> bool {
        matches!(self, Visibility::Hidden | Visibility::Internal)
    }
}

/// Where a symbol is defined (`st_shndx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolSection {
    /// `SHN_UNDEF`: a reference, defined elsewhere.
    Undefined,
    /// `SHN_ABS`: an absolute value, in no section.
    Absolute,
    /// `SHN_COMMON`: a common symbol, allocated by the linker.
    Common,
    /// Defined in the section with this index.
    Section(usize),
    /// `SHN_XINDEX` or another reserved index.
    Other(u16),
}

impl SymbolSection {
    /// The place named by `st_shndx`.
    pub fn from_st_shndx(st_shndx: u16) -> SymbolSection {
        match st_shndx {
            elf::SHN_UNDEF => SymbolSection::Undefined,
            elf::SHN_ABS => SymbolSection::Absolute,
            elf::SHN_COMMON => SymbolSection::Common,
            i if i < elf::SHN_LORESERVE => SymbolSection::Section(usize::from(i)),
            other => SymbolSection::Other(other),
        }
    }
}

macro_rules! display_and_serialize {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_name(f, self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}

display_and_serialize!(SymbolBinding, SymbolKind, Visibility);

/// A symbol table located in the mapping: the symbol array and its string table.
#[derive(Debug, Clone)]
pub struct SymbolTable {
    syms: Range<usize>,
    count: usize,
    strs: Range<usize>,
}

/// One symbol, with its name borrowed from the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    /// Index in its table.
    pub index: u32,
    /// The name (without any `@VERSION`).
    pub name: &'a [u8],
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_info`.
    pub info: u8,
    /// `st_other`.
    pub other: u8,
    /// `st_shndx`.
    pub shndx: u16,
    /// The raw `versym` entry, for dynamic symbols of a versioned file.
    pub versym: Option<u16>,
}

impl Symbol<'_> {
    /// The raw `STB_*` value, as glibc compares it.
    pub fn st_bind(&self) -> u8 {
        self.info >> 4
    }
    /// The raw `STT_*` value, as glibc compares it.
    pub fn st_type(&self) -> u8 {
        self.info & 0xf
    }
    /// The binding.
    pub fn binding(&self) -> SymbolBinding {
        SymbolBinding::from_st_bind(self.st_bind())
    }
    /// The type.
    pub fn kind(&self) -> SymbolKind {
        SymbolKind::from_st_type(self.st_type())
    }
    /// The visibility.
    pub fn visibility(&self) -> Visibility {
        Visibility::from_st_other(self.other)
    }
    /// Where the symbol is defined.
    pub fn section(&self) -> SymbolSection {
        SymbolSection::from_st_shndx(self.shndx)
    }
    /// True for `SHN_UNDEF`.
    pub fn is_undefined(&self) -> bool {
        self.section() == SymbolSection::Undefined
    }
    /// True for `SHN_COMMON`: a common symbol, allocated by the linker.
    pub fn is_common(&self) -> bool {
        self.section() == SymbolSection::Common
    }
    /// The index of the section that defines the symbol; `None` for undefined, absolute,
    /// common and other reserved indices (`SHN_XINDEX` included).
    pub fn section_index(&self) -> Option<usize> {
        match self.section() {
            SymbolSection::Section(index) => Some(index),
            _ => None,
        }
    }
    /// True for the definition of a function or data object: defined in a section (or
    /// through `SHN_XINDEX`), of type `STT_FUNC` or `STT_OBJECT`, or `STT_NOTYPE` with a size.
    pub fn is_definition(&self) -> bool {
        if self.shndx == elf::SHN_UNDEF
            || (self.shndx >= elf::SHN_LORESERVE && self.shndx != elf::SHN_XINDEX)
        {
            return false;
        }
        match self.st_type() {
            elf::STT_NOTYPE => self.size != 0,
            elf::STT_FUNC | elf::STT_OBJECT => true,
            _ => false,
        }
    }
    /// The name as text.
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(self.name).into_owned()
    }
}

impl SymbolTable {
    pub(super) fn new(syms: Range<usize>, count: usize, strs: Range<usize>) -> Self {
        SymbolTable { syms, count, strs }
    }

    /// Number of entries, including the null symbol.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn raw<'a>(&self, data: &'a [u8]) -> &'a [Sym] {
        data.get(self.syms.clone())
            .and_then(|b| object::pod::slice_from_all_bytes(b).ok())
            .unwrap_or_default()
    }

    fn make<'a>(&self, data: &'a [u8], endian: Endianness, index: u32, s: &Sym) -> Symbol<'a> {
        let strs = data.get(self.strs.clone()).unwrap_or_default();
        let name = strs
            .get(s.st_name(endian) as usize..)
            .map(|b| b.split(|&c| c == 0).next().unwrap_or_default())
            .unwrap_or_default();
        Symbol {
            index,
            name,
            value: s.st_value(endian),
            size: s.st_size(endian),
            info: s.st_info(),
            other: s.st_other(),
            shndx: s.st_shndx(endian),
            versym: None,
        }
    }

    /// True when the symbol at `index` is named `name` (compared in place, without scanning
    /// the whole name first).
    pub fn name_is(&self, data: &[u8], endian: Endianness, index: u32, name: &[u8]) -> bool {
        let Some(s) = self.raw(data).get(index as usize) else {
            return false;
        };
        let strs = data.get(self.strs.clone()).unwrap_or_default();
        let start = s.st_name(endian) as usize;
        match start.checked_add(name.len()) {
            Some(end) => strs.get(start..end) == Some(name) && strs.get(end) == Some(&0),
            None => false,
        }
    }

    /// Every symbol named `name` or `name@VERSION`, found by comparing names in place (a
    /// linear pass that builds no symbol record for the others).
    pub fn named<'a>(
        &'a self,
        data: &'a [u8],
        endian: Endianness,
        name: &'a [u8],
    ) -> impl Iterator<Item = Symbol<'a>> + 'a {
        let strs = data.get(self.strs.clone()).unwrap_or_default();
        self.raw(data)
            .iter()
            .enumerate()
            .filter(move |(_, s)| {
                let start = s.st_name(endian) as usize;
                let Some(end) = start.checked_add(name.len()) else {
                    return false;
                };
                strs.get(start..end) == Some(name) && matches!(strs.get(end), Some(0 | b'@'))
            })
            .map(move |(i, s)| self.make(data, endian, i as u32, s))
    }

    /// The symbol at `index`.
    pub fn get<'a>(&self, data: &'a [u8], endian: Endianness, index: u32) -> Option<Symbol<'a>> {
        let s = self.raw(data).get(index as usize)?;
        Some(self.make(data, endian, index, s))
    }

    /// All symbols in order.
    pub fn iter<'a>(
        &'a self,
        data: &'a [u8],
        endian: Endianness,
    ) -> impl Iterator<Item = Symbol<'a>> + 'a {
        self.raw(data)
            .iter()
            .enumerate()
            .map(move |(i, s)| self.make(data, endian, i as u32, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_print_the_report_names_and_readelf_upper_case() {
        // st_info = (STB_WEAK << 4) | STT_TLS; st_other = STV_PROTECTED.
        let b = SymbolBinding::from_st_bind(2);
        let k = SymbolKind::from_st_type(6);
        let v = Visibility::from_st_other(3);
        assert_eq!(
            (b, k, v),
            (SymbolBinding::Weak, SymbolKind::Tls, Visibility::Protected)
        );
        assert_eq!(format!("{b} {k} {v}"), "weak tls protected");
        assert_eq!(format!("{b:#} {k:#} {v:#}"), "WEAK TLS PROTECTED");
        let json = serde_json::to_string(&(b, k, v)).unwrap();
        assert_eq!(json, r#"["weak","tls","protected"]"#);
        assert_eq!(SymbolBinding::from_st_bind(13).as_str(), "other");
        assert_eq!(SymbolKind::from_st_type(10).as_str(), "ifunc");
        assert!(Visibility::from_st_other(2).is_hidden());
        assert_eq!(SymbolSection::from_st_shndx(0), SymbolSection::Undefined);
        assert_eq!(
            SymbolSection::from_st_shndx(0xfff1),
            SymbolSection::Absolute
        );
        assert_eq!(SymbolSection::from_st_shndx(0xfff2), SymbolSection::Common);
        assert_eq!(SymbolSection::from_st_shndx(7), SymbolSection::Section(7));
        assert_eq!(
            SymbolSection::from_st_shndx(0xffff),
            SymbolSection::Other(0xffff)
        );
    }
}
