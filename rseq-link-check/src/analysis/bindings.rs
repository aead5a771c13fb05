//! `bindings`: every symbol binding of every loaded module, as `LD_DEBUG=bindings` prints
//! them with immediate binding, and the references nothing defines.

use super::names;
use super::rules::loader_diagnostics;
use crate::loader::Process;
use crate::report::{BindingEntry, BindingsReport, Unresolved};

/// Every binding `LD_DEBUG=bindings` would print with immediate binding.
pub fn bindings(p: &Process) -> BindingsReport {
    let mut all = p.bindings_for(None);
    all.retain(|b| b.how.printed());
    let mut bindings = Vec::with_capacity(all.len());
    let mut unresolved = Vec::new();
    for b in all {
        match b.to {
            Some(to) => bindings.push(BindingEntry {
                from: p.modules[b.from].name.clone(),
                symbol: b.symbol,
                version: b.version,
                to: p.modules[to].name.clone(),
            }),
            None => unresolved.push(Unresolved {
                from: p.modules[b.from].name.clone(),
                symbol: b.symbol,
                version: b.version,
            }),
        }
    }
    BindingsReport {
        program: p.main().name.clone(),
        load_order: names(p, &p.load_order()),
        bindings,
        unresolved,
        diagnostics: loader_diagnostics(p),
    }
}
