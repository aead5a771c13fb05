//! Symbol tables (`.dynsym`, `.symtab`) as ranges of the mapping, and the symbol record.

use std::ops::Range;

use object::elf;
use object::read::elf::Sym as _;
use object::Endianness;

use super::Sym;

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
    /// `STB_*`.
    pub fn bind(&self) -> u8 {
        self.info >> 4
    }
    /// `STT_*`.
    pub fn kind(&self) -> u8 {
        self.info & 0xf
    }
    /// `STV_*`.
    pub fn visibility(&self) -> u8 {
        self.other & 0x3
    }
    /// True for `SHN_UNDEF`.
    pub fn is_undefined(&self) -> bool {
        self.shndx == elf::SHN_UNDEF
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
