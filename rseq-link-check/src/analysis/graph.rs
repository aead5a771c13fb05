//! `graph`: the load graph (DT_NEEDED edges, symbol bindings) with the winning, losing and
//! private definitions of one symbol marked.

use super::resolve::resolve;
use crate::loader::Process;
use crate::report::{GraphNode, GraphReport};

/// The load graph with the winning and losing definitions of `symbol`.
pub fn graph(p: &Process, symbol: &str) -> GraphReport {
    let r = resolve(p, symbol);
    let order = p.load_order();
    let nodes = order
        .iter()
        .map(|&id| {
            let m = &p.modules[id];
            let def = r.definitions.iter().find(|d| d.module == m.name);
            let role = def.map(|d| {
                if !d.exported {
                    "private".to_string()
                } else if r.winner.as_ref().is_some_and(|w| w.module == m.name) {
                    "winner".to_string()
                } else {
                    "loser".to_string()
                }
            });
            GraphNode {
                module: m.name.clone(),
                reason: serde_json::to_value(m.reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                definition: role,
                size: def.map(|d| d.size),
            }
        })
        .collect();
    let mut needed = Vec::new();
    for &id in &order {
        for &d in &p.modules[id].needed {
            needed.push((p.modules[id].name.clone(), p.modules[d].name.clone()));
        }
    }
    let binds = r
        .references
        .iter()
        .filter_map(|x| x.binds_to.clone().map(|t| (x.module.clone(), t)))
        .collect();
    GraphReport {
        program: r.program,
        symbol: r.symbol,
        nodes,
        needed,
        binds,
        diagnostics: r.diagnostics,
    }
}
