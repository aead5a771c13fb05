//! `resolve`: every definition of one symbol in load order, the one a lookup selects, and
//! the definition each module's code uses (and why), with the rseq findings about them.

use super::definitions::definitions;
use super::rules::{loader_diagnostics, rseq_abi_diagnostics, weak_undefined_tls_diagnostics};
use super::uses::uses_own_object;
use super::{names, RSEQ_ABI};
use crate::elf::SymbolKind;
use crate::loader::bindings::{BindKind, Binding};
use crate::loader::{ModuleId, Process};
use crate::report::{Reference, ResolveReport, Winner};

fn how(p: &Process, b: &Binding) -> &'static str {
    match b.how {
        BindKind::Local => "local",
        BindKind::Protected => "protected",
        BindKind::Loader => "loader",
        BindKind::WeakUndefined => "weak-undefined",
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
        // A module that only defines a non-TLS object, with no code or relocation using
        // it, references nothing.
        let used = d.def.kind == SymbolKind::Tls
            || uses_own_object(&p.modules[d.module].file, d.value, d.def.size);
        if used && !ref_modules.contains(&d.module) {
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
    diagnostics.extend(weak_undefined_tls_diagnostics(p, &bindings));
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
