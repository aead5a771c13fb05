//! `resolve`: every definition of one symbol in load order, the one a lookup selects, and
//! the definition each module's code uses (and why), with the rseq findings about them.

use super::check::{loader_diagnostics, rseq_abi_diagnostics};
use super::{names, RSEQ_ABI};
use crate::elf::{ElfFile, Symbol, SymbolBinding, SymbolKind};
use crate::loader::bindings::{BindKind, Binding};
use crate::loader::{ModuleId, Process};
use crate::report::{Definition, Reference, ResolveReport, Winner};

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

pub(super) struct Def {
    pub(super) module: ModuleId,
    pub(super) def: Definition,
}

fn definitions(p: &Process, order: &[ModuleId], name: &str) -> Vec<Def> {
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

fn how(p: &Process, b: &Binding) -> &'static str {
    match b.how {
        BindKind::Local => "local",
        BindKind::Protected => "protected",
        BindKind::Loader => "loader",
        BindKind::Lookup => {
            let m = &p.modules[b.from];
            if b.to == Some(b.from)
                && m.scope
                    .first()
                    .is_some_and(|l| l.len() == 1 && l[0] == b.from)
                && m.scope.len() > 1
            {
                if p.dlopened.iter().any(|(_, mode, local)| {
                    *mode == crate::loader::DlopenMode::Deepbind && local.first() == Some(&b.from)
                }) {
                    "deepbind"
                } else {
                    "symbolic"
                }
            } else if p.dlopened.iter().any(|(_, mode, local)| {
                *mode == crate::loader::DlopenMode::Deepbind && local.contains(&b.from)
            }) {
                "deepbind"
            } else {
                "lookup"
            }
        }
    }
}

/// Where `symbol` is defined, which definition wins, and which definition each module uses.
pub fn resolve(p: &Process, symbol: &str) -> ResolveReport {
    let order = p.load_order();
    let defs = definitions(p, &order, symbol);
    let bindings = p.bindings_for(Some(symbol.as_bytes()));

    // References: one per module, from its dynamic relocations, else from a copy of its own.
    let mut references: Vec<Reference> = Vec::new();
    let mut ref_modules: Vec<ModuleId> = Vec::new();
    let mut targets: Vec<(ModuleId, Option<ModuleId>, &'static str)> = Vec::new();
    for b in bindings.iter().filter(|b| b.how != BindKind::Loader) {
        if ref_modules.contains(&b.from) {
            continue;
        }
        ref_modules.push(b.from);
        targets.push((b.from, b.to, how(p, b)));
    }
    for d in &defs {
        if !ref_modules.contains(&d.module) {
            ref_modules.push(d.module);
            targets.push((d.module, Some(d.module), "static"));
        }
    }
    for &(from, to, how) in &targets {
        let own = defs.iter().find(|d| d.module == from).map(|d| d.def.size);
        let undef_size = || {
            let f = &p.modules[from].file;
            f.find_dynamic(symbol.as_bytes(), |_, s| {
                (s.is_undefined() && s.size != 0).then_some(s.size)
            })
            .or_else(|| {
                f.dynamic_symbols()
                    .find(|s| s.name == symbol.as_bytes() && s.is_undefined() && s.size != 0)
                    .map(|s| s.size)
            })
        };
        references.push(Reference {
            module: p.modules[from].name.clone(),
            binds_to: to.map(|t| p.modules[t].name.clone()),
            how: how.to_string(),
            size: own.or_else(undef_size),
        });
    }

    // Winner: the executable's own dynamic reference, else dlsym(RTLD_DEFAULT).
    let exe_binding = bindings.iter().find(|b| {
        b.from == 0 && b.how != BindKind::Local && b.how != BindKind::Loader && b.to.is_some()
    });
    let winner_found = match exe_binding {
        Some(b) => b.to.zip(b.to_sym),
        None => p.dlsym_default(symbol).map(|f| (f.module, f.sym)),
    };
    let winner = winner_found.map(|(m, s)| Winner {
        module: p.modules[m].name.clone(),
        size: p.modules[m]
            .file
            .dynamic_symbol(s)
            .map(|s| s.size)
            .unwrap_or(0),
    });

    let mut diagnostics = loader_diagnostics(p);
    if symbol == RSEQ_ABI {
        diagnostics.extend(rseq_abi_diagnostics(p, &defs, &references, winner.as_ref()));
    }
    ResolveReport {
        program: p.main().name.clone(),
        symbol: symbol.to_string(),
        load_order: names(p, &order),
        definitions: defs.into_iter().map(|d| d.def).collect(),
        winner,
        references,
        diagnostics,
    }
}
