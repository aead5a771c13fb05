//! Every definition of one symbol across a modelled process, in load order: the exported
//! ones from `.dynsym` (with their versions) and the copies fixed at static link time that
//! only `.symtab` shows, each with its size, attributes and TLS alignment.

use crate::elf::{ElfFile, Symbol, SymbolBinding, SymbolKind};
use crate::loader::{ModuleId, Process};
use crate::report::Definition;

/// The alignment a TLS definition gets: its TLS segment's alignment, or less when its
/// offset in the segment is less aligned.
fn tls_align(file: &ElfFile, sym: &Symbol<'_>) -> Option<u64> {
    if sym.kind() != SymbolKind::Tls {
        return None;
    }
    let seg = file.tls?.align.max(1);
    let off = if sym.value == 0 {
        seg
    } else {
        1u64 << sym.value.trailing_zeros().min(63)
    };
    Some(seg.min(off))
}

/// One definition and the module that holds it.
pub(super) struct Def {
    pub(super) module: ModuleId,
    pub(super) def: Definition,
    /// The definition's `st_value`.
    pub(super) value: u64,
}

/// The definitions of `name` in the modules of `order`.
pub(super) fn definitions(p: &Process, order: &[ModuleId], name: &str) -> Vec<Def> {
    let mut out = Vec::new();
    for &id in order {
        let m = &p.modules[id];
        let f = &m.file;
        let mut exported_any = false;
        f.find_dynamic(name.as_bytes(), |_, s| {
            if !s.is_undefined() {
                exported_any = true;
                let raw = s.versym.unwrap_or(1);
                let version = f
                    .version(raw & 0x7fff)
                    .filter(|v| v.filename.is_none() && v.hash != 0)
                    .map(|v| v.name.clone());
                out.push(Def {
                    module: id,
                    value: s.value,
                    def: Definition {
                        module: m.name.clone(),
                        size: s.size,
                        binding: s.binding(),
                        kind: s.kind(),
                        visibility: s.visibility(),
                        version,
                        hidden_version: raw & 0x8000 != 0,
                        exported: s.binding() != SymbolBinding::Local
                            && !s.visibility().is_hidden(),
                        align: tls_align(f, &s),
                    },
                });
            }
            None::<()>
        });
        if exported_any {
            continue;
        }
        // A copy fixed at static link time: only in .symtab.
        if let Some(t) = f.symtab() {
            if let Some(s) = t
                .named(f.data(), f.endian(), name.as_bytes())
                .find(|s| !s.is_undefined() && s.kind() != SymbolKind::Section)
            {
                out.push(Def {
                    module: id,
                    value: s.value,
                    def: Definition {
                        module: m.name.clone(),
                        size: s.size,
                        binding: s.binding(),
                        kind: s.kind(),
                        visibility: s.visibility(),
                        version: None,
                        hidden_version: false,
                        exported: false,
                        align: tls_align(f, &s),
                    },
                });
            }
        }
    }
    out
}
