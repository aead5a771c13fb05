//! Symbol lookup as glibc 2.36 `elf/dl-lookup.c` does it: `check_match` (symbol type, value,
//! version rules), `do_lookup_x` (first match in scope order; weak, `STB_GNU_UNIQUE`,
//! `LD_DYNAMIC_WEAK`; copy relocations skip the executable) and `_dl_lookup_symbol_x`
//! (protected visibility keeps the referencing module's own definition).

use std::collections::HashMap;

use crate::elf::consts as elf;

use super::{ModuleId, Process};
use crate::elf::hash::HashedName;
use crate::elf::{Symbol, VersionEntry, Visibility};

/// `ELF_RTYPE_CLASS_PLT`: PLT-like relocations (and TLS relocations on x86_64/aarch64).
pub const CLASS_PLT: u32 = 1;
/// `ELF_RTYPE_CLASS_COPY`: copy relocations.
pub const CLASS_COPY: u32 = 2;

/// `elf_machine_type_class` for the relocation type `r_type` of `machine`.
pub fn type_class(machine: crate::elf::Machine, r_type: u32) -> u32 {
    use crate::elf::Machine;
    match machine {
        Machine::X86_64 => match r_type {
            elf::R_X86_64_JUMP_SLOT
            | elf::R_X86_64_DTPMOD64
            | elf::R_X86_64_DTPOFF64
            | elf::R_X86_64_TPOFF64
            | elf::R_X86_64_TLSDESC => CLASS_PLT,
            elf::R_X86_64_COPY => CLASS_COPY,
            _ => 0,
        },
        Machine::Aarch64 => match r_type {
            elf::R_AARCH64_JUMP_SLOT
            | elf::R_AARCH64_TLS_DTPMOD
            | elf::R_AARCH64_TLS_DTPREL
            | elf::R_AARCH64_TLS_TPREL
            | elf::R_AARCH64_TLSDESC => CLASS_PLT,
            elf::R_AARCH64_COPY => CLASS_COPY,
            _ => 0,
        },
    }
}

/// `DL_LOOKUP_RETURN_NEWEST`: unversioned lookups take the newest default version (dlsym).
pub const RETURN_NEWEST: u32 = 1;

/// A found definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The defining module.
    pub module: ModuleId,
    /// Index of the definition in the module's `.dynsym`.
    pub sym: u32,
}

/// A lookup request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The symbol name.
    pub name: &'a [u8],
    /// The referencing module (`undef_map`).
    pub from: ModuleId,
    /// The referencing symbol entry, if any (`*ref`), for the protected-visibility rule.
    pub reference: Option<Symbol<'a>>,
    /// The required version (`NULL` when the reference is unversioned).
    pub version: Option<&'a VersionEntry>,
    /// The relocation type class.
    pub type_class: u32,
    /// `DL_LOOKUP_*` flags.
    pub flags: u32,
}

/// State glibc keeps across lookups: the `STB_GNU_UNIQUE` table.
#[derive(Debug, Default)]
pub struct LookupState {
    unique: HashMap<Vec<u8>, Found>,
}

const ALLOWED_STT: u32 = (1 << elf::STT_NOTYPE)
    | (1 << elf::STT_OBJECT)
    | (1 << elf::STT_FUNC)
    | (1 << elf::STT_COMMON)
    | (1 << elf::STT_TLS)
    | (1 << elf::STT_GNU_IFUNC);

enum Check {
    Match,
    NoMatch,
    /// Rejected only because an unversioned reference prefers the base version; counts toward
    /// `num_versions` when not hidden.
    OtherVersion {
        hidden: bool,
    },
}

fn check_match(p: &Process, module: ModuleId, sym: &Symbol<'_>, req: &Request<'_>) -> Check {
    let stt = sym.st_type();
    if (sym.value == 0 && sym.shndx != elf::SHN_ABS && stt != elf::STT_TLS)
        || (req.type_class & CLASS_PLT != 0 && sym.shndx == elf::SHN_UNDEF)
    {
        return Check::NoMatch;
    }
    if (1u32 << stt) & ALLOWED_STT == 0 {
        return Check::NoMatch;
    }
    let file = &p.modules[module].file;
    match req.version {
        Some(version) => {
            if file.has_versym() {
                let raw = sym.versym.unwrap_or(0);
                let (def_hash, def_name) = match file.version(raw & 0x7fff) {
                    Some(v) => (v.hash, v.name.as_str()),
                    None => (0, ""),
                };
                if (def_hash != version.hash || def_name != version.name)
                    && (version.hidden || def_hash != 0 || raw & 0x8000 != 0)
                {
                    return Check::NoMatch;
                }
            }
        }
        None => {
            if file.has_versym() {
                let raw = sym.versym.unwrap_or(0);
                let limit = if req.flags & RETURN_NEWEST != 0 { 2 } else { 3 };
                if raw & 0x7fff >= limit {
                    return Check::OtherVersion {
                        hidden: raw & 0x8000 != 0,
                    };
                }
            }
        }
    }
    Check::Match
}

/// `do_lookup_x` over one scope list. Returns `Some` when the lookup is decided.
fn do_lookup_x(
    p: &Process,
    state: &mut LookupState,
    req: &Request<'_>,
    hashed: &HashedName<'_>,
    list: &[ModuleId],
    weak_result: &mut Option<Found>,
) -> Option<Found> {
    for &id in list {
        let m = &p.modules[id];
        if req.type_class & CLASS_COPY != 0 && m.is_executable() {
            continue;
        }
        let mut num_versions = 0u32;
        let mut versioned: Option<u32> = None;
        let mut found =
            m.file
                .find_dynamic_hashed(hashed, |index, sym| match check_match(p, id, &sym, req) {
                    Check::Match => Some(index),
                    Check::NoMatch => None,
                    Check::OtherVersion { hidden } => {
                        if !hidden {
                            if num_versions == 0 {
                                versioned = Some(index);
                            }
                            num_versions += 1;
                        }
                        None
                    }
                });
        if found.is_none() && num_versions == 1 {
            found = versioned;
        }
        let Some(index) = found else { continue };
        let Some(sym) = m.file.dynamic_symbol(index) else {
            continue;
        };
        let here = Found {
            module: id,
            sym: index,
        };
        match sym.st_bind() {
            elf::STB_WEAK if p.options.dynamic_weak && weak_result.is_none() => {
                *weak_result = Some(here);
            }
            elf::STB_WEAK if p.options.dynamic_weak => {}
            elf::STB_WEAK | elf::STB_GLOBAL => return Some(here),
            elf::STB_GNU_UNIQUE => {
                let entry = state.unique.entry(req.name.to_vec()).or_insert(here);
                return Some(*entry);
            }
            _ => {}
        }
    }
    None
}

/// `_dl_lookup_symbol_x` over `scope`. Returns the definition and whether the protected rule
/// applied (what `LD_DEBUG` calls a "protected symbol").
pub fn lookup(
    p: &Process,
    state: &mut LookupState,
    req: &Request<'_>,
    scope: &[Vec<ModuleId>],
) -> Option<(Found, bool)> {
    let mut weak = None;
    let mut result = None;
    let hashed = HashedName::new(req.name);
    for list in scope {
        if let Some(f) = do_lookup_x(p, state, req, &hashed, list, &mut weak) {
            result = Some(f);
            break;
        }
    }
    let mut result = result.or(weak)?;
    let protected = req
        .reference
        .is_some_and(|r| r.visibility() == Visibility::Protected);
    if protected && result.module != req.from {
        // The referencing module defines the symbol itself with protected visibility: its
        // own definition is used.
        if let Some(r) = req.reference {
            if !r.is_undefined() {
                result = Found {
                    module: req.from,
                    sym: r.index,
                };
            }
        }
    }
    Some((result, protected))
}
