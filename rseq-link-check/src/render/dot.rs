//! Graphviz DOT: modules as nodes, DT_NEEDED as solid edges, symbol bindings as dashed edges;
//! the winning definition is filled green, losing ones red, private copies orange.

use std::io::{self, Write};

use crate::report::{GraphNode, GraphReport, ResolveReport};

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn node(n: &GraphNode, symbol: &str, w: &mut dyn Write) -> io::Result<()> {
    let (color, label) = match (&n.definition, n.size) {
        (Some(d), Some(size)) => {
            let color = match d.as_str() {
                "winner" => "palegreen",
                "private" => "orange",
                _ => "lightpink",
            };
            (color, format!("{}\n{d}: {symbol} ({size} bytes)", n.module))
        }
        _ => ("white", n.module.clone()),
    };
    writeln!(
        w,
        "  {} [label={}, style=filled, fillcolor={color}];",
        quote(&n.module),
        quote(&label)
    )
}

/// Writes the load graph.
pub fn graph(g: &GraphReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "digraph load {{")?;
    writeln!(w, "  rankdir=LR;")?;
    writeln!(w, "  node [shape=box, fontname=\"monospace\"];")?;
    for n in &g.nodes {
        node(n, &g.symbol, w)?;
    }
    for (a, b) in &g.needed {
        writeln!(w, "  {} -> {};", quote(a), quote(b))?;
    }
    for (a, b) in &g.binds {
        writeln!(
            w,
            "  {} -> {} [style=dashed, color=blue, label={}];",
            quote(a),
            quote(b),
            quote(&g.symbol)
        )?;
    }
    writeln!(w, "}}")
}

/// Writes a resolve report as a graph of references.
pub fn resolve(r: &ResolveReport, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "digraph resolve {{")?;
    writeln!(w, "  node [shape=box, fontname=\"monospace\"];")?;
    for m in &r.load_order {
        writeln!(w, "  {};", quote(m))?;
    }
    for x in &r.references {
        if let Some(to) = &x.binds_to {
            writeln!(
                w,
                "  {} -> {} [label={}];",
                quote(&x.module),
                quote(to),
                quote(&x.how)
            )?;
        }
    }
    writeln!(w, "}}")
}
